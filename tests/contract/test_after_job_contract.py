"""What follows a job's end, on both stores: outcomes written on the records, dataset links."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.batch_lifecycle import Aftermath, Declined, Next
from registration.domain.encord_items import ObjectOutcome
from registration.domain.lifecycle import EncordOutcome, FinalizeAction
from registration.domain.links import Linked, LinkRefused, LinkRetry, LinkState, new_links
from registration.domain.model import BatchRecord
from registration.domain.submission import EncordJobResult
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, image

DONE = EncordJobResult("DONE", 0, 2, 0, 0, ())
ITEM = "0b9c3d4e-1111-4222-8333-944455556666"


def claimed(store: Store, count: int = 2) -> BatchRecord:
    for index in range(count):
        store.records.add_pending(BUFFER, image(index), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    batch = store.claim(1, limit=10)
    assert batch is not None and store.batches.mark_written(batch.record, NOW)
    written = store.batches.get(BUFFER, 1)
    assert written is not None
    return written


def outcome(index: int, kind: EncordOutcome, generation: int = 1) -> ObjectOutcome:
    obj = image(index, generation)
    item = ITEM if kind is EncordOutcome.REGISTERED else None
    return ObjectOutcome(obj.bucket, obj.name, generation, kind, "job-1", item)


def record_of(store: Store, index: int) -> object:
    obj = image(index)
    [found] = store.bulk.object_records([(obj.bucket, obj.name)])
    return found


def test_a_jobs_outcomes_land_on_the_claimed_records_of_their_generation_only(
    submitting_store: Store,
) -> None:
    store = submitting_store
    claimed(store, count=3)
    assert store.outcomes is not None
    written = store.outcomes.record_outcomes(
        [
            outcome(0, EncordOutcome.REGISTERED),
            outcome(1, EncordOutcome.REFUSED),
            outcome(2, EncordOutcome.REGISTERED, generation=7),  # not the record's generation
            outcome(9, EncordOutcome.REGISTERED),  # no record at all
        ]
    )
    assert written == 2
    first, second, third = (record_of(store, i) for i in range(3))
    assert (first.encord, first.item_uuid, first.job_id) == ("registered", ITEM, "job-1")  # type: ignore[attr-defined]
    assert (second.encord, second.item_uuid) == ("refused", None)  # type: ignore[attr-defined]
    assert third.encord is None  # type: ignore[attr-defined]
    # Again (a redelivered sweep): the same outcome is harmless, another is never written.
    again = [outcome(0, EncordOutcome.REGISTERED), outcome(0, EncordOutcome.REFUSED)]
    assert store.outcomes.record_outcomes(again) == 1
    assert record_of(store, 0).encord == "registered"  # type: ignore[attr-defined]


def test_a_refused_record_takes_a_newer_generation_and_a_registered_one_reports_it(
    submitting_store: Store,
) -> None:
    store = submitting_store
    claimed(store)
    assert store.outcomes is not None
    store.outcomes.record_outcomes(
        [outcome(0, EncordOutcome.REGISTERED), outcome(1, EncordOutcome.REFUSED)]
    )
    assert store.records.add_pending(BUFFER, image(0, 2), NOW) is (
        FinalizeAction.OVERWRITES_REGISTERED
    )
    assert store.records.add_pending(BUFFER, image(1, 2), NOW) is FinalizeAction.BUFFER
    back = record_of(store, 1)
    assert (back.state, back.obj.generation, back.encord) == ("pending", 2, None)  # type: ignore[attr-defined]
    # The old generation's outcome never lands on the new record.
    assert store.outcomes.record_outcomes([outcome(1, EncordOutcome.REFUSED)]) == 0


def ended(store: Store, datasets: tuple[str, ...]) -> BatchRecord:
    batch = claimed(store)
    token = store.submissions.begin_submission(batch, NOW, LEASE)
    assert isinstance(token, Next)
    store.submissions.record_submitted(batch, token.token, "job-1", NOW)
    after = Aftermath(2, 0, (), (ITEM,), NOW, None, new_links(datasets, NOW))
    decision = store.submissions.record_job(batch, token.token, DONE, NOW, after)
    assert isinstance(decision, Next) and decision.reached_end
    found = store.batches.get(BUFFER, 1)
    assert found is not None
    return found


def test_links_are_due_with_the_jobs_end_recorded_once_each_and_then_no_longer_found(
    submitting_store: Store,
) -> None:
    store = submitting_store
    batch = ended(store, ("ds-a", "ds-b"))
    assert batch.submission is not None and batch.submission.item_uuids == (ITEM,)
    assert batch.submission.notified_at is not None
    assert [b.seq for b in store.submissions.links_due(NOW, 10)] == [1]

    assert isinstance(store.submissions.record_link(batch, Linked("ds-a", 0, 1, 0)), Next)
    # A second writer that began from the same attempt is declined: done exactly once.
    assert store.submissions.record_link(batch, Linked("ds-a", 0, 0, 1)) is Declined.STALE_WRITER
    later = NOW + timedelta(seconds=30)
    retry = LinkRetry("ds-b", 0, later, "Encord unavailable")
    assert isinstance(store.submissions.record_link(batch, retry), Next)
    assert store.submissions.links_due(NOW, 10) == []  # its retry is not due yet
    assert [b.seq for b in store.submissions.links_due(later, 10)] == [1]
    assert isinstance(store.submissions.record_link(batch, Linked("ds-b", 1, 1, 0)), Next)
    assert store.submissions.links_due(later + timedelta(days=1), 10) == []

    final = store.batches.get(BUFFER, 1)
    assert final is not None and final.submission is not None
    assert [(k.dataset, k.state, k.attempts, k.linked) for k in final.submission.links] == [
        ("ds-a", LinkState.DONE, 1, 1),
        ("ds-b", LinkState.DONE, 2, 1),
    ]
    assert store.submissions.failed_follow_ups(10) == []


def test_a_refused_link_is_for_a_person_and_never_due_again(submitting_store: Store) -> None:
    store = submitting_store
    batch = ended(store, ("ds-a",))
    refused = LinkRefused("ds-a", 0, "no access to the dataset")
    assert isinstance(store.submissions.record_link(batch, refused), Next)
    assert store.submissions.links_due(NOW + timedelta(days=1), 10) == []
    assert [b.seq for b in store.submissions.failed_follow_ups(10)] == [1]


def test_a_link_result_for_an_unfinished_job_changes_nothing(submitting_store: Store) -> None:
    store = submitting_store
    batch = claimed(store)
    result = store.submissions.record_link(batch, Linked("ds-a", 0, 1, 0))
    assert result is Declined.NOT_SUBMITTING


def test_a_resubmitted_batch_forgets_what_followed_its_old_job(submitting_store: Store) -> None:
    store = submitting_store
    batch = ended(store, ("ds-a",))
    assert store.submissions.resubmit(batch, NOW)
    again = store.batches.get(BUFFER, 1)
    assert again is not None and again.submission is not None
    assert (again.submission.links, again.submission.item_uuids) == ((), ())
    assert again.submission.notified_at is None
    assert store.submissions.links_due(NOW + timedelta(days=1), 10) == []
