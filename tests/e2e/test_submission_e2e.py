"""Submission to Encord through served functions (functions-framework), the real SDK and the
local Encord stub: what an event answers when Encord is down, an instance killed right after
Encord accepted a job, and settings that must stop the cold start.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import requests

from devstack import cloudevents
from devstack.stack import Stack, StackError, start_function
from registration.clock import utc_now
from registration.domain.model import BufferRef, ManifestKey
from registration.domain.submission import SubmissionState
from registration.manifest.urls import object_url
from tests.e2e.conftest import Serve
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget, app_with_encord, the_batch

BATCH = 3


def events(bucket: str, count: int, folder: str = "cam") -> list[dict[str, object]]:
    return [
        cloudevents.object_data(bucket, f"{folder}/f{i}.jpg", 1, content_type="image/jpeg")
        for i in range(count)
    ]


def urls(bucket: str, count: int, folder: str = "cam") -> Counter[str]:
    return Counter(object_url(bucket, f"{folder}/f{i}.jpg") for i in range(count))


@pytest.mark.parametrize("fault", ["rate_limit", "unavailable"])
def test_encord_refusing_to_start_a_job_never_fails_the_event_and_the_sweep_submits_it_later(
    fault: str, target: EncordTarget, serve: Serve, bucket: str
) -> None:
    if fault == "rate_limit":
        target.stub.inject_rate_limit(retry_after=90)
    else:
        target.stub.inject_unavailable()
    server = serve("on_storage_event", batch_images=BATCH, **target.setting_values())

    codes = [cloudevents.finalize(server.url, data).status_code for data in events(bucket, BATCH)]

    assert codes == [200] * BATCH
    assert target.jobs() == []
    settings = target.settings(batch_images=BATCH)
    app = app_with_encord(settings)
    batch = the_batch(app, BufferRef(bucket, "cam", ManifestKey.IMAGES))
    submission = batch.submission
    assert submission is not None and submission.state is SubmissionState.PENDING
    assert submission.next_attempt_at is not None and batch.written_at is not None
    wait = (submission.next_attempt_at - batch.written_at).total_seconds()
    assert (90 <= wait < 95) if fault == "rate_limit" else (30 <= wait < 35)

    # The sweep, run once that time has come (a clock moved past it), submits it.
    later = app_with_encord(settings, clock=lambda: utc_now() + timedelta(seconds=wait + 5))
    assert later.sweep().submitted == [batch.manifest_path]
    later.sweep()
    done = the_batch(later, batch.buffer)
    assert done.submission is not None and done.submission.state is SubmissionState.DONE
    assert target.stub.registered_urls(target.target) == urls(bucket, BATCH)


def test_an_instance_killed_right_after_encord_accepted_a_job_costs_one_more_job_and_nothing_else(
    target: EncordTarget, serve: Serve, bucket: str
) -> None:
    settings = {"batch_images": BATCH, "lease_seconds": 1, **target.setting_values()}
    killed = serve("on_storage_event", faults="encord.after_start=kill", **settings)
    data = events(bucket, BATCH)
    for item in data[:-1]:
        assert cloudevents.finalize(killed.url, item).status_code == 200
    with pytest.raises(requests.ConnectionError):
        cloudevents.finalize(killed.url, data[-1])  # the worker dies mid-request (os._exit)
    killed.stop()
    [accepted] = target.jobs()

    # The platform delivers the event again to a healthy instance: nothing new to write.
    healthy = serve("on_storage_event", **settings)
    assert cloudevents.finalize(healthy.url, data[-1]).status_code == 200
    app = app_with_encord(target.settings(batch_images=BATCH))
    stranded = the_batch(app, BufferRef(bucket, "cam", ManifestKey.IMAGES))
    assert stranded.submission is not None
    assert stranded.submission.state is SubmissionState.SUBMITTING
    assert stranded.submission.job_id is None

    sweeper = serve("sweep", **settings)
    for _ in range(20):  # the lease (1 s) is judged by Firestore's clock
        summary = requests.post(sweeper.url, timeout=120).json()
        if summary["submitted"]:
            break
    assert summary["submitted"] == [stranded.manifest_path]
    jobs = target.jobs_of(stranded)
    assert [job.id for job in jobs][:1] == [accepted.id] and len(jobs) == 2
    assert len(jobs[0].registered) == BATCH and jobs[1].registered == ()
    assert target.stub.registered_urls(target.target) == urls(bucket, BATCH)
    requests.post(sweeper.url, timeout=120)
    done = the_batch(app, stranded.buffer)
    assert done.submission is not None
    assert done.submission.state is SubmissionState.DONE
    assert done.submission.job_id == jobs[1].id


FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("settings", "with_key", "variable"),
    [
        ({"ENCORD_FOLDER": FOLDER}, True, "REGISTRATION_ENCORD_INTEGRATION"),
        (
            {"ENCORD_FOLDER": FOLDER, "ENCORD_DATASET": "abc", "ENCORD_INTEGRATION": "gcs"},
            True,
            "REGISTRATION_ENCORD_DATASET",
        ),
        (
            {"ENCORD_FOLDER": "not-a-uuid", "ENCORD_INTEGRATION": "gcs"},
            True,
            "REGISTRATION_ENCORD_FOLDER",
        ),
        ({"ENCORD_FOLDER": FOLDER, "ENCORD_INTEGRATION": "gcs"}, False, "ENCORD_SSH_KEY"),
        ({"ENCORD_DATASET": "abc", "ENCORD_INTEGRATION": "gcs"}, False, "ENCORD_SSH_KEY"),
    ],
    ids=["no-integration", "folder-and-dataset", "folder-not-uuid", "no-key", "dataset-no-key"],
)
def test_an_incomplete_or_invalid_encord_setting_stops_the_cold_start_naming_the_variable(
    settings: dict[str, str],
    with_key: bool,
    variable: str,
    emulators: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENCORD_SSH_KEY_FILE", raising=False)
    if with_key:
        monkeypatch.setenv("ENCORD_SSH_KEY", "any")
    else:
        monkeypatch.delenv("ENCORD_SSH_KEY", raising=False)
    env = emulators.env({f"REGISTRATION_{name}": value for name, value in settings.items()})
    try:
        process = start_function("on_storage_event", env, emulators.log_dir)
    except StackError as error:
        assert variable in str(error)
    else:
        process.stop()
        raise AssertionError(f"started with {settings} (key: {with_key})")


def test_a_status_function_with_no_encord_setting_and_no_key_shows_a_manifest_encord_refused(
    stub: EncordStub, emulators: Stack, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 19, finding 1: as deployed, only the event and sweep functions hold the target.
    target = EncordTarget.on(stub)
    stub.remove_public_key(target.key.public_key())  # Encord no longer knows the key: refused
    registering = start_function(
        "on_storage_event", emulators.env(target.env(batch_images=1)), emulators.log_dir
    )
    monkeypatch.delenv("ENCORD_SSH_KEY", raising=False)
    monkeypatch.delenv("ENCORD_SSH_KEY_FILE", raising=False)
    status_env = emulators.env()
    assert not [name for name in status_env if name.startswith(("REGISTRATION_ENCORD", "ENCORD"))]
    status = start_function("status", status_env, emulators.log_dir)
    try:
        [data] = events(bucket, 1)
        assert cloudevents.finalize(registering.url, data).status_code == 200
        answer = requests.get(status.url, timeout=60)
    finally:
        registering.stop()
        status.stop()

    assert answer.status_code == 200
    [item] = [i for i in answer.json()["attention"] if i["kind"] == "submission_failed"]
    assert item["manifest"].startswith(f"gs://{bucket}/encord-manifests/cam/images/")
    assert "Encord refused it" in item["detail"]
    assert answer.json()["totals"]["submissions_by_state"] == {"failed": 1}
