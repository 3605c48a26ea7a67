"""A written batch's Encord submission: the fenced transitions, on both stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registration.domain.batch_lifecycle import Declined, Next
from registration.domain.model import BatchRecord
from registration.domain.submission import EncordJobResult, SubmissionState
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, image

DONE = EncordJobResult("DONE", 0, 1, 0, 0, ())
RUNNING = EncordJobResult("PENDING", 1, 0, 0, 0, ())


@pytest.fixture
def written(submitting_store: Store) -> tuple[Store, BatchRecord]:
    store = submitting_store
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None and store.batches.mark_written(claimed.record, NOW)
    batch = store.batches.get(BUFFER, 1)
    assert batch is not None
    return store, batch


def state_of(store: Store) -> tuple[SubmissionState, int, str | None]:
    batch = store.batches.get(BUFFER, 1)
    assert batch is not None and batch.submission is not None
    return batch.submission.state, batch.submission.attempts, batch.submission.job_id


def token_of(decision: object) -> int:
    assert isinstance(decision, Next), decision
    return decision.token


def test_one_instance_at_a_time_begins_and_its_token_is_the_attempt(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    assert token_of(store.submissions.begin_submission(batch, NOW, LEASE)) == 1
    assert store.submissions.begin_submission(batch, NOW, LEASE) is Declined.HELD
    assert state_of(store) == (SubmissionState.SUBMITTING, 1, None)


def test_a_silent_intent_is_taken_over_after_a_lease_and_fences_its_old_writer(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    stalled = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    store.pass_time(LEASE + 0.2)
    taker = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    assert taker == stalled + 1
    assert token_of(store.submissions.record_submitted(batch, taker, "job-2", NOW)) == taker
    done = store.submissions.record_job(batch, taker, DONE, NOW)
    assert isinstance(done, Next) and done.reached_end
    # The stalled writer comes back: whatever it says changes nothing.
    assert store.submissions.record_submitted(batch, stalled, "job-1", NOW) is (Declined.FINISHED)
    later = NOW + timedelta(seconds=30)
    assert store.submissions.record_retry(batch, stalled, later, "timeout") is Declined.FINISHED
    assert state_of(store) == (SubmissionState.DONE, 2, "job-2")


def test_a_stale_writer_is_refused_while_the_new_attempt_is_in_flight(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    stalled = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    store.pass_time(LEASE + 0.2)
    taker = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    assert store.submissions.record_refused(batch, stalled, "no access") is (Declined.STALE_WRITER)
    assert store.submissions.record_submitted(batch, stalled, "job-1", NOW) is (
        Declined.STALE_WRITER
    )
    assert state_of(store) == (SubmissionState.SUBMITTING, taker, None)


def test_a_transient_failure_waits_for_its_next_attempt(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    token = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    later = NOW + timedelta(seconds=30)
    assert isinstance(store.submissions.record_retry(batch, token, later, "503"), Next)
    assert store.submissions.begin_submission(batch, NOW, LEASE) is Declined.NOT_DUE
    assert token_of(store.submissions.begin_submission(batch, later, LEASE)) == token + 1
    got = store.batches.get(BUFFER, 1)
    assert got is not None and got.submission is not None and got.submission.problem == "503"


def test_a_refused_poll_keeps_following_the_job_and_a_missing_job_fails_it(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    token = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    store.submissions.record_submitted(batch, token, "job-1", NOW)
    store.submissions.record_refused(batch, token, "AuthorisationError", next_attempt_at=NOW)
    assert state_of(store) == (SubmissionState.SUBMITTED, token, "job-1")
    assert isinstance(store.submissions.record_job(batch, token, RUNNING, NOW), Next)
    assert state_of(store) == (SubmissionState.SUBMITTED, token, "job-1")
    store.submissions.record_refused(batch, token, "job not found", job_missing=True)
    assert state_of(store)[0] is SubmissionState.FAILED
    assert [b.seq for b in store.submissions.failed_submissions(10)] == [1]
    assert store.submissions.submissions_due(10) == []


def test_the_queries_find_unfinished_submissions_and_an_operator_resubmits_a_finished_one(
    written: tuple[Store, BatchRecord],
) -> None:
    store, batch = written
    assert [b.seq for b in store.submissions.submissions_due(10)] == [1]
    token = token_of(store.submissions.begin_submission(batch, NOW, LEASE))
    store.submissions.record_submitted(batch, token, "job-1", NOW)
    store.submissions.record_job(batch, token, DONE, NOW)
    assert store.submissions.submissions_due(10) == []
    assert store.submissions.resubmit(batch, NOW) is True
    assert state_of(store) == (SubmissionState.PENDING, token, None)
    assert [b.seq for b in store.submissions.submissions_due(10)] == [1]


def test_a_batch_not_yet_written_is_neither_submitted_nor_resubmitted(store: Store) -> None:
    store.records.add_pending(BUFFER, image(1), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(1, limit=10)
    assert claimed is not None
    assert store.submissions.resubmit(claimed.record, NOW) is False
    assert store.submissions.begin_submission(claimed.record, NOW, LEASE) is (
        Declined.NOT_SUBMITTING
    )
