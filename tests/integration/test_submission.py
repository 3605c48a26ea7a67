"""Submission to Encord on the local stack: the real `encord` SDK (through the gateway that
bootstrap builds) against the local Encord stub, state in the Firestore emulator, manifests
in the Storage emulator. Nothing here mocks the SDK.

A batch's way: written -> submitted in the same event (a job in the stub) -> the sweep polls
it to DONE or ERROR -> refused files become rejections. Encord's 429 and 503 never fail an
event and never lose a batch; a death between Encord's acceptance and the job id being
recorded costs one extra job that registers nothing new (the documented window).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from google.api_core.exceptions import ServiceUnavailable

from devstack.stack import Stack
from registration.domain.model import BufferRef, ManifestKey, RejectionReason
from registration.domain.submission import SubmissionState
from registration.presenters import wire
from registration.services import trace as trace_service
from tests.support.clock import FakeClock
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import (
    EncordTarget,
    app_with_encord,
    fill,
    https_url,
    the_batch,
)
from tests.support.faults import FaultPlan, with_faults

BATCH = 3
LEASE_SECONDS = 1


@pytest.fixture
def stub() -> Iterator[EncordStub]:
    with EncordStub(polls_until_done=1) as running:
        yield running


def images(bucket: str, folder: str) -> BufferRef:
    return BufferRef(bucket, folder, ManifestKey.IMAGES)


# -- 1. at write time -----------------------------------------------------------------------


def test_a_full_batch_is_submitted_within_the_event_that_fills_it_and_the_batch_keeps_the_job(
    target: EncordTarget, bucket: str
) -> None:
    app = app_with_encord(target.settings(batch_images=BATCH))
    objects = fill(app, bucket, "cam", BATCH - 1)
    assert target.jobs() == []

    objects += fill(app, bucket, "cam", 1, start=BATCH - 1)  # the threshold event

    jobs = target.jobs()
    assert len(jobs) == 1
    job = jobs[0]
    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.SUBMITTED
    assert batch.submission.job_id == job.id
    assert batch.submission.attempts == 1
    assert job.file_name == batch.manifest_path.rsplit("/", 1)[-1]
    assert job.manifest["skip_duplicate_urls"] is True
    assert sorted(item["objectUrl"] for item in job.manifest["images"]) == sorted(
        https_url(obj) for obj in objects
    )
    assert job.ignore_errors is True
    assert job.integration_id == target.integration


# -- 2. polled to the end -------------------------------------------------------------------


def test_the_sweep_polls_a_job_to_done_and_records_its_status_and_unit_counts(
    target: EncordTarget, bucket: str
) -> None:
    app = app_with_encord(target.settings(batch_images=BATCH))
    fill(app, bucket, "cam", BATCH)
    buffer = images(bucket, "cam")

    first = app.sweep()  # the stub answers PENDING to a job's first poll
    batch = the_batch(app, buffer)
    assert first.jobs_finished == [] and first.errors == []
    assert batch.submission is not None and batch.submission.state is SubmissionState.SUBMITTED
    assert app.status()["totals"]["submissions_by_state"] == {"submitted": 1}

    second = app.sweep()
    assert second.jobs_finished == [batch.manifest_path]
    done = the_batch(app, buffer)
    assert done.submission is not None
    assert done.submission.state is SubmissionState.DONE
    assert (done.submission.units_done, done.submission.units_error) == (BATCH, 0)
    assert done.submission.finished_at is not None
    assert target.jobs()[0].polls == 2
    # A finished job is never polled again.
    assert app.sweep().jobs_finished == []
    assert target.jobs()[0].polls == 2
    status = app.status()
    assert status["totals"]["submissions_by_state"] == {}
    assert not [a for a in status["attention"] if a["kind"].startswith(("job", "submission"))]


def test_without_ignore_errors_a_refused_url_ends_the_job_in_error_and_status_asks_for_a_person(
    target: EncordTarget, bucket: str
) -> None:
    target.stub.fail_urls_matching(r"img0001\.jpg$", "Could not read the object")
    app = app_with_encord(target.settings(batch_images=BATCH, encord_ignore_errors=False))
    fill(app, bucket, "cam", BATCH)
    assert target.jobs()[0].ignore_errors is False

    app.sweep()
    app.sweep()

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.ERROR
    assert (batch.submission.units_done, batch.submission.units_error) == (BATCH - 1, 1)
    status = app.status()
    assert status["totals"]["submissions_by_state"] == {"error": 1}
    errors = [a for a in status["attention"] if a["kind"] == "job_errors"]
    assert len(errors) == 1
    assert batch.submission.job_id in errors[0]["detail"]
    assert errors[0]["manifest"] == f"gs://{bucket}/{batch.manifest_path}"


# -- 3. refused files -----------------------------------------------------------------------


def test_each_file_encord_refuses_becomes_a_rejection_with_encords_error_in_status_and_trace(
    target: EncordTarget, bucket: str
) -> None:
    error = "Failed to read the file: 403 Forbidden"
    target.stub.fail_urls_matching(r"img000[02]\.jpg$", error)
    app = app_with_encord(target.settings(batch_images=BATCH))
    objects = fill(app, bucket, "cam", BATCH)
    app.sweep()
    app.sweep()

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.DONE  # ignore_errors: DONE with errors
    assert batch.submission.units_error == 2
    job_id = batch.submission.job_id
    refused = {objects[0].name, objects[2].name}

    recent = [r for r in app.status()["rejected"] if r["reason"] == "encord_refused"]
    assert sorted(r["name"] for r in recent) == sorted(refused)
    for rejection in recent:
        assert rejection["generation"] == 1
        assert error in rejection["detail"] and str(job_id) in rejection["detail"]

    traced = trace_service.trace(app.ctx, bucket, objects[0].name)
    assert [(r.reason, r.generation) for r in traced.rejections] == [
        (RejectionReason.ENCORD_REFUSED.value, 1)
    ]
    assert error in traced.rejections[0].detail
    assert f"job {job_id}" in traced.fate
    assert wire.trace_json(traced)["records"][0]["encord"]["state"] == "done"
    accepted = trace_service.trace(app.ctx, bucket, objects[1].name)
    assert accepted.rejections == []
    # A third sweep records nothing twice.
    app.sweep()
    assert len([r for r in app.status()["rejected"] if r["reason"] == "encord_refused"]) == 2


# -- 4. rate limits and outages --------------------------------------------------------------


def test_a_429_leaves_the_batch_written_and_due_after_retry_after_and_the_sweep_then_submits_it(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    target.stub.inject_rate_limit(retry_after=120)
    app = app_with_encord(target.settings(batch_images=BATCH), clock)
    objects = fill(app, bucket, "cam", BATCH)  # does not raise

    buffer = images(bucket, "cam")
    batch = the_batch(app, buffer)
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.PENDING
    assert batch.submission.job_id is None and batch.submission.attempts == 1
    assert batch.submission.next_attempt_at is not None and batch.written_at is not None
    assert batch.submission.next_attempt_at - clock() == timedelta(seconds=120)
    assert "rate" in (batch.submission.problem or "").lower() or "429" in (
        batch.submission.problem or ""
    )
    assert target.jobs() == []

    clock.advance(60)  # past the first backoff (30 s), short of Retry-After
    assert app.sweep().submitted == []
    assert target.jobs() == []

    clock.advance(61)
    report = app.sweep()
    assert report.submitted == [batch.manifest_path]
    submitted = the_batch(app, buffer)
    assert submitted.submission is not None
    assert submitted.submission.state is SubmissionState.SUBMITTED
    assert submitted.submission.attempts == 2 and submitted.submission.problem is None
    assert target.stub.registered_urls(target.target) == Counter(https_url(o) for o in objects)


def test_a_503_on_start_is_retried_by_the_sweep_after_its_backoff_and_nothing_is_lost(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    target.stub.inject_unavailable(times=1)
    app = app_with_encord(target.settings(batch_images=BATCH), clock)
    objects = fill(app, bucket, "cam", BATCH)

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.PENDING
    assert batch.submission.next_attempt_at == clock() + timedelta(seconds=30)
    assert target.jobs() == []
    assert app.sweep().submitted == []  # not due yet

    clock.advance(31)
    assert app.sweep().submitted == [batch.manifest_path]
    app.sweep()  # PENDING at the first poll
    app.sweep()  # DONE
    done = the_batch(app, images(bucket, "cam"))
    assert done.submission is not None and done.submission.state is SubmissionState.DONE
    assert len(target.jobs()) == 1
    assert target.stub.registered_urls(target.target) == Counter(https_url(o) for o in objects)


# -- 5. the exactly-once window ------------------------------------------------------------


def test_a_death_between_encords_acceptance_and_the_recorded_job_id_costs_one_job_that_adds_nothing(
    target: EncordTarget, bucket: str
) -> None:
    """Encord accepted the job, then Firestore failed before its id was recorded (the
    instance is as good as dead there): the batch stays SUBMITTING, and once the lease has
    passed by Firestore's clock the sweep submits it again."""
    plan = FaultPlan()
    app = app_with_encord(
        target.settings(batch_images=BATCH, lease_seconds=LEASE_SECONDS),
        wrap=lambda backends: with_faults(backends, plan),
    )
    fill(app, bucket, "cam", BATCH - 1)
    plan.configure("submissions.record_submitted=unavailable")
    with pytest.raises(ServiceUnavailable):  # the event fails, and is delivered again
        fill(app, bucket, "cam", 1, start=BATCH - 1)
    plan.configure("")

    buffer = images(bucket, "cam")
    stranded = the_batch(app, buffer)
    assert stranded.submission is not None
    assert stranded.submission.state is SubmissionState.SUBMITTING
    assert stranded.submission.job_id is None
    assert len(target.jobs()) == 1  # Encord has it

    assert app.sweep().submitted == []  # the lease is still live
    time.sleep(LEASE_SECONDS + 0.5)
    assert app.sweep().submitted == [stranded.manifest_path]

    jobs = target.jobs_of(stranded)
    assert len(jobs) == 2
    assert len(jobs[0].registered) == BATCH
    assert jobs[1].registered == () and len(jobs[1].skipped) == BATCH
    recorded = the_batch(app, buffer)
    assert recorded.submission is not None and recorded.submission.job_id == jobs[1].id
    members = app.store.batches.members(buffer, 1)
    assert target.stub.registered_urls(target.target) == Counter(https_url(o) for o in members)
    assert set(target.stub.registered_urls(target.target).values()) == {1}


def test_a_start_whose_answer_is_lost_is_submitted_again_and_the_second_job_registers_nothing(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    target.stub.inject_accept_then_timeout(mode="drop")
    app = app_with_encord(target.settings(batch_images=BATCH), clock)
    objects = fill(app, bucket, "cam", BATCH)  # does not raise

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.PENDING and batch.submission.job_id is None
    assert [job.answered for job in target.jobs()] == [False]

    clock.advance(31)
    assert app.sweep().submitted == [batch.manifest_path]
    jobs = target.jobs_of(batch)
    assert len(jobs) == 2 and jobs[1].registered == ()
    assert target.stub.registered_urls(target.target) == Counter(https_url(o) for o in objects)


# -- 6. concurrent sweeps ------------------------------------------------------------------


def test_two_sweeps_at_once_never_submit_one_batch_twice(target: EncordTarget, bucket: str) -> None:
    clock = FakeClock()
    folders = [f"site-{i}" for i in range(6)]
    target.stub.inject_unavailable(times=len(folders))
    settings = target.settings(batch_images=BATCH)
    app = app_with_encord(settings, clock)
    for folder in folders:
        fill(app, bucket, folder, BATCH)
    assert target.jobs() == []
    pending = [the_batch(app, images(bucket, folder)) for folder in folders]
    assert all(b.submission and b.submission.state is SubmissionState.PENDING for b in pending)

    clock.advance(31)
    sweepers = [app_with_encord(settings, clock) for _ in range(2)]
    barrier = threading.Barrier(len(sweepers))
    reports = []

    def run(index: int) -> None:
        barrier.wait()
        reports.append(sweepers[index].sweep())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sweepers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(report.errors == [] for report in reports)
    submitted = [path for report in reports for path in report.submitted]
    assert sorted(submitted) == sorted(b.manifest_path for b in pending)
    for batch in pending:
        assert len(target.jobs_of(batch)) == 1, batch.manifest_path
    counts = target.stub.registered_urls(target.target)
    assert len(counts) == BATCH * len(folders) and set(counts.values()) == {1}


# -- 8. a legacy dataset --------------------------------------------------------------------


def test_a_legacy_dataset_target_is_submitted_to_and_polled_to_done_end_to_end(
    stub: EncordStub, monkeypatch: pytest.MonkeyPatch, emulators: Stack, bucket: str
) -> None:
    target = EncordTarget.on(stub, dataset=True)
    monkeypatch.setenv("ENCORD_SSH_KEY", target.private_key)
    stub.fail_urls_matching(r"img0002\.jpg$", "Unsupported file")
    app = app_with_encord(target.settings(batch_images=BATCH))
    objects = fill(app, bucket, "legacy", BATCH)

    jobs = stub.jobs(target.target)
    assert [job.api for job in jobs] == ["dataset"]
    app.sweep()
    app.sweep()
    batch = the_batch(app, images(bucket, "legacy"))
    assert batch.submission is not None
    assert batch.submission.state is SubmissionState.DONE
    assert batch.submission.job_id == jobs[0].id
    assert (batch.submission.units_done, batch.submission.units_error) == (BATCH - 1, 1)
    assert stub.registered_urls(target.target) == Counter(https_url(o) for o in objects[:2])
    refused = [r for r in app.status()["rejected"] if r["reason"] == "encord_refused"]
    assert [r["name"] for r in refused] == [objects[2].name]
