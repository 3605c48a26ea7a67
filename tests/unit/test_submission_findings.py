"""Issue 19's findings 2, 3, 6 and 7, each as an operator would meet it, over the use cases
and the in-memory store (each of these failed before the fenced state machine).

2. An instance stalled in Encord's start past its lease comes back after another instance
   took over and the job finished: it must change nothing, and no third job may start.
3. A huge Retry-After must not overflow the next attempt's time inside the storage event.
6. A retried submission sends the manifest that was written, even once records expired.
7. A refused poll (a key rotation gone wrong) is retried, not recorded as a failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registration.config import Settings
from registration.domain.model import BatchRecord, BufferRef, ManifestKey, StorageObject
from registration.domain.submission import EncordJobResult, SubmissionState
from registration.exceptions import (
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
)
from registration.services.ports import Context
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "b"
BATCH = 3
LEASE = 60
BUFFER = BufferRef(BUCKET, "cam", ManifestKey.IMAGES)
DONE = EncordJobResult("DONE", 0, BATCH, 0, 0, ())


class ScriptedEncord:
    """Encord as a scripted fake: each start runs the next script (which may act, as other
    instances would, while this call is "inside Encord"), then returns a job id or raises."""

    def __init__(self) -> None:
        self.scripts: list[Callable[[], str]] = []
        self.started: list[Mapping[str, Any]] = []
        self.polls: list[Callable[[str], EncordJobResult]] = []

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        self.started.append(manifest)
        script = self.scripts.pop(0) if self.scripts else (lambda: f"job-{len(self.started)}")
        return script()

    def poll(self, job_id: str) -> EncordJobResult:
        return self.polls.pop(0)(job_id) if self.polls else DONE


def app_with(encord: ScriptedEncord, retention_days: int = 0) -> tuple[App, FakeClock, Any]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    settings = Settings(
        batch_images=BATCH,
        lease_seconds=LEASE,
        encord_folder=FOLDER,
        encord_integration="gcs",
        record_retention_days=retention_days,
    )
    app = App(Context(settings, memory_backends(store, bucket, encord=encord), clock))
    return app, clock, (store, bucket)


def fill(app: App) -> None:
    for i in range(BATCH):
        app.register(StorageObject(BUCKET, f"cam/{i}.jpg", 1, size=1))


def the_batch(app: App) -> BatchRecord:
    batch = app.store.batches.get(BUFFER, 1)
    assert batch is not None and batch.submission is not None
    return batch


# -- finding 2: writes after the intent are fenced ----------------------------------------


@pytest.mark.parametrize("comes_back_with", ["a timeout", "its job id"])
def test_an_instance_stalled_in_start_past_its_lease_cannot_reopen_a_done_job_or_cause_a_third(
    comes_back_with: str,
) -> None:
    encord = ScriptedEncord()
    app, clock, _ = app_with(encord)

    def stalled() -> str:
        # While this instance waits inside Encord, its lease passes; a sweep takes the
        # submission over, starts a second job, and a later sweep sees it DONE.
        clock.advance(LEASE + 1)
        assert app.sweep().submitted
        assert app.sweep().jobs_finished
        assert the_batch(app).submission.state is SubmissionState.DONE  # type: ignore[union-attr]
        if comes_back_with == "a timeout":
            raise EncordUnavailableError("start", TimeoutError(), job_may_exist=True)
        return "job-stalled"

    encord.scripts.append(stalled)
    fill(app)  # the event whose instance stalls

    got = the_batch(app).submission
    assert got is not None
    assert (got.state, got.job_id) == (SubmissionState.DONE, "job-2")
    for _ in range(5):  # later sweeps, however late, start nothing more
        clock.advance(3600)
        app.sweep()
    assert len(encord.started) == 2
    got = the_batch(app).submission
    assert got is not None and (got.state, got.job_id) == (SubmissionState.DONE, "job-2")


# -- finding 3: a huge Retry-After ---------------------------------------------------------


def test_a_429_with_an_enormous_retry_after_neither_fails_the_event_nor_waits_beyond_an_hour() -> (
    None
):
    encord = ScriptedEncord()

    def limited() -> str:
        raise EncordRateLimitedError("start", retry_after_seconds=10**12)

    encord.scripts.append(limited)
    app, clock, _ = app_with(encord)
    fill(app)  # must not raise
    got = the_batch(app).submission
    assert got is not None and got.state is SubmissionState.PENDING
    assert got.next_attempt_at is not None
    assert clock() < got.next_attempt_at <= clock() + timedelta(hours=1)


# -- finding 6: Encord gets the manifest that was written ----------------------------------


def test_a_retried_submission_sends_the_written_manifest_even_after_records_expired() -> None:
    encord = ScriptedEncord()

    def unavailable() -> str:
        raise EncordUnavailableError("start", ConnectionError(), job_may_exist=False)

    encord.scripts.append(unavailable)
    app, clock, (store, bucket) = app_with(encord, retention_days=1)
    fill(app)
    batch = the_batch(app)
    written = json.loads(bucket.writes[(batch.manifest_bucket, batch.manifest_path)])
    assert encord.started == [written]

    # Encord stays away for two days; the TTL policy runs meanwhile.
    clock.advance(2 * 24 * 3600)
    store.run_ttl(clock())
    assert app.sweep().submitted == [batch.manifest_path]

    assert encord.started[-1] == written
    assert len(encord.started[-1]["images"]) == BATCH
    # And a batch whose submission is not finished keeps its members' records.
    assert len(app.store.batches.members(BUFFER, 1)) == BATCH


# -- finding 7: a refused poll is not terminal ---------------------------------------------


def test_a_refused_poll_is_retried_and_the_jobs_end_is_still_recorded() -> None:
    encord = ScriptedEncord()

    def refused(job_id: str) -> EncordJobResult:
        raise EncordRefusedError(f"job {job_id}", "AuthorisationError: key not recognised")

    encord.polls.append(refused)
    app, clock, _ = app_with(encord)
    fill(app)
    app.sweep()  # the poll is refused: a key rotation gone wrong
    got = the_batch(app).submission
    assert got is not None
    assert got.state is SubmissionState.SUBMITTED and got.job_id == "job-1"

    clock.advance(3600)  # the key is fixed
    assert app.sweep().jobs_finished
    got = the_batch(app).submission
    assert got is not None and got.state is SubmissionState.DONE
