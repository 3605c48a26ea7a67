"""The Firestore adapters against the real Firestore emulator (wiped before each test)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core.exceptions import Aborted

from devstack.stack import Stack
from registration.bootstrap import build_backends
from registration.domain.lifecycle import DeleteAction, FinalizeAction
from registration.domain.model import (
    BufferQuery,
    BufferRef,
    ClaimedBatch,
    LeaseOutcome,
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


def test_a_new_object_is_buffered_and_counted_as_pending(store: Backends) -> None:
    assert store.records.add_pending(BUFFER, image(1), NOW) is FinalizeAction.BUFFER
    assert store.records.count_pending(BUFFER) == 1
    assert store.records.oldest_pending_at(BUFFER) == NOW


def test_a_duplicate_delivery_changes_nothing(store: Backends) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    assert store.records.add_pending(BUFFER, image(1), NOW + timedelta(seconds=5)) is (
        FinalizeAction.DUPLICATE
    )
    assert store.records.count_pending(BUFFER) == 1
    assert store.records.oldest_pending_at(BUFFER) == NOW


def test_a_newer_generation_replaces_the_pending_older_one(store: Backends) -> None:
    store.records.add_pending(BUFFER, image(1, generation=1), NOW)
    assert store.records.add_pending(BUFFER, image(1, generation=2), NOW) is FinalizeAction.BUFFER
    assert store.records.add_pending(BUFFER, image(1, generation=1), NOW) is FinalizeAction.STALE
    assert store.records.count_pending(BUFFER) == 1
    store.batches.acquire_lease(BUFFER, 1, 60)
    claimed = claim(store, 1, limit=10)
    assert claimed is not None
    assert [obj.generation for obj in claimed.members] == [2]


def test_a_delete_that_arrives_before_its_finalize_wins(store: Backends) -> None:
    assert store.records.withdraw(BUFFER, image(1), NOW) is DeleteAction.TOMBSTONE
    assert store.records.add_pending(BUFFER, image(1), NOW) is FinalizeAction.ALREADY_DELETED
    assert store.records.count_pending(BUFFER) == 0


def test_a_delete_of_the_old_generation_keeps_the_new_one(store: Backends) -> None:
    store.records.add_pending(BUFFER, image(1, generation=2), NOW)
    assert store.records.withdraw(BUFFER, image(1, generation=1), NOW) is DeleteAction.STALE
    assert store.records.count_pending(BUFFER) == 1


def test_a_claimed_object_cannot_be_withdrawn_only_reported(store: Backends) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, 60)
    assert claim(store, 1, limit=10) is not None
    assert store.records.withdraw(BUFFER, image(1), NOW) is DeleteAction.DELETED_AFTER_REGISTRATION
    assert store.records.add_pending(BUFFER, image(1, generation=5), NOW) is (
        FinalizeAction.OVERWRITES_REGISTERED
    )


def test_only_one_caller_gets_the_lease_and_a_stale_lease_is_taken_over(
    store: Backends,
) -> None:
    assert store.batches.acquire_lease(BUFFER, 1, 60) is LeaseOutcome.ACQUIRED
    assert store.batches.acquire_lease(BUFFER, 1, 60) is LeaseOutcome.HELD
    # Staleness is Firestore's own clock: untouched for longer than the lease, it is dead.
    time.sleep(1.2)
    assert store.batches.acquire_lease(BUFFER, 1, 1) is LeaseOutcome.ACQUIRED
    assert store.batches.acquire_lease(BUFFER, 1, 1) is LeaseOutcome.HELD


def test_a_threshold_claim_takes_exactly_the_batch_and_leaves_the_rest(
    store: Backends,
) -> None:
    for index in range(7):
        store.records.add_pending(BUFFER, image(index), NOW + timedelta(seconds=index))
    store.batches.acquire_lease(BUFFER, 1, 60)
    assert claim(store, 1, limit=10, minimum=10) is None  # not full: nothing claimed
    claimed = claim(store, 1, limit=5, minimum=5)
    assert claimed is not None
    assert sorted(obj.name for obj in claimed.members) == [image(i).name for i in range(5)]
    assert store.records.count_pending(BUFFER) == 2
    assert store.batches.next_seq(BUFFER) == 2
    assert {obj.name for obj in store.batches.members(BUFFER, 1)} == {
        image(i).name for i in range(5)
    }


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


def test_marking_a_batch_written_twice_counts_it_once(store: Backends) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, 60)
    claimed = claim(store, 1, limit=10)
    assert claimed is not None
    assert store.batches.mark_written(claimed.record, NOW) is True
    assert store.batches.mark_written(claimed.record, NOW) is False
    [summary] = store.buffers.page(BufferQuery(), None, 10)
    assert summary.batches_written == 1
    assert summary.objects_registered == 1
    assert summary.last_manifest_url == "gs://bkt/m/1.json"
    assert store.batches.unfinished(BUFFER) == []


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


def test_a_name_has_one_record_whatever_buffer_its_generations_landed_in(
    store: Backends,
) -> None:
    text = BufferRef("bkt", "r", ManifestKey.TEXT)
    pdfs = BufferRef("bkt", "r", ManifestKey.PDFS)
    store.records.add_pending(text, StorageObject("bkt", "r/latest", 1), NOW)
    assert store.records.add_pending(pdfs, StorageObject("bkt", "r/latest", 2), NOW) is (
        FinalizeAction.BUFFER
    )
    assert (store.records.count_pending(text), store.records.count_pending(pdfs)) == (0, 1)
    [record] = store.bulk.object_records([("bkt", "r/latest")])
    assert record is not None and record.buffer == pdfs and record.obj.generation == 2
