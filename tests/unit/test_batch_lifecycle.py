"""The batch lease and submission state machine (domain/batch_lifecycle.py), alone.

Each transition, each fenced refusal, and a hypothesis run that interleaves two prompt
instances with a third that stalls inside Encord's start past its lease: a manifest is
started at most twice (the documented window) and never three times, and a finished job is
never reopened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from registration.domain.batch_lifecycle import (
    Begin,
    Declined,
    Finished,
    Next,
    Polled,
    Refused,
    Resubmit,
    Retry,
    Started,
    TakeOver,
    begin_event,
    decide,
    may_claim,
    may_mark_invalid,
    may_mark_written,
    may_release,
    on_lease,
    poll_event,
    written_submission,
)
from registration.domain.model import BatchState, LeaseOutcome, Submission
from registration.domain.submission import EncordJobResult, SubmissionState

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
LEASE = 60
WRITTEN = BatchState.WRITTEN
DONE = EncordJobResult("DONE", 0, 3, 0, 0, ())
RUNNING = EncordJobResult("PENDING", 3, 0, 0, 0, ())


def pending(attempts: int = 0, due: datetime = NOW) -> Submission:
    return Submission(SubmissionState.PENDING, attempts=attempts, next_attempt_at=due)


def submitting(attempts: int = 1) -> Submission:
    return Submission(SubmissionState.SUBMITTING, attempts=attempts)


def submitted(attempts: int = 1, job: str = "job-1") -> Submission:
    return Submission(SubmissionState.SUBMITTED, attempts=attempts, job_id=job)


def moved(decision: object) -> Submission:
    assert isinstance(decision, Next), decision
    return decision.submission


# -- the batch -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "idle", "outcome"),
    [
        (None, None, LeaseOutcome.ACQUIRED),
        (BatchState.CLAIMING, 10.0, LeaseOutcome.HELD),
        (BatchState.CLAIMING, None, LeaseOutcome.HELD),
        (BatchState.CLAIMING, 60.0, LeaseOutcome.ACQUIRED),
        (BatchState.CLAIMED, 999.0, LeaseOutcome.ALREADY_CLAIMED),
        (BatchState.WRITTEN, 999.0, LeaseOutcome.ALREADY_WRITTEN),
        (BatchState.INVALID, 999.0, LeaseOutcome.ALREADY_WRITTEN),
    ],
)
def test_a_lease_is_acquired_only_when_free_or_dead_for_a_lease(
    state: BatchState | None, idle: float | None, outcome: LeaseOutcome
) -> None:
    assert on_lease(state, idle, LEASE) is outcome


def test_only_an_unclaimed_lease_is_released_and_only_a_live_lease_on_the_next_number_claims() -> (
    None
):
    assert [may_release(s) for s in BatchState] == [True, False, False, False]
    assert may_claim(BatchState.CLAIMING, 4, 4)
    assert not may_claim(BatchState.CLAIMING, 5, 4)
    assert not may_claim(BatchState.CLAIMED, 4, 4)
    assert not may_claim(None, 4, 4)


def test_only_a_claimed_batch_becomes_written_or_invalid_and_only_once() -> None:
    for state in (None, *BatchState):
        assert may_mark_written(state) is (state is BatchState.CLAIMED)
        assert may_mark_invalid(state) is (state is BatchState.CLAIMED)


def test_a_written_batch_awaits_its_submission_only_with_a_target() -> None:
    assert written_submission(NOW, submits=False) is None
    assert written_submission(NOW, submits=True) == pending()


# -- the submission ------------------------------------------------------------------------


def test_begin_takes_a_due_pending_submission_and_counts_the_attempt_as_the_token() -> None:
    decision = decide(WRITTEN, pending(attempts=2), Begin(NOW))
    assert isinstance(decision, Next) and decision.token == 3
    assert decision.submission.state is SubmissionState.SUBMITTING


def test_begin_waits_for_the_next_attempt_and_never_for_a_held_or_finished_submission() -> None:
    assert decide(WRITTEN, pending(due=NOW + timedelta(seconds=1)), Begin(NOW)) is (
        Declined.NOT_DUE
    )
    assert decide(WRITTEN, submitting(), Begin(NOW)) is Declined.HELD
    done = Submission(SubmissionState.DONE, attempts=1, job_id="j")
    assert decide(WRITTEN, done, Begin(NOW)) is Declined.FINISHED
    assert decide(WRITTEN, None, Begin(NOW)) is Declined.NOT_SUBMITTING
    assert decide(BatchState.CLAIMED, pending(), Begin(NOW)) is Declined.NOT_SUBMITTING


def test_a_silent_intent_is_taken_over_only_after_a_lease_with_a_new_token() -> None:
    assert begin_event(submitting(), NOW, 30.0, LEASE) == TakeOver(30.0, LEASE)
    assert begin_event(pending(), NOW, 30.0, LEASE) == Begin(NOW)
    assert decide(WRITTEN, submitting(), TakeOver(59.9, LEASE)) is Declined.HELD
    assert decide(WRITTEN, submitting(), TakeOver(None, LEASE)) is Declined.HELD
    taken = decide(WRITTEN, submitting(attempts=1), TakeOver(60.0, LEASE))
    assert isinstance(taken, Next) and taken.token == 2
    assert taken.submission.state is SubmissionState.SUBMITTING


@pytest.mark.parametrize(
    "event",
    [
        Started(1, "job-1", NOW),
        Retry(1, NOW, "503"),
        Refused(1, "no access"),
        Polled(1, RUNNING, NOW),
        Finished(1, DONE, NOW),
    ],
    ids=["started", "retry", "refused", "polled", "finished"],
)
def test_a_writer_whose_attempt_was_taken_over_is_refused_as_stale(event: object) -> None:
    taken_over = submitting(attempts=2)
    assert decide(WRITTEN, taken_over, event) is Declined.STALE_WRITER  # type: ignore[arg-type]
    assert decide(WRITTEN, submitted(attempts=2), event) is Declined.STALE_WRITER  # type: ignore[arg-type]


def test_started_records_the_job_and_a_start_failure_goes_back_to_pending_or_to_failed() -> None:
    got = moved(decide(WRITTEN, submitting(), Started(1, "job-9", NOW)))
    assert (got.state, got.job_id, got.submitted_at) == (SubmissionState.SUBMITTED, "job-9", NOW)
    later = NOW + timedelta(seconds=30)
    got = moved(decide(WRITTEN, submitting(), Retry(1, later, "503")))
    assert (got.state, got.next_attempt_at, got.problem) == (SubmissionState.PENDING, later, "503")
    got = moved(decide(WRITTEN, submitting(), Refused(1, "no access")))
    assert (got.state, got.problem) == (SubmissionState.FAILED, "no access")


def test_a_poll_keeps_a_running_job_submitted_and_records_its_end() -> None:
    got = moved(decide(WRITTEN, submitted(), poll_event(1, RUNNING, NOW)))
    assert (got.state, got.job_status, got.units_pending) == (
        SubmissionState.SUBMITTED,
        "PENDING",
        3,
    )
    got = moved(decide(WRITTEN, submitted(), poll_event(1, DONE, NOW)))
    assert (got.state, got.finished_at, got.units_done) == (SubmissionState.DONE, NOW, 3)


def test_a_refused_poll_is_retried_and_only_a_missing_job_ends_it() -> None:
    later = NOW + timedelta(minutes=1)
    got = moved(decide(WRITTEN, submitted(), Refused(1, "AuthorisationError", False, later)))
    assert (got.state, got.job_id, got.problem, got.next_attempt_at) == (
        SubmissionState.SUBMITTED,
        "job-1",
        "AuthorisationError",
        later,
    )
    got = moved(decide(WRITTEN, submitted(), Refused(1, "no such job", job_missing=True)))
    assert got.state is SubmissionState.FAILED
    got = moved(decide(WRITTEN, submitted(), Retry(1, later, "503")))
    assert got.state is SubmissionState.SUBMITTED and got.problem == "503"


@pytest.mark.parametrize(
    "final", [SubmissionState.DONE, SubmissionState.ERROR, SubmissionState.CANCELLED]
)
def test_a_finished_job_is_never_reopened_by_any_writer(final: SubmissionState) -> None:
    ended = Submission(final, attempts=1, job_id="job-1")
    for event in (
        Started(1, "job-1", NOW),
        Retry(1, NOW, "timeout"),
        Refused(1, "refused"),
        Polled(1, RUNNING, NOW),
        Finished(1, DONE, NOW),
        Begin(NOW),
        TakeOver(10**6, LEASE),
    ):
        decision = decide(WRITTEN, ended, event)
        assert not isinstance(decision, Next), event


def test_only_an_operator_resubmits_and_only_a_written_batch() -> None:
    ended = Submission(SubmissionState.FAILED, attempts=4, job_id="j", problem="no access")
    got = moved(decide(WRITTEN, ended, Resubmit(NOW)))
    assert (got.state, got.attempts, got.job_id, got.problem, got.next_attempt_at) == (
        SubmissionState.PENDING,
        4,
        None,
        None,
        NOW,
    )
    assert moved(decide(WRITTEN, None, Resubmit(NOW))).state is SubmissionState.PENDING
    assert decide(BatchState.CLAIMED, ended, Resubmit(NOW)) is Declined.NOT_WRITTEN


# -- interleaving: two prompt instances and a stalled third --------------------------------


@dataclass
class World:
    """One batch document, Encord's jobs for its manifest, and a clock."""

    submission: Submission = field(default_factory=pending)
    updated: datetime = NOW
    now: datetime = NOW
    jobs: int = 0
    finished_job: str | None = None
    stalled_token: int | None = None
    stalled_job: str | None = None

    def apply(self, decision: object) -> Next | None:
        if isinstance(decision, Next):
            self.submission = decision.submission
            self.updated = self.now
            return decision
        return None

    def idle(self) -> float:
        return (self.now - self.updated).total_seconds()

    def begin(self) -> int | None:
        event = begin_event(self.submission, self.now, self.idle(), LEASE)
        began = self.apply(decide(WRITTEN, self.submission, event))
        return None if began is None else began.token

    def new_job(self) -> str:
        self.jobs += 1
        return f"job-{self.jobs}"


def prompt_submit(world: World, fails: bool) -> None:
    """A prompt instance: begin, call Encord, record, all well within its lease. A failure
    is a 503 before Encord accepted anything."""
    token = world.begin()
    if token is None:
        return
    if fails:
        world.apply(decide(WRITTEN, world.submission, Retry(token, world.now, "503")))
    else:
        job = world.new_job()
        world.apply(decide(WRITTEN, world.submission, Started(token, job, world.now)))


def prompt_poll(world: World) -> None:
    current = world.submission
    if current.state is not SubmissionState.SUBMITTED or current.job_id is None:
        return
    event = poll_event(current.attempts, DONE, world.now)
    if world.apply(decide(WRITTEN, current, event)) is not None:
        world.finished_job = current.job_id


# Instances A and B are prompt: each of their steps begins, calls Encord and records
# within its lease, so the two differ only in when they act, which the order of steps
# already varies. The stalled instance begins, then Encord accepts its job (or not) while
# leases pass and others act, then its call returns or its client times out.
PROMPT_STEPS = ("a_submits", "b_submits", "a_fails", "a_polls", "b_polls")


@st.composite
def interleavings(draw: st.DrawFn) -> list[str]:
    """Prompt steps and passing leases, with the stalled instance's steps at random places
    among them (in their own order), so that every example has a stall to survive."""
    steps = draw(st.lists(st.sampled_from((*PROMPT_STEPS, "lease_passes")), max_size=12))
    stalled = ["stalled_begins"]
    if draw(st.booleans()):
        stalled.append("stalled_job_accepted")
    stalled.append(draw(st.sampled_from(("stalled_returns_job", "stalled_times_out"))))
    places = sorted(draw(st.integers(0, len(steps))) for _ in stalled)
    for offset, (place, step) in enumerate(zip(places, stalled, strict=True)):
        steps.insert(place + offset, step)
    return steps


FINDING_2 = [
    "stalled_begins",
    "stalled_job_accepted",
    "lease_passes",
    "b_submits",
    "b_polls",
    "stalled_times_out",
    "a_submits",
]


@settings(max_examples=500, deadline=None)
@example(steps=FINDING_2)
@given(steps=interleavings())
def test_a_manifest_is_started_at_most_twice_and_a_finished_job_is_never_reopened(
    steps: list[str],
) -> None:
    world = World()
    stalled_done = False
    for step in steps:
        before = world.submission
        if step in ("a_submits", "b_submits"):
            prompt_submit(world, fails=False)
        elif step == "a_fails":
            prompt_submit(world, fails=True)
        elif step in ("a_polls", "b_polls"):
            prompt_poll(world)
        elif step == "lease_passes":
            world.now += timedelta(seconds=LEASE + 1)
        elif step == "stalled_begins" and world.stalled_token is None and not stalled_done:
            world.stalled_token = world.begin()
        elif step == "stalled_job_accepted" and world.stalled_token is not None:
            world.stalled_job = world.stalled_job or world.new_job()
        elif step in ("stalled_returns_job", "stalled_times_out") and world.stalled_token:
            token, job = world.stalled_token, world.stalled_job
            if step == "stalled_returns_job" and job is not None:
                event: object = Started(token, job, world.now)
            else:  # the client gave up; Encord may or may not have accepted it
                event = Retry(token, world.now, "timeout; the job may have been created")
            world.apply(decide(WRITTEN, world.submission, event))  # type: ignore[arg-type]
            world.stalled_token, stalled_done = None, True
        assert world.jobs <= 2, steps
        if not before.state.unfinished:
            assert world.submission == before, (step, steps)  # a finished job stays finished
    if world.finished_job is not None:
        assert world.submission.state is SubmissionState.DONE
        assert world.submission.job_id == world.finished_job
