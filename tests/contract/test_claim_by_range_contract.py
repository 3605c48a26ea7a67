"""Claims by range (domain/claim_range.py), on both stores: a claim writes its batch and its
buffer's cursor, never a member, and a record the cursor covers is claimed all the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from registration.domain.encord_items import ObjectOutcome
from registration.domain.lifecycle import DeleteAction, EncordOutcome, FinalizeAction, ObjectState
from registration.domain.model import ClaimedBatch, LeaseOutcome, StorageObject, stable_id
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, image


def names(objects: Sequence[StorageObject]) -> list[str]:
    return [obj.name for obj in objects]


def claim(store: Store, seq: int, limit: int) -> ClaimedBatch:
    assert store.batches.acquire_lease(BUFFER, seq, LEASE) is LeaseOutcome.ACQUIRED
    claimed = store.claim(seq, limit=limit)
    assert claimed is not None
    return claimed


def states(store: Store, count: int) -> list[tuple[ObjectState, int | None]]:
    """Each image's state and batch, as trace reads them (with_batch)."""
    items = [("bkt", image(index).name) for index in range(count)]
    found = store.bulk.object_records(items, with_batch=True)
    assert all(found)
    return [(record.state, record.batch) for record in found if record]


def queue(store: Store, count: int) -> None:
    """Images 0 .. count-1 queued in BUFFER, in that order."""
    for index in range(count):
        store.records.add_pending(BUFFER, image(index), NOW)


def test_a_claims_members_are_claimed_and_named_by_their_batch_though_none_was_written(
    store: Store,
) -> None:
    for index in range(5):
        store.records.add_pending(BUFFER, image(index), NOW + timedelta(seconds=index))
    first = claim(store, 1, limit=2)
    second = claim(store, 2, limit=2)
    assert names(first.members) == [image(0).name, image(1).name]
    assert names(second.members) == [image(2).name, image(3).name]
    assert store.records.count_pending(BUFFER) == 1
    assert store.records.oldest_pending_at(BUFFER) == NOW + timedelta(seconds=4)
    claimed, pending = ObjectState.CLAIMED, ObjectState.PENDING
    assert states(store, 5) == [
        (claimed, 1),
        (claimed, 1),
        (claimed, 2),
        (claimed, 2),
        (pending, None),
    ]
    live = {record.obj.name: record.state for record in store.bulk.live_records("bkt", "site-a/")}
    assert live == {image(i).name: claimed if i < 4 else pending for i in range(5)}
    assert names(store.batches.members(BUFFER, 1)) == names(first.members)
    assert names(store.batches.members(BUFFER, 2)) == names(second.members)


def test_a_members_redelivery_delete_and_newer_generation_are_reported_and_leave_it_in_its_batch(
    store: Store,
) -> None:
    queue(store, 3)
    claimed = claim(store, 1, limit=2)
    member, other = claimed.members
    assert store.records.add_pending(BUFFER, member, NOW) is FinalizeAction.DUPLICATE
    assert store.records.withdraw(BUFFER, member, NOW) is DeleteAction.DELETED_AFTER_REGISTRATION
    newer = StorageObject(member.bucket, member.name, 2, size=10)
    assert store.records.add_pending(BUFFER, newer, NOW) is FinalizeAction.OVERWRITES_REGISTERED
    assert store.records.withdraw(BUFFER, other, NOW) is DeleteAction.DELETED_AFTER_REGISTRATION
    assert store.records.count_pending(BUFFER) == 1
    assert names(store.batches.members(BUFFER, 1)) == names(claimed.members)
    [record] = store.bulk.object_records([(member.bucket, member.name)], with_batch=True)
    assert record is not None and (record.state, record.batch) == (ObjectState.CLAIMED, 1)
    assert record.obj.generation == 1
    assert [item.buffer for item in store.records.pending_buffers(None, 10)] == [BUFFER]


def test_a_member_written_on_stays_claimed_and_one_that_encord_refused_leaves_for_a_new_batch(
    store: Store,
) -> None:
    queue(store, 2)
    claimed = claim(store, 1, limit=10)
    assert store.outcomes is not None
    outcomes = [
        ObjectOutcome("bkt", image(0).name, 1, EncordOutcome.REGISTERED, "job-1", "item-0"),
        ObjectOutcome("bkt", image(1).name, 1, EncordOutcome.REFUSED, "job-1", None),
    ]
    assert store.outcomes.record_outcomes(outcomes) == 2
    assert states(store, 2) == [(ObjectState.CLAIMED, 1), (ObjectState.CLAIMED, 1)]
    assert store.records.add_pending(BUFFER, image(1, 2), NOW) is FinalizeAction.BUFFER
    assert names(store.batches.members(BUFFER, 1)) == [image(0).name]
    assert store.records.count_pending(BUFFER) == 1
    again = claim(store, 2, limit=10)
    assert [(obj.name, obj.generation) for obj in again.members] == [(image(1).name, 2)]
    assert states(store, 2) == [(ObjectState.CLAIMED, 1), (ObjectState.CLAIMED, 2)]
    assert names(claimed.members) == [image(0).name, image(1).name]


def test_a_claim_takes_records_in_the_order_they_were_queued_whatever_their_names_or_clocks(
    store: Store,
) -> None:
    # Queued zz, aa, mm, by instances whose clocks disagree: the queue's order is the
    # order of the writes, and the oldest and newest times are its first and last's.
    arrivals = [("zz", 10), ("aa", 0), ("mm", 5)]
    for name, seconds in arrivals:
        obj = StorageObject("bkt", f"site-a/cam 1/{name}.jpg", 1)
        store.records.add_pending(BUFFER, obj, NOW + timedelta(seconds=seconds))
    assert store.records.oldest_pending_at(BUFFER) == NOW + timedelta(seconds=10)
    assert store.records.newest_pending_at(BUFFER) == NOW + timedelta(seconds=5)
    [found] = store.records.pending_buffers(None, 10)
    assert found.oldest_pending_at == NOW + timedelta(seconds=10)
    claimed = claim(store, 1, limit=2)
    assert names(claimed.members) == ["site-a/cam 1/zz.jpg", "site-a/cam 1/aa.jpg"]
    assert store.records.oldest_pending_at(BUFFER) == NOW + timedelta(seconds=5)


def test_a_backfill_page_is_queued_by_one_commit_so_its_names_go_in_document_id_order(
    store: Store,
) -> None:
    page = [image(index) for index in range(6)]
    actions = store.bulk.add_pending_many([(BUFFER, obj) for obj in page], NOW)
    assert actions == [FinalizeAction.BUFFER] * 6
    claimed = claim(store, 1, limit=6)
    by_id = sorted(page, key=lambda obj: stable_id(obj.bucket, obj.name))
    assert names(claimed.members) == names(by_id)
    assert names(store.batches.members(BUFFER, 1)) == names(by_id)


def test_a_buffer_claimed_to_its_end_has_nothing_pending_and_is_no_longer_found(
    store: Store,
) -> None:
    queue(store, 2)
    claim(store, 1, limit=10)
    assert store.records.count_pending(BUFFER) == 0
    assert store.records.oldest_pending_at(BUFFER) is None
    assert store.records.newest_pending_at(BUFFER) is None
    assert store.records.pending_buffers(None, 10) == []
    assert store.records.add_pending(BUFFER, image(2), NOW) is FinalizeAction.BUFFER
    assert [item.buffer for item in store.records.pending_buffers(None, 10)] == [BUFFER]
    assert names(claim(store, 2, limit=10).members) == [image(2).name]


def test_deletes_while_a_lease_is_held_never_keep_a_dead_holders_lease_alive(
    store: Store,
) -> None:
    # Firestore's fence (claim_range.must_fence) writes on the held lease; the lease's age
    # still counts from when it was taken, so a stream of deletes cannot keep it held.
    queue(store, 3)
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ACQUIRED
    store.pass_time(LEASE * 0.6)
    assert store.records.withdraw(BUFFER, image(0), NOW) is DeleteAction.WITHDRAW
    store.pass_time(LEASE * 0.6)
    assert store.records.withdraw(BUFFER, image(1), NOW) is DeleteAction.WITHDRAW
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ACQUIRED
    claimed = store.claim(1, limit=10)
    assert claimed is not None and names(claimed.members) == [image(2).name]
