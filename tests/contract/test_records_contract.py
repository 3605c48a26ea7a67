"""Object records: the per-event decisions by generation, on both stores."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.lifecycle import DeleteAction, FinalizeAction
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, expire_at_of, image


def test_a_new_object_is_buffered_and_counted_as_pending(store: Store) -> None:
    assert store.records.add_pending(BUFFER, image(1), NOW) is FinalizeAction.BUFFER
    assert store.records.count_pending(BUFFER) == 1
    assert store.records.oldest_pending_at(BUFFER) == NOW


def test_a_duplicate_delivery_changes_nothing(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    later = NOW + timedelta(seconds=5)
    assert store.records.add_pending(BUFFER, image(1), later) is FinalizeAction.DUPLICATE
    assert store.records.count_pending(BUFFER) == 1
    assert store.records.oldest_pending_at(BUFFER) == NOW


def test_a_newer_generation_replaces_the_pending_older_one(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1, generation=1), NOW)
    assert store.records.add_pending(BUFFER, image(1, generation=2), NOW) is FinalizeAction.BUFFER
    assert store.records.add_pending(BUFFER, image(1, generation=1), NOW) is FinalizeAction.STALE
    assert store.records.count_pending(BUFFER) == 1
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None
    assert [obj.generation for obj in claimed.members] == [2]


def test_a_delete_that_arrives_before_its_finalize_wins(store: Store) -> None:
    assert store.records.withdraw(BUFFER, image(1), NOW) is DeleteAction.TOMBSTONE
    assert store.records.add_pending(BUFFER, image(1), NOW) is FinalizeAction.ALREADY_DELETED
    assert store.records.count_pending(BUFFER) == 0


def test_a_delete_of_the_old_generation_keeps_the_new_one(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1, generation=2), NOW)
    assert store.records.withdraw(BUFFER, image(1, generation=1), NOW) is DeleteAction.STALE
    assert store.records.count_pending(BUFFER) == 1


def test_a_claimed_object_cannot_be_withdrawn_only_reported(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    assert store.claim(1, limit=10) is not None
    assert store.records.withdraw(BUFFER, image(1), NOW) is DeleteAction.DELETED_AFTER_REGISTRATION
    assert store.records.add_pending(BUFFER, image(1, generation=5), NOW) is (
        FinalizeAction.OVERWRITES_REGISTERED
    )


def test_a_name_has_one_record_whatever_buffer_its_generations_landed_in(store: Store) -> None:
    text = BufferRef("bkt", "r", ManifestKey.TEXT)
    pdfs = BufferRef("bkt", "r", ManifestKey.PDFS)
    store.records.add_pending(text, StorageObject("bkt", "r/latest", 1), NOW)
    assert store.records.add_pending(pdfs, StorageObject("bkt", "r/latest", 2), NOW) is (
        FinalizeAction.BUFFER
    )
    assert (store.records.count_pending(text), store.records.count_pending(pdfs)) == (0, 1)
    [record] = store.bulk.object_records([("bkt", "r/latest")])
    assert record is not None and record.buffer == pdfs and record.obj.generation == 2


def test_a_tombstone_carries_its_expiry_and_a_new_generation_drops_it(store: Store) -> None:
    expiry = NOW + timedelta(days=30)
    store.records.withdraw(BUFFER, image(1), NOW, expiry)
    assert expire_at_of(store, image(1)) == expiry
    store.records.add_pending(BUFFER, image(1, generation=2), NOW)
    assert expire_at_of(store, image(1)) is None  # a pending record must never expire
    assert store.records.withdraw(BUFFER, image(2), NOW) is DeleteAction.TOMBSTONE
    assert expire_at_of(store, image(2)) is None  # retention off: kept for ever
