"""A buffer's batches: the lease, the claim, written and invalid marks, retention."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.model import BatchState, BufferQuery, LeaseOutcome
from registration.domain.submission import SubmissionState
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, expire_at_of, image


def test_only_one_caller_gets_the_lease_and_a_stale_lease_is_taken_over(store: Store) -> None:
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ACQUIRED
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.HELD
    store.pass_time(LEASE + 0.2)
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ACQUIRED
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.HELD


def test_a_released_lease_is_free_again_but_a_claim_is_never_released(store: Store) -> None:
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    store.batches.release_lease(BUFFER, 1)
    assert store.batches.get(BUFFER, 1) is None
    store.records.add_pending(BUFFER, image(1), NOW)
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ACQUIRED
    assert store.claim(1, limit=10) is not None
    store.batches.release_lease(BUFFER, 1)
    batch = store.batches.get(BUFFER, 1)
    assert batch is not None and batch.state is BatchState.CLAIMED
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ALREADY_CLAIMED


def test_a_claim_needs_the_lease_on_the_buffers_next_number(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    assert store.claim(1, limit=10) is None  # no lease
    store.batches.acquire_lease(BUFFER, 2, LEASE)
    assert store.claim(2, limit=10) is None  # not the next number
    assert store.records.count_pending(BUFFER) == 1


def test_a_threshold_claim_takes_exactly_the_batch_and_leaves_the_rest(store: Store) -> None:
    for index in range(7):
        store.records.add_pending(BUFFER, image(index), NOW + timedelta(seconds=index))
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    assert store.claim(1, limit=10, minimum=10) is None  # not full: nothing claimed
    claimed = store.claim(1, limit=5, minimum=5)
    assert claimed is not None
    assert sorted(obj.name for obj in claimed.members) == [image(i).name for i in range(5)]
    assert store.records.count_pending(BUFFER) == 2
    assert store.batches.next_seq(BUFFER) == 2
    assert {obj.name for obj in store.batches.members(BUFFER, 1)} == {
        image(i).name for i in range(5)
    }


def test_marking_a_batch_written_twice_counts_it_once(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None
    assert store.batches.mark_written(claimed.record, NOW) is True
    assert store.batches.mark_written(claimed.record, NOW) is False
    assert store.batches.mark_invalid(claimed.record, "too late") is False
    [summary] = store.buffers.page(BufferQuery(), None, 10)
    assert (summary.batches_written, summary.objects_registered) == (1, 1)
    assert summary.last_manifest_url == "gs://bkt/m/1.json"
    assert store.batches.unfinished(BUFFER) == []
    written = store.batches.get(BUFFER, 1)
    assert written is not None and written.state is BatchState.WRITTEN
    assert written.submission is None  # no Encord target
    assert store.batches.acquire_lease(BUFFER, 1, LEASE) is LeaseOutcome.ALREADY_WRITTEN


def test_a_written_batch_awaits_its_submission_when_a_target_is_set(
    submitting_store: Store,
) -> None:
    store = submitting_store
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None and store.batches.mark_written(claimed.record, NOW)
    batch = store.batches.get(BUFFER, 1)
    assert batch is not None and batch.submission is not None
    assert (batch.submission.state, batch.submission.attempts) == (SubmissionState.PENDING, 0)
    assert batch.submission.next_attempt_at == NOW


def test_an_invalid_batch_is_marked_once_and_keeps_its_members(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None
    assert store.batches.mark_invalid(claimed.record, "title too long") is True
    assert store.batches.mark_invalid(claimed.record, "again") is False
    assert store.batches.mark_written(claimed.record, NOW) is False
    batch = store.batches.get(BUFFER, 1)
    assert batch is not None and (batch.state, batch.problem) == (
        BatchState.INVALID,
        "title too long",
    )
    assert [obj.name for obj in store.batches.members(BUFFER, 1)] == [image(1).name]
    assert [b.seq for b in store.batches.in_state(BatchState.INVALID, 10)] == [1]


def test_a_claim_stamps_no_expiry_and_only_a_finished_batchs_members_get_one(store: Store) -> None:
    for index in range(3):
        store.records.add_pending(BUFFER, image(index), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=2)
    assert claimed is not None
    assert [expire_at_of(store, image(i)) for i in range(3)] == [None, None, None]
    expiry = NOW + timedelta(days=7)
    assert store.batches.expire_members(claimed.record, expiry) == 2
    stamped = [expire_at_of(store, obj) for obj in claimed.members]
    assert stamped == [expiry, expiry]
    [left] = [i for i in range(3) if image(i).name not in {o.name for o in claimed.members}]
    assert expire_at_of(store, image(left)) is None  # still pending: never expires
