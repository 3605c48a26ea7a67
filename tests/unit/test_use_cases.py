"""The use cases end to end over the in-memory fake: register, sweep, backfill, reconcile,
trace and status, each a function of a Context (settings, ports, clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from registration.config import Settings
from registration.domain.model import (
    BatchState,
    BufferRef,
    LeaseOutcome,
    ManifestKey,
    StorageObject,
)
from registration.manifest.naming import manifest_path
from registration.manifest.urls import parse_object_url
from registration.services.backfill import backfill
from registration.services.intake import register
from registration.services.ports import Context
from registration.services.reconcile import reconcile
from registration.services.status import status
from registration.services.sweep import sweep
from registration.services.threshold import ThresholdGate
from registration.services.trace import trace
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "bkt"
PREFIX = "encord-manifests/"
BATCH = 3
MAX_AGE = 900
LEASE = 120
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CAM = BufferRef(BUCKET, "cam 1", ManifestKey.IMAGES)


def settings() -> Settings:
    return Settings(batch_images=BATCH, max_age_seconds=MAX_AGE, lease_seconds=LEASE)


def world(
    store_clock: FakeClock | None = None,
) -> tuple[Context, MemoryStore, MemoryBucket, FakeClock]:
    """A Context over one fake store and bucket. The store shares the use cases' clock
    unless a test gives it its own (the store's clock is Firestore's server time)."""
    clock = FakeClock(START)
    store, bucket = MemoryStore(clock=store_clock or clock), MemoryBucket()
    return Context(settings(), memory_backends(store, bucket), clock), store, bucket, clock


def image(name: str, generation: int = 1) -> StorageObject:
    return StorageObject(BUCKET, name, generation, size=10, content_type="image/jpeg")


def names_in(data: bytes, key: str = "images") -> list[str]:
    items = json.loads(data)[key]
    return [parse_object_url(item["objectUrl"])[1] for item in items]


# -- register ---------------------------------------------------------------------------


def test_registering_a_full_batch_writes_exactly_one_manifest_at_the_threshold() -> None:
    ctx, store, bucket, _ = world()
    gate = ThresholdGate()
    names = [f"cam 1/f{index}.jpg" for index in range(BATCH)]

    for name in names[:-1]:
        register(ctx, image(name), gate)
    assert bucket.history == []

    register(ctx, image(names[-1]), gate)

    [(manifest_bucket, path, data)] = bucket.history
    assert manifest_bucket == BUCKET
    assert path.startswith(f"{PREFIX}cam 1/images/000001-")
    assert path.endswith(".json")
    assert bucket.content_types[(BUCKET, path)] == "application/json"
    assert sorted(names_in(data)) == names
    assert store.count_pending(CAM) == 0


# -- sweep ------------------------------------------------------------------------------


def test_the_sweep_writes_a_partial_batch_once_its_oldest_object_reaches_the_max_age() -> None:
    ctx, store, bucket, clock = world()
    register(ctx, image("cam 1/lonely.jpg"), ThresholdGate())

    clock.advance(MAX_AGE - 1)
    assert sweep(ctx).manifests_written == []
    assert bucket.history == []

    clock.advance(1)
    report = sweep(ctx)

    [(_, path, data)] = bucket.history
    assert report.manifests_written == [path]
    assert report.buffers_flushed == 1
    assert names_in(data) == ["cam 1/lonely.jpg"]
    assert store.count_pending(CAM) == 0
    assert sweep(ctx).manifests_written == []  # nothing left to write


def test_a_batch_whose_writer_died_after_claiming_is_finished_by_the_sweep_after_the_lease() -> (
    None
):
    ctx, store, bucket, clock = world()
    for name in ("cam 1/a.jpg", "cam 1/b.jpg"):
        register(ctx, image(name), ThresholdGate())
    # An instance leases and claims batch 1, then dies before writing its manifest.
    path = manifest_path(PREFIX, CAM, 1, clock(), "json")
    assert store.acquire_lease(CAM, 1, LEASE) is LeaseOutcome.ACQUIRED
    claimed = store.claim(
        CAM, 1, limit=BATCH, minimum=1, now=clock(), manifest_bucket=BUCKET, manifest_path=path
    )
    assert claimed is not None

    clock.advance(LEASE - 1)
    early = sweep(ctx)
    assert early.batches_completed == []
    assert bucket.history == []  # the writer may still be alive: hands off

    clock.advance(1)
    report = sweep(ctx)

    assert report.batches_completed == [path]
    assert [(b, p) for b, p, _ in bucket.history] == [(BUCKET, path)]  # the path it claimed
    assert sorted(names_in(bucket.writes[(BUCKET, path)])) == ["cam 1/a.jpg", "cam 1/b.jpg"]
    batch = store.get(CAM, 1)
    assert batch is not None
    assert batch.state is BatchState.WRITTEN
    assert sweep(ctx).batches_completed == []
    assert len(bucket.history) == 1


def test_a_dead_writers_lease_is_judged_by_the_stores_clock_not_the_instances() -> None:
    store_clock = FakeClock(START)
    ctx, store, bucket, clock = world(store_clock)
    register(ctx, image("cam 1/a.jpg"), ThresholdGate())
    path = manifest_path(PREFIX, CAM, 1, clock(), "json")
    store.acquire_lease(CAM, 1, LEASE)
    store.claim(
        CAM, 1, limit=BATCH, minimum=1, now=clock(), manifest_bucket=BUCKET, manifest_path=path
    )

    clock.advance(10 * LEASE)  # this instance's clock runs far ahead...
    assert sweep(ctx).batches_completed == []  # ...but the store says the claim is fresh
    assert bucket.history == []

    store_clock.advance(LEASE)
    assert sweep(ctx).batches_completed == [path]


# -- backfill ---------------------------------------------------------------------------


def test_backfill_registers_each_listed_object_once_and_a_rerun_registers_nothing_new() -> None:
    ctx, store, bucket, _ = world()
    images = [image(f"cam 1/f{index}.jpg") for index in range(4)]
    for obj in images:
        bucket.put(obj)
    bucket.put(image("cam 1/.hidden.jpg"))
    bucket.put(StorageObject(BUCKET, f"{PREFIX}cam 1/images/old.json", 1))

    first = backfill(ctx, BUCKET, "")

    assert first.finished
    assert first.listed == 6
    assert first.buffered == 4
    assert dict(first.rejected) == {"hidden_file": 1}
    assert first.ignored == 1  # our own manifest
    assert len(first.manifests) == 1  # one full batch of three; the fourth waits
    assert store.count_pending(CAM) == 1
    written = list(bucket.history)

    again = backfill(ctx, BUCKET, "")

    assert again.listed == 6
    assert again.buffered == 0
    assert again.already_known == 4
    assert again.manifests == []
    assert bucket.history == written
    assert store.count_pending(CAM) == 1
    registered = [name for _, _, data in bucket.history for name in names_in(data)]
    assert len(registered) == len(set(registered)) == 3


# -- reconcile --------------------------------------------------------------------------


def test_reconcile_finds_a_missed_finalize_and_repair_registers_it() -> None:
    ctx, store, bucket, _ = world()
    seen = image("cam 1/seen.jpg")
    missed = image("cam 1/missed.jpg")
    for obj in (seen, missed):
        bucket.put(obj)
    register(ctx, seen, ThresholdGate())  # the other object's event never arrived

    report = reconcile(ctx, BUCKET, "")

    assert [(item.obj.name, item.outcome) for item in report.missed] == [
        ("cam 1/missed.jpg", "register")
    ]
    assert report.in_order == 1
    assert store.count_pending(CAM) == 1  # without --repair nothing changes

    repaired = reconcile(ctx, BUCKET, "", repair=True)

    assert repaired.repair is not None
    assert repaired.repair.buffered == 1
    assert store.count_pending(CAM) == 2
    assert reconcile(ctx, BUCKET, "").missed == []


# -- trace ------------------------------------------------------------------------------


def test_trace_reports_a_registered_object_with_its_manifest() -> None:
    ctx, _, bucket, _ = world()
    gate = ThresholdGate()
    for index in range(BATCH):
        obj = image(f"cam 1/f{index}.jpg")
        bucket.put(obj)
        register(ctx, obj, gate)
    [(_, path, _)] = bucket.history

    result = trace(ctx, BUCKET, "cam 1/f1.jpg")

    assert result.fate.startswith(f"registered: generation 1 is in manifest gs://{BUCKET}/{path}")
    assert [item.manifest_exists for item in result.records] == [True]


def test_trace_reports_a_hidden_file_as_rejected_with_its_reason() -> None:
    ctx, _, bucket, _ = world()
    hidden = image("cam 1/.thumbs.jpg")
    bucket.put(hidden)
    register(ctx, hidden, ThresholdGate())

    result = trace(ctx, BUCKET, hidden.name)

    assert result.fate.startswith("rejected: hidden_file (")
    assert result.records == []


# -- status -----------------------------------------------------------------------------


def test_status_lists_every_buffer_with_its_pending_count() -> None:
    ctx, _, _, clock = world()
    gate = ThresholdGate()
    register(ctx, image("cam 1/a.jpg"), gate)
    register(ctx, image("cam 1/b.jpg"), gate)
    register(ctx, StorageObject(BUCKET, "clip.mp4", 1), gate)
    register(ctx, image("cam 1/.hidden.jpg"), gate)
    clock.advance(5)

    view = status(ctx)

    assert [(row.buffer.folder, row.buffer.key, row.pending) for row in view.buffers] == [
        ("", ManifestKey.VIDEOS, 1),
        ("cam 1", ManifestKey.IMAGES, 2),
    ]
    assert view.pending_total == 3
    assert [row.batch_size for row in view.buffers] == [100, BATCH]
    assert [record.name for record in view.rejected] == ["cam 1/.hidden.jpg"]
    assert view.generated_at == clock()
