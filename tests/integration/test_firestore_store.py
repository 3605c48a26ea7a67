"""The Firestore adapters against the real Firestore emulator (wiped before each test):
what only Firestore can show (contention, field names it reserves). The behaviours both
stores share are tested once, on both, in tests/contract/."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import Aborted
from google.cloud import firestore

from devstack.stack import PROJECT, Stack
from registration.adapters.firestore.documents import object_id
from registration.bootstrap import build_backends
from registration.domain.lifecycle import FinalizeAction
from registration.domain.model import (
    BufferRef,
    ClaimedBatch,
    ManifestKey,
    RejectionReason,
    StorageObject,
)
from registration.services.ports import Backends

BUFFER = BufferRef("bkt", "site-a/cam 1", ManifestKey.IMAGES)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(emulators: Stack) -> Backends:
    store = build_backends()
    store.buffers.ensure(BUFFER, NOW)
    return store


def image(index: int, generation: int = 1) -> StorageObject:
    return StorageObject("bkt", f"site-a/cam 1/f{index:04d}.jpg", generation, size=10)


def claim(store: Backends, seq: int, limit: int, minimum: int = 1) -> ClaimedBatch | None:
    return store.batches.claim(
        BUFFER,
        seq,
        limit=limit,
        minimum=minimum,
        now=NOW,
        manifest_bucket="bkt",
        manifest_path=f"m/{seq}.json",
    )


def test_concurrent_claims_of_one_batch_number_claim_it_once(store: Backends) -> None:
    for index in range(20):
        store.records.add_pending(BUFFER, image(index), NOW)
    store.batches.acquire_lease(BUFFER, 1, 60)

    def claim_with_retries(_: int) -> ClaimedBatch | None:
        # The lease normally keeps claimers apart; here four race on purpose, and the
        # emulator answers contention with ABORTED, which the platform would retry.
        for _attempt in range(20):
            try:
                return claim(store, 1, limit=10)
            except (Aborted, ValueError):
                time.sleep(0.2)
        raise AssertionError("claim never got through")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim_with_retries, range(4)))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert len(winners[0].members) == 10
    assert store.records.count_pending(BUFFER) == 10


def test_a_rejection_is_recorded_once_with_its_reason(store: Backends) -> None:
    obj = StorageObject("bkt", "a/.hidden.jpg", 3)
    assert store.rejections.record(obj, RejectionReason.HIDDEN_FILE, "hidden", NOW) is True
    assert store.rejections.record(obj, RejectionReason.HIDDEN_FILE, "hidden", NOW) is False
    [record] = store.rejections.recent(10)
    assert (record.name, record.reason, record.generation) == ("a/.hidden.jpg", "hidden_file", 3)


def test_sixteen_concurrent_creates_in_one_buffer_all_land(store: Backends) -> None:
    with ThreadPoolExecutor(16) as pool:
        actions = list(
            pool.map(lambda i: store.records.add_pending(BUFFER, image(i), NOW), range(64))
        )
    assert actions == [FinalizeAction.BUFFER] * 64
    assert store.records.count_pending(BUFFER) == 64


def test_custom_metadata_keys_firestore_refuses_as_field_names_round_trip(store: Backends) -> None:
    # `__origin__` is a name Firestore reserves; Cloud Storage accepts it as a metadata key.
    metadata = {"__origin__": "cam 3", "a.b": "1", "`x`": "2", "": "empty key", "ü": "3"}
    obj = StorageObject("bkt", "site-a/cam 1/meta.jpg", 1, custom_metadata=metadata)
    assert store.records.add_pending(BUFFER, obj, NOW) is FinalizeAction.BUFFER
    store.batches.acquire_lease(BUFFER, 1, 60)
    claimed = claim(store, 1, limit=10)
    assert claimed is not None
    [member] = store.batches.members(BUFFER, 1)
    assert dict(member.custom_metadata) == metadata


def test_a_pending_record_stores_no_null_fields_and_reads_back_the_same_object(
    emulators: Stack, store: Backends
) -> None:
    # The create() is the one write of every event: what it leaves out is never marshalled.
    bare = StorageObject("bkt", "site-a/cam 1/bare.jpg", 3)
    full = StorageObject(
        "bkt", "site-a/cam 1/full.jpg", 4, size=9, content_type="image/jpeg",
        custom_metadata={"k": "v"}, series_uid="1.2.3", instance_number=7,
    )  # fmt: skip
    for obj in (bare, full):
        assert store.records.add_pending(BUFFER, obj, NOW) is FinalizeAction.BUFFER
    stored = store.bulk.object_records([("bkt", bare.name), ("bkt", full.name)])
    assert [record.obj if record else None for record in stored] == [bare, full]
    client = firestore.Client(project=PROJECT)
    fields = client.collection("objects").document(object_id("bkt", bare.name)).get().to_dict()
    assert fields is not None and None not in fields.values()
    store.batches.acquire_lease(BUFFER, 1, 60)
    claimed = claim(store, 1, limit=10)
    assert claimed is not None and sorted(claimed.members, key=lambda o: o.name) == [bare, full]
