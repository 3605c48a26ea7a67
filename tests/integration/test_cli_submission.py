"""`python -m registration jobs` and `resubmit` against the emulators and the Encord stub,
with the real SDK. The CLI runs in this process (click's CliRunner) with the environment a
deployment gives it: REGISTRATION_ENCORD_* and ENCORD_SSH_KEY.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from devstack.stack import Stack
from registration.cli.commands import cli
from registration.config import load_settings
from registration.domain.model import BatchRecord, BufferRef, ManifestKey
from registration.domain.submission import SubmissionState
from tests.support.app import App
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget, app_with_encord, fill, the_batch

BATCH = 3


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def target(stub: EncordStub, monkeypatch: pytest.MonkeyPatch, emulators: Stack) -> EncordTarget:
    target = EncordTarget.on(stub)
    for name, value in target.env(batch_images=BATCH, encord_ignore_errors="false").items():
        monkeypatch.setenv(name, value)
    return target


def service() -> App:
    return app_with_encord(load_settings())


def batch_of(app: App, bucket: str, folder: str) -> BatchRecord:
    return the_batch(app, BufferRef(bucket, folder, ManifestKey.IMAGES))


def url(batch: BatchRecord) -> str:
    return f"gs://{batch.manifest_bucket}/{batch.manifest_path}"


def test_jobs_lists_unfinished_submissions_with_state_job_attempts_next_attempt_and_problem(
    target: EncordTarget, bucket: str
) -> None:
    app = service()
    fill(app, bucket, "submitted", BATCH)
    target.stub.inject_rate_limit(retry_after=120)
    fill(app, bucket, "limited", BATCH)
    submitted, limited = batch_of(app, bucket, "submitted"), batch_of(app, bucket, "limited")
    assert submitted.submission is not None

    result = invoke("jobs")

    assert result.exit_code == 0, result.output
    table = result.output
    assert "Encord submissions not finished" in table
    assert str(submitted.submission.job_id) in table
    assert " pending " in table and " submitted " in table
    assert "in 119 s" in table or "in 120 s" in table  # Retry-After: 120 s
    assert "rate limited by Encord" in table
    assert "2 batch(es)." in result.output

    listed = json.loads(invoke("jobs", "--json").output)
    assert sorted(item["manifest"] for item in listed) == sorted([url(submitted), url(limited)])
    by_state = {item["state"]: item for item in listed}
    assert by_state["submitted"]["job_id"] == submitted.submission.job_id
    assert by_state["pending"]["attempts"] == 1 and by_state["pending"]["problem"]
    assert "No refused submissions" in invoke("jobs", "--failed").output


def test_resubmit_hands_a_job_in_error_to_encord_again_and_the_new_job_registers_nothing_twice(
    target: EncordTarget, bucket: str
) -> None:
    target.stub.fail_urls_matching(r"img0001\.jpg$", "Could not read the object")
    app = service()
    fill(app, bucket, "cam", BATCH)
    app.sweep()  # the job ends in ERROR (ignore_errors is off)
    failed = batch_of(app, bucket, "cam")
    assert failed.submission is not None and failed.submission.state is SubmissionState.ERROR
    assert url(failed) in invoke("jobs", "--failed").output
    assert url(failed) not in invoke("jobs").output
    [first] = target.jobs()

    result = invoke("resubmit", url(failed))

    assert result.exit_code == 0, result.output
    again = batch_of(app, bucket, "cam")
    assert again.submission is not None
    assert again.submission.state is SubmissionState.SUBMITTED
    assert again.submission.job_id not in (None, first.id)
    assert f"submitted, Encord job {again.submission.job_id}" in result.output
    jobs = target.jobs_of(failed)
    assert len(jobs) == 2 and jobs[1].registered == ()
    assert set(target.stub.registered_urls(target.target).values()) == {1}
    assert url(failed) in invoke("jobs").output


def test_resubmit_refuses_a_manifest_no_batch_wrote(target: EncordTarget, bucket: str) -> None:
    app = service()
    fill(app, bucket, "cam", BATCH)
    batch = batch_of(app, bucket, "cam")
    wrong_seq = url(batch).replace("/000001-", "/000002-")
    other_bucket = url(batch).replace(f"gs://{bucket}/", "gs://elsewhere/")
    for bad in (wrong_seq, other_bucket, f"gs://{bucket}/encord-manifests/cam/images/x.json"):
        result = CliRunner().invoke(cli, ["resubmit", bad])
        assert result.exit_code != 0
        assert "no written batch has the manifest" in result.output
    assert len(target.jobs()) == 1


def test_resubmit_says_when_no_encord_target_is_configured_and_jobs_reads_the_batches_anyway(
    emulators: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(cli, ["resubmit", "gs://b/encord-manifests/images/000001-x-y.json"])
    assert result.exit_code != 0
    assert "no Encord target is configured" in result.output
    # Like the status function, the listing needs no Encord setting: it reads the batches.
    listed = CliRunner().invoke(cli, ["jobs", "--failed"])
    assert listed.exit_code == 0, listed.output
    assert "no Encord target" not in listed.output
