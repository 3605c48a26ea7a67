"""Record retention (REGISTRATION_RECORD_RETENTION_DAYS): a record expires only once its
batch's way is finished, tombstones expire too, and a claimed batch never loses its members
to the TTL policy (the in-memory store, with its TTL policy run by hand)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.domain.submission import EncordJobResult, SubmissionState
from registration.services.ports import Context, EncordJobs
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "b"
BATCH = 2
DAYS = 3
BUFFER = BufferRef(BUCKET, "cam", ManifestKey.IMAGES)


class SlowEncord:
    """Accepts every job; its jobs stay PENDING until `done` is set."""

    def __init__(self) -> None:
        self.done = False

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        return "job-1"

    def poll(self, job_id: str) -> EncordJobResult:
        return EncordJobResult("DONE" if self.done else "PENDING", 0, BATCH, 0, 0, ())


def app_with(encord: EncordJobs | None) -> tuple[App, FakeClock, MemoryStore]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    store = MemoryStore(clock=clock)
    settings = Settings(
        batch_images=BATCH,
        record_retention_days=DAYS,
        encord_folder="0f8fad5b-d9cb-469f-a165-70867728950e" if encord else None,
        encord_integration="gcs" if encord else None,
    )
    backends = memory_backends(store, MemoryBucket(), encord=encord)
    return App(Context(settings, backends, clock)), clock, store


def images(count: int) -> list[StorageObject]:
    return [StorageObject(BUCKET, f"cam/{i}.jpg", 1, size=1) for i in range(count)]


def test_without_a_target_members_expire_from_when_their_manifest_was_written() -> None:
    app, clock, store = app_with(None)
    objects = images(BATCH + 1)
    for obj in objects:
        app.register(obj)
    expiries = [store.expire_at_of(BUCKET, obj.name) for obj in objects]
    assert expiries == [clock() + timedelta(days=DAYS)] * BATCH + [None]  # the pending one never


def test_with_a_target_members_keep_their_records_until_the_job_ends() -> None:
    encord = SlowEncord()
    app, clock, store = app_with(encord)
    objects = images(BATCH)
    for obj in objects:
        app.register(obj)
    clock.advance((DAYS + 1) * 24 * 3600)  # Encord takes days: nothing may expire meanwhile
    app.sweep()
    assert store.run_ttl(clock()) == 0
    assert [store.expire_at_of(BUCKET, obj.name) for obj in objects] == [None, None]

    encord.done = True
    assert app.sweep().jobs_finished
    batch = app.store.batches.get(BUFFER, 1)
    assert batch is not None and batch.submission is not None
    assert batch.submission.state is SubmissionState.DONE
    ends = {store.expire_at_of(BUCKET, obj.name) for obj in objects}
    assert ends == {clock() + timedelta(days=DAYS)}


def test_a_tombstone_expires_with_the_retention_and_a_new_generation_clears_it() -> None:
    app, clock, store = app_with(None)
    [obj] = images(1)
    app.withdraw(obj)  # the delete arrived first: a tombstone
    assert store.expire_at_of(BUCKET, obj.name) == clock() + timedelta(days=DAYS)
    app.register(StorageObject(BUCKET, obj.name, 2, size=1))
    assert store.expire_at_of(BUCKET, obj.name) is None
