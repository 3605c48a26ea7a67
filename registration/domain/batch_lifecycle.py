"""Every batch lease and Encord submission transition, decided in one place (pure).

The Firestore adapter and the in-memory fake only load a batch, call a function here, and
save what it returns, in one transaction: neither decides anything itself.

Batch: (none) -> CLAIMING (the lease) -> CLAIMED (members bound) -> WRITTEN or INVALID.

Submission of a WRITTEN batch, with an Encord target:

    PENDING --begin--> SUBMITTING --started--> SUBMITTED --finished--> DONE / ERROR / CANCELLED
       ^                |   ^  |                  |  ^
       +----retry-------+   |  +--refused--> FAILED <--refused (job missing)--+
                            +--take over (lease passed)              polled / retry / refused

Fencing: `begin` and `take over` each count one more attempt, and the attempt number is the
writer's token. Every later write (started, retry, refused, polled, finished) carries the
token its writer began with, and is refused as a stale writer unless the batch still stands
where that writer left it (same attempt, expected state). So an instance that stalled in
Encord's start past its lease, and came back after another instance took over, can change
nothing: it cannot turn a DONE batch back into PENDING, and the next sweep cannot start a
third job. A finished job is never reopened, except by an operator's resubmit.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from registration.domain.links import DatasetLink, LinkEvent, on_link
from registration.domain.model import BatchRecord, BatchState, LeaseOutcome, Submission
from registration.domain.submission import EncordJobResult, SubmissionState

# -- the batch ---------------------------------------------------------------------------------


def on_lease(
    state: BatchState | None, idle_seconds: float | None, lease_seconds: int
) -> LeaseOutcome:
    """What asking for the lease of a batch number finds, given its document (if any).

    ACQUIRED on an existing document means: its holder died before claiming (idle for a
    lease, by the store's clock), so the lease is taken over and renewed.
    """
    if state is None:
        return LeaseOutcome.ACQUIRED
    if state is BatchState.CLAIMED:
        return LeaseOutcome.ALREADY_CLAIMED
    if state in (BatchState.WRITTEN, BatchState.INVALID):
        return LeaseOutcome.ALREADY_WRITTEN  # finished either way: move on to the next number
    if idle_seconds is None or idle_seconds < lease_seconds:
        return LeaseOutcome.HELD
    return LeaseOutcome.ACQUIRED


def may_release(state: BatchState | None) -> bool:
    """Only an unclaimed lease is given back; a claim is never undone."""
    return state is BatchState.CLAIMING


def may_claim(lease: BatchState | None, next_seq: int | None, seq: int) -> bool:
    """A claim binds members only under a live lease on the buffer's next number."""
    return lease is BatchState.CLAIMING and next_seq == seq


def may_mark_written(state: BatchState | None) -> bool:
    """Claimed -> written, once: two finishers of one batch must not count it twice."""
    return state is BatchState.CLAIMED


def may_mark_invalid(state: BatchState | None) -> bool:
    """Claimed -> invalid, once: its members stay bound to it and are rejected."""
    return state is BatchState.CLAIMED


def written_submission(now: datetime, submits: bool) -> Submission | None:
    """The submission a batch carries once its manifest is written: due at once with an
    Encord target, none without."""
    return Submission(SubmissionState.PENDING, next_attempt_at=now) if submits else None


# -- the submission: events ----------------------------------------------------------------


@dataclass(frozen=True)
class Begin:
    """An instance records its intent to start a job (due, and not held by another)."""

    now: datetime


@dataclass(frozen=True)
class TakeOver:
    """The intent's holder has been silent for a lease (by the store's clock)."""

    idle_seconds: float | None
    lease_seconds: int


@dataclass(frozen=True)
class Started:
    """Encord accepted the job: its id is recorded."""

    token: int
    job_id: str
    now: datetime


@dataclass(frozen=True)
class Retry:
    """A transient failure (outage, 429, 5xx, timeout): try again at next_attempt_at.
    On a start, the batch goes back to PENDING; on a poll, the job stays SUBMITTED."""

    token: int
    next_attempt_at: datetime
    problem: str


@dataclass(frozen=True)
class Refused:
    """Encord refused the request. On a start, retrying cannot help: FAILED for a person.
    On a poll, only "this job does not exist" ends it; any other refusal (a key rotation gone
    wrong, say) is retried and alerted, since the job itself may be running fine."""

    token: int
    problem: str
    job_missing: bool = False
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Polled:
    """A poll saw the job still running."""

    token: int
    result: EncordJobResult
    now: datetime


@dataclass(frozen=True)
class Aftermath:
    """What the job's end brought, recorded in the same write as the end (issue 20)."""

    items_matched: int
    items_unmatched: int
    unmatched: tuple[str, ...]
    item_uuids: tuple[str, ...]
    notified_at: datetime | None
    notify_problem: str | None
    links: tuple[DatasetLink, ...]


@dataclass(frozen=True)
class Finished:
    """A poll saw the job's end."""

    token: int
    result: EncordJobResult
    now: datetime
    aftermath: Aftermath | None = None


@dataclass(frozen=True)
class LinkResult:
    """A dataset link's outcome, recorded on a finished batch (domain/links.py decides)."""

    event: LinkEvent


@dataclass(frozen=True)
class Resubmit:
    """An operator's decision: submit the written manifest again, whatever its state."""

    now: datetime


SubmissionEvent = (
    Begin | TakeOver | Started | Retry | Refused | Polled | Finished | Resubmit | LinkResult
)


def poll_event(
    token: int, result: EncordJobResult, now: datetime, aftermath: Aftermath | None = None
) -> Polled | Finished:
    if result.finished:
        return Finished(token, result, now, aftermath)
    return Polled(token, result, now)


# -- the submission: outcomes --------------------------------------------------------------


class Declined(enum.StrEnum):
    """Why an event changes nothing."""

    STALE_WRITER = "stale_writer"  # another attempt took over, or the batch moved on
    NOT_DUE = "not_due"  # pending, but its next attempt is later
    HELD = "held"  # another instance holds the intent and its lease is live
    FINISHED = "finished"  # the job's end is recorded: it is never reopened
    NOT_SUBMITTING = "not_submitting"  # no submission (no target), or not in a state to start
    NOT_WRITTEN = "not_written"  # only a written batch is (re)submitted


@dataclass(frozen=True)
class Next:
    """The event applies: the submission's next value. `token` is the attempt the writer
    holds from now on (for begin and take over, the new one)."""

    submission: Submission

    @property
    def token(self) -> int:
        return self.submission.attempts

    @property
    def reached_end(self) -> bool:
        return not self.submission.state.unfinished


Decision = Next | Declined


def decide(
    batch: BatchState | None, current: Submission | None, event: SubmissionEvent
) -> Decision:
    """The one decision for every submission write: the batch's state and submission as
    loaded, and the event, give the next submission or why nothing changes."""
    if isinstance(event, Resubmit):
        if batch is not BatchState.WRITTEN:
            return Declined.NOT_WRITTEN
        previous = current or Submission(SubmissionState.PENDING)
        return Next(
            replace(
                previous,
                state=SubmissionState.PENDING,
                next_attempt_at=event.now,
                job_id=None,
                problem=None,
                # What followed the old job belongs to it: the new job's end records its own.
                items_matched=None,
                items_unmatched=None,
                unmatched=(),
                item_uuids=(),
                notified_at=None,
                notify_problem=None,
                links=(),
            )
        )
    if batch is not BatchState.WRITTEN or current is None:
        return Declined.NOT_SUBMITTING
    if isinstance(event, LinkResult):
        # Links follow a job's end: the one write a finished submission still takes.
        if current.state.unfinished:
            return Declined.NOT_SUBMITTING
        links = on_link(current.links, event.event)
        return Declined.STALE_WRITER if links is None else Next(replace(current, links=links))
    if isinstance(event, Begin):
        return _begin(current, event)
    if isinstance(event, TakeOver):
        return _take_over(current, event)
    if not current.state.unfinished:
        return Declined.FINISHED
    if event.token != current.attempts:
        return Declined.STALE_WRITER
    if current.state is SubmissionState.SUBMITTING:
        return _after_start(current, event)
    if current.state is SubmissionState.SUBMITTED:
        return _after_poll(current, event)
    return Declined.STALE_WRITER  # PENDING: its writer's attempt was given up on


def begin_event(
    current: Submission | None, now: datetime, idle_seconds: float | None, lease_seconds: int
) -> Begin | TakeOver:
    """The event an instance that wants to submit sends: a take-over of a held intent,
    or a plain begin."""
    if current is not None and current.state is SubmissionState.SUBMITTING:
        return TakeOver(idle_seconds, lease_seconds)
    return Begin(now)


def _begin(current: Submission, event: Begin) -> Decision:
    if current.state is SubmissionState.SUBMITTING:
        return Declined.HELD
    if current.state is not SubmissionState.PENDING:
        return Declined.FINISHED if not current.state.unfinished else Declined.NOT_SUBMITTING
    if current.next_attempt_at is not None and current.next_attempt_at > event.now:
        return Declined.NOT_DUE
    return Next(replace(current, state=SubmissionState.SUBMITTING, attempts=current.attempts + 1))


def _take_over(current: Submission, event: TakeOver) -> Decision:
    if current.state is not SubmissionState.SUBMITTING:
        return Declined.NOT_SUBMITTING
    if event.idle_seconds is None or event.idle_seconds < event.lease_seconds:
        return Declined.HELD
    # Its holder may have died after Encord accepted the job and before the id was kept:
    # one more job, which registers nothing new (skip_duplicate_urls). Its holder may also
    # be alive and stalled: the new token fences off whatever it writes when it comes back.
    return Next(replace(current, attempts=current.attempts + 1))


def _after_start(current: Submission, event: SubmissionEvent) -> Decision:
    if isinstance(event, Started):
        return Next(
            replace(
                current,
                state=SubmissionState.SUBMITTED,
                job_id=event.job_id,
                submitted_at=event.now,
                problem=None,
            )
        )
    if isinstance(event, Retry):
        return Next(
            replace(
                current,
                state=SubmissionState.PENDING,
                next_attempt_at=event.next_attempt_at,
                problem=event.problem,
            )
        )
    if isinstance(event, Refused):
        return Next(replace(current, state=SubmissionState.FAILED, problem=event.problem))
    return Declined.STALE_WRITER  # a poll of a job whose id is not recorded yet


def _after_poll(current: Submission, event: SubmissionEvent) -> Decision:
    if isinstance(event, Polled | Finished):
        result = event.result
        polled = replace(
            current,
            job_status=result.status,
            units_done=result.units_done,
            units_error=result.units_error,
            units_pending=result.units_pending,
            units_cancelled=result.units_cancelled,
            last_polled_at=event.now,
            problem=None,
            # To the back of the queue: the sweep takes unfinished submissions in order of
            # their next attempt, so with more jobs than one sweep can poll, each gets its
            # turn instead of the oldest being polled again and again.
            next_attempt_at=event.now,
        )
        if isinstance(event, Finished) and result.finished:
            ended = replace(polled, state=result.final_state, finished_at=event.now)
            after = event.aftermath
            if after is not None:
                ended = replace(
                    ended,
                    items_matched=after.items_matched,
                    items_unmatched=after.items_unmatched,
                    unmatched=after.unmatched,
                    item_uuids=after.item_uuids,
                    notified_at=after.notified_at,
                    notify_problem=after.notify_problem,
                    links=after.links,
                )
            return Next(ended)
        return Next(polled)
    if isinstance(event, Refused) and event.job_missing:
        return Next(replace(current, state=SubmissionState.FAILED, problem=event.problem))
    if isinstance(event, Retry | Refused):
        # The job keeps running whatever our poll met: keep following it, and say why.
        return Next(replace(current, problem=event.problem, next_attempt_at=event.next_attempt_at))
    return Declined.STALE_WRITER  # a start's answer, for a job that already has its id


# -- the port's writes, as events ------------------------------------------------------------

# What a submission decision is made from: the batch's state, its submission as loaded, and
# how long the batch document has been idle by the store's clock.
DecisionOf = Callable[[BatchState | None, Submission | None, float | None], Decision]


class SubmissionWrites(abc.ABC):
    """The writes of services.ports.Submissions, each turned into one event here, so that a
    store (the Firestore adapter, the in-memory fake) implements only `apply_decision`:
    load the batch, call decision_of, save a Next, in one transaction."""

    @abc.abstractmethod
    def apply_decision(
        self, batch: BatchRecord, decision_of: DecisionOf, *, intent: bool = False
    ) -> Decision:
        """intent: the decision may begin an attempt (the store may stamp when)."""

    def begin_submission(self, batch: BatchRecord, now: datetime, lease_seconds: int) -> Decision:
        """Record the intent to submit: a Next for exactly one instance at a time, whose
        token (its attempt number) fences every later write of that instance."""

        def begin(
            state: BatchState | None, current: Submission | None, idle: float | None
        ) -> Decision:
            return decide(state, current, begin_event(current, now, idle, lease_seconds))

        return self.apply_decision(batch, begin, intent=True)

    def record_submitted(
        self, batch: BatchRecord, token: int, job_id: str, now: datetime
    ) -> Decision:
        return self._event(batch, Started(token, job_id, now))

    def record_retry(
        self, batch: BatchRecord, token: int, next_attempt_at: datetime, problem: str
    ) -> Decision:
        return self._event(batch, Retry(token, next_attempt_at, problem))

    def record_refused(
        self,
        batch: BatchRecord,
        token: int,
        problem: str,
        *,
        job_missing: bool = False,
        next_attempt_at: datetime | None = None,
    ) -> Decision:
        return self._event(batch, Refused(token, problem, job_missing, next_attempt_at))

    def record_job(
        self,
        batch: BatchRecord,
        token: int,
        result: EncordJobResult,
        now: datetime,
        aftermath: Aftermath | None = None,
    ) -> Decision:
        return self._event(batch, poll_event(token, result, now, aftermath))

    def record_link(self, batch: BatchRecord, event: LinkEvent) -> Decision:
        return self._event(batch, LinkResult(event))

    def resubmit(self, batch: BatchRecord, now: datetime) -> bool:
        return isinstance(self._event(batch, Resubmit(now)), Next)

    def _event(self, batch: BatchRecord, event: SubmissionEvent) -> Decision:
        return self.apply_decision(
            batch, lambda state, current, _idle: decide(state, current, event)
        )
