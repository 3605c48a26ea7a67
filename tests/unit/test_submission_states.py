"""Submission to Encord without a network: the settings that turn it on (and the start-up
errors that name the variable), retry timing, job outcomes, and the state a batch is left
in by each answer Encord can give (services/submit.py over the in-memory fake)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registration.config import Settings, load_settings
from registration.domain.batch_lifecycle import Next
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.domain.submission import (
    FIRST_RETRY,
    LONGEST_RETRY,
    EncordJobResult,
    EncordUnitError,
    SubmissionState,
    retry_delay,
)
from registration.exceptions import (
    ConfigurationError,
    EncordJobMissingError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
)
from registration.services.ports import Context
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends
from tests.support.scripted_encord import ScriptedEncord

FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "b"
BATCH = 2
LEASE = 60

# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ENCORD_FOLDER": FOLDER}, "REGISTRATION_ENCORD_INTEGRATION"),
        ({"ENCORD_DATASET": "hash"}, "REGISTRATION_ENCORD_INTEGRATION"),
        (
            {"ENCORD_FOLDER": FOLDER, "ENCORD_DATASET": "hash", "ENCORD_INTEGRATION": "gcs"},
            "REGISTRATION_ENCORD_DATASET",
        ),
        ({"ENCORD_FOLDER": "folder-1", "ENCORD_INTEGRATION": "gcs"}, "REGISTRATION_ENCORD_FOLDER"),
        ({"ENCORD_DOMAIN": "https://api.encord.com/v2"}, "REGISTRATION_ENCORD_DOMAIN"),
        ({"ENCORD_DOMAIN": "api.encord.com"}, "REGISTRATION_ENCORD_DOMAIN"),
        ({"ENCORD_JOB_ATTENTION_SECONDS": "59"}, "REGISTRATION_ENCORD_JOB_ATTENTION_SECONDS"),
        ({"ENCORD_IGNORE_ERRORS": "maybe"}, "REGISTRATION_ENCORD_IGNORE_ERRORS"),
    ],
)
def test_an_incomplete_or_invalid_encord_setting_is_refused_naming_its_variable(
    env: dict[str, str], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"REGISTRATION_{name}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_with_no_target_nothing_is_submitted_and_blank_values_count_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRATION_ENCORD_FOLDER", " ")
    monkeypatch.setenv("REGISTRATION_ENCORD_INTEGRATION", "")
    settings = load_settings()
    assert settings.encord_target is None
    assert settings.encord_domain == "https://api.encord.com"
    assert settings.encord_ignore_errors is True


def test_a_folder_with_its_integration_is_a_target_and_the_domain_keeps_only_its_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRATION_ENCORD_FOLDER", FOLDER.upper())
    monkeypatch.setenv("REGISTRATION_ENCORD_INTEGRATION", "gcs bucket")
    monkeypatch.setenv("REGISTRATION_ENCORD_DOMAIN", "http://127.0.0.1:8099/")
    monkeypatch.setenv("REGISTRATION_ENCORD_IGNORE_ERRORS", "false")
    settings = load_settings()
    assert settings.encord_target == FOLDER.upper()
    assert settings.encord_domain == "http://127.0.0.1:8099"
    assert settings.encord_ignore_errors is False


# -- retry timing and job outcomes ---------------------------------------------------------


def test_retries_back_off_exponentially_from_30_s_up_to_an_hour() -> None:
    delays = [retry_delay(attempt) for attempt in range(1, 10)]
    assert delays[:4] == [FIRST_RETRY * factor for factor in (1, 2, 4, 8)]
    assert delays == sorted(delays)
    assert delays[-1] == LONGEST_RETRY == timedelta(hours=1)


def test_encords_retry_after_wins_only_when_it_is_longer_and_is_trusted_up_to_an_hour() -> None:
    assert retry_delay(1, 600) == timedelta(seconds=600)
    assert retry_delay(3, 5) == FIRST_RETRY * 4
    assert retry_delay(30, 7200) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "state", "finished"),
    [
        ("PENDING", SubmissionState.SUBMITTED, False),
        ("DONE", SubmissionState.DONE, True),
        ("ERROR", SubmissionState.ERROR, True),
        ("CANCELLED", SubmissionState.CANCELLED, True),
    ],
)
def test_a_polled_job_maps_to_the_batchs_submission_state(
    status: Any, state: SubmissionState, finished: bool
) -> None:
    result = EncordJobResult(status, 0, 1, 0, 0, ())
    assert result.finished is finished
    assert result.final_state is state
    assert state.unfinished is not finished


# -- what each answer leaves on the batch (in-memory store) --------------------------------


FakeEncord = ScriptedEncord


def app_with(encord: FakeEncord) -> tuple[App, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    backends = memory_backends(MemoryStore(clock=clock), MemoryBucket(), encord=encord)
    settings = Settings(
        batch_images=BATCH,
        lease_seconds=LEASE,
        encord_folder=FOLDER,
        encord_integration="gcs",
    )
    return App(Context(settings, backends, clock)), clock


def fill(app: App, folder: str = "cam") -> None:
    for i in range(BATCH):
        app.register(StorageObject(BUCKET, f"{folder}/{i}.jpg", 1, size=1))


def submission(app: App, folder: str = "cam") -> Any:
    batch = app.store.batches.get(BufferRef(BUCKET, folder, ManifestKey.IMAGES), 1)
    assert batch is not None and batch.submission is not None
    return batch.submission


def test_an_accepted_job_is_recorded_as_submitted_with_its_id() -> None:
    app, clock = app_with(FakeEncord("job-1"))
    fill(app)
    got = submission(app)
    assert (got.state, got.job_id, got.attempts, got.problem) == (
        SubmissionState.SUBMITTED,
        "job-1",
        1,
        None,
    )
    assert got.submitted_at == clock()


@pytest.mark.parametrize(
    ("error", "wait"),
    [
        (EncordRateLimitedError("m", retry_after_seconds=300), 300),
        (EncordRateLimitedError("m", retry_after_seconds=None), 30),
        (EncordUnavailableError("m", None, job_may_exist=True), 30),
        (RuntimeError("an SDK surprise"), 30),
    ],
    ids=["429-retry-after", "429", "5xx-or-lost-answer", "unexpected"],
)
def test_a_transient_failure_leaves_the_batch_pending_until_its_next_attempt(
    error: Exception, wait: int
) -> None:
    encord = FakeEncord(error, "job-2")
    app, clock = app_with(encord)
    fill(app)  # never raises for Encord's sake
    got = submission(app)
    assert got.state is SubmissionState.PENDING and got.job_id is None
    assert got.next_attempt_at == clock() + timedelta(seconds=wait)
    assert got.problem
    clock.advance(wait - 1)
    app.sweep()
    assert len(encord.started) == 1
    clock.advance(1)
    assert app.sweep().submitted
    got = submission(app)
    assert (got.state, got.job_id, got.attempts) == (SubmissionState.SUBMITTED, "job-2", 2)


def test_a_refusal_is_failed_for_a_person_and_never_retried() -> None:
    encord = FakeEncord(EncordRefusedError("m", "AuthorisationError: no access to folder"))
    app, clock = app_with(encord)
    fill(app)
    got = submission(app)
    assert got.state is SubmissionState.FAILED
    assert "no access to folder" in got.problem
    clock.advance(24 * 3600)
    app.sweep()
    assert len(encord.started) == 1
    kinds = [item["kind"] for item in app.status()["attention"]]
    assert "submission_failed" in kinds


def test_a_submission_in_flight_is_not_started_again_until_its_lease_has_passed() -> None:
    encord = FakeEncord("job-1", "job-2")
    app, clock = app_with(encord)
    fill(app)
    batch = app.store.batches.get(BufferRef(BUCKET, "cam", ManifestKey.IMAGES), 1)
    assert batch is not None
    # Another instance recorded its intent and has not come back yet.
    app.store.submissions.resubmit(batch, clock())
    assert isinstance(app.store.submissions.begin_submission(batch, clock(), LEASE), Next)
    clock.advance(LEASE - 1)
    assert app.sweep().submitted == []
    clock.advance(1)
    assert app.sweep().submitted == [batch.manifest_path]
    assert encord.started == [batch.manifest_path.rsplit("/", 1)[-1]] * 2


def test_a_finished_job_with_refused_files_rejects_exactly_those_files() -> None:
    encord = FakeEncord("job-1")
    app, _ = app_with(encord)
    fill(app)
    refused = f"https://storage.cloud.google.com/{BUCKET}/cam/1.jpg"
    encord.polls["job-1"] = EncordJobResult(
        "DONE", 0, 1, 1, 0, (EncordUnitError((refused,), "Failed to read the file"),)
    )
    assert app.sweep().jobs_finished
    rejected = [(r["name"], r["reason"]) for r in app.status()["rejected"]]
    assert rejected == [("cam/1.jpg", "encord_refused")]
    got = submission(app)
    assert (got.state, got.units_done, got.units_error) == (SubmissionState.DONE, 1, 1)


def test_a_poll_of_a_job_encord_does_not_know_ends_it_as_failed_for_a_person() -> None:
    encord = FakeEncord("job-1")
    app, clock = app_with(encord)
    fill(app)
    missing = EncordJobMissingError("job job-1", "ResourceNotFoundError: Upload job not found")

    def poll(job_id: str) -> EncordJobResult:
        raise missing

    encord.poll = poll  # type: ignore[method-assign]
    app.sweep()
    got = submission(app)
    assert got.state is SubmissionState.FAILED and "not found" in got.problem
    clock.advance(24 * 3600)
    assert app.sweep().submitted == [] and len(encord.started) == 1
    kinds = [item["kind"] for item in app.status()["attention"]]
    assert "submission_failed" in kinds
