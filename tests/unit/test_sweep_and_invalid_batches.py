"""The due-work sweep, invalid batches and one-record-per-name over the in-memory fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from registration.config import Settings
from registration.domain.lifecycle import FinalizeAction
from registration.domain.model import (
    BatchState,
    BufferRef,
    ManifestKey,
    RejectionReason,
    StorageObject,
)
from registration.manifest.urls import parse_object_url
from registration.services.intake import register
from registration.services.ports import Context
from registration.services.status import AttentionKind, status
from registration.services.sweep import sweep
from registration.services.threshold import ThresholdGate
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "bkt"
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def world(**settings: object) -> tuple[Context, MemoryStore, MemoryBucket, FakeClock]:
    clock = FakeClock(START)
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    config = Settings(**settings)  # type: ignore[arg-type]
    return Context(config, memory_backends(store, bucket), clock), store, bucket, clock


def written_names(bucket: MemoryBucket) -> list[str]:
    names = []
    for (_, path), data in bucket.writes.items():
        if path.endswith(".json"):
            document = json.loads(data)
            key = next(k for k in document if k != "skip_duplicate_urls")
            for item in document[key]:
                names += [
                    parse_object_url(url)[1]
                    for field, url in item.items()
                    if field == "objectUrl" or field.startswith("objectUrl_")
                ]
        else:
            names += [
                parse_object_url(line.split(",")[0])[1] for line in data.decode().splitlines()[1:]
            ]
    return names


def test_an_extensionless_name_overwritten_with_another_type_is_registered_once() -> None:
    ctx, store, bucket, clock = world(batch_text=1, batch_pdfs=1)
    gate = ThresholdGate()
    first = StorageObject(BUCKET, "reports/latest", 1, size=10, content_type="text/plain")
    assert register(ctx, first, gate) is FinalizeAction.BUFFER  # a full text batch of 1
    clock.advance(1)
    second = StorageObject(BUCKET, "reports/latest", 2, size=10, content_type="application/pdf")
    # An archive event (versioned bucket), not a delete: the name's one record decides.
    assert register(ctx, second, gate) is FinalizeAction.OVERWRITES_REGISTERED

    assert written_names(bucket) == ["reports/latest"]
    [rejection] = store.recent(10)
    assert rejection.reason == RejectionReason.OVERWRITTEN_AFTER_REGISTRATION.value


def test_a_pending_name_overwritten_with_another_type_moves_to_the_new_buffer() -> None:
    ctx, store, bucket, clock = world()
    gate = ThresholdGate()
    register(ctx, StorageObject(BUCKET, "r/x", 1, size=1, content_type="text/plain"), gate)
    register(ctx, StorageObject(BUCKET, "r/x", 2, size=1, content_type="application/pdf"), gate)
    text = BufferRef(BUCKET, "r", ManifestKey.TEXT)
    pdfs = BufferRef(BUCKET, "r", ManifestKey.PDFS)
    assert (store.count_pending(text), store.count_pending(pdfs)) == (0, 1)
    clock.advance(ctx.settings.max_age_seconds + 1)
    sweep(ctx)
    assert written_names(bucket) == ["r/x"]
    assert any("/pdfs/" in path for _, path in bucket.writes)


def test_an_invalid_manifest_rejects_its_objects_and_never_blocks_the_buffer() -> None:
    # A CSV file holds at most 10,000 entries: an image group one larger cannot be written.
    ctx, store, bucket, clock = world(
        manifest_format="csv", image_group_prefixes=("scans/",), group_quiet_seconds=60
    )
    gate = ThresholdGate()
    for index in range(10_001):
        register(ctx, StorageObject(BUCKET, f"scans/big/{index:05d}.png", 1, size=1), gate)
    clock.advance(61)

    first = sweep(ctx)

    assert first.manifests_written == []
    assert [error["buffer"] for error in first.errors] == [f"{BUCKET}/scans/big:image_groups"]
    assert "failed validation" in str(first.errors[0]["error"])
    buffer = BufferRef(BUCKET, "scans/big", ManifestKey.IMAGE_GROUPS)
    batch = store.get(buffer, 1)
    assert batch is not None and batch.state is BatchState.INVALID
    assert "10000" in (batch.problem or "").replace(",", "")
    rejected = {record.name for record in store.of_folder(BUCKET, "scans/big", 20_000)}
    assert len(rejected) == 10_001
    assert {r.reason for r in store.of_folder(BUCKET, "scans/big", 5)} == {"manifest_invalid"}
    view = status(ctx)
    assert [item.kind for item in view.attention] == [AttentionKind.INVALID_BATCH]

    # The buffer moves on: a later group of that folder is registered as usual.
    for index in range(3):
        register(ctx, StorageObject(BUCKET, f"scans/big/late-{index}.png", 1, size=1), gate)
    clock.advance(61)
    second = sweep(ctx)
    assert len(second.manifests_written) == 1
    assert sorted(written_names(bucket)) == [f"scans/big/late-{index}.png" for index in range(3)]
    assert sweep(ctx).errors == []  # reported once, when it happened


def test_custom_metadata_keys_of_any_shape_reach_client_metadata() -> None:
    ctx, _store, bucket, _clock = world(batch_images=1)
    metadata = {"__origin__": "cam", "a.b": "1", "`tick`": "2", "ünï": "3", "x" * 200: "4"}
    obj = StorageObject(BUCKET, "m/a.jpg", 1, size=1, custom_metadata=metadata)
    register(ctx, obj, ThresholdGate())
    [(_, data)] = [(path, data) for (_, path), data in bucket.writes.items()]
    [item] = json.loads(data)["images"]
    assert item["clientMetadata"] == metadata


def test_the_sweep_examines_only_buffers_with_pending_objects() -> None:
    ctx, _store, _bucket, clock = world(batch_images=2)
    gate = ThresholdGate()
    for index in range(50):  # 50 buffers, each flushed full: nothing pending anywhere
        for frame in range(2):
            register(ctx, StorageObject(BUCKET, f"old/{index}/{frame}.jpg", 1, size=1), gate)
    register(ctx, StorageObject(BUCKET, "new/a.jpg", 1, size=1), gate)
    clock.advance(ctx.settings.max_age_seconds + 1)

    report = sweep(ctx)

    assert report.buffers_checked == 1
    assert report.overdue_buffers == 1
    assert len(report.manifests_written) == 1
    assert sweep(ctx).buffers_checked == 0
