"""A written manifest's way into Encord: submission states, job outcomes, retry timing (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, NamedTuple

JobStatus = Literal["PENDING", "DONE", "ERROR", "CANCELLED"]
FINISHED_STATUSES: frozenset[JobStatus] = frozenset({"DONE", "ERROR", "CANCELLED"})

# The first retry after a transient failure, and the longest wait between two attempts.
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
# Encord's Retry-After is trusted up to this: a huge value (a bug, or a hostile answer)
# would overflow the datetime it is added to, and stall a batch for ever.
LONGEST_RETRY_AFTER = timedelta(hours=1)
# Doublings from FIRST_RETRY past which the backoff is LONGEST_RETRY anyway (30 s * 2**7 > 1 h).
_LAST_DOUBLING = 7


class SubmissionState(enum.StrEnum):
    """A written batch's submission to Encord, when a target is configured.

    PENDING -> SUBMITTING (intent recorded: one instance holds the submission lease)
    -> SUBMITTED (the job id is recorded) -> DONE / ERROR / CANCELLED (the job's end).
    A transient failure (outage, 429, 5xx) goes back to PENDING with a time for the next
    attempt; a refusal that retrying cannot fix is FAILED, for a person to look at.
    """

    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def unfinished(self) -> bool:
        return self in UNFINISHED_SUBMISSIONS

    @property
    def needs_attention(self) -> bool:
        """Ended without registering everything: a person decides what happens next."""
        return self in ATTENTION_SUBMISSIONS


UNFINISHED_SUBMISSIONS = frozenset(
    {SubmissionState.PENDING, SubmissionState.SUBMITTING, SubmissionState.SUBMITTED}
)
ATTENTION_SUBMISSIONS = frozenset(
    {SubmissionState.FAILED, SubmissionState.ERROR, SubmissionState.CANCELLED}
)


class EncordUnitError(NamedTuple):
    """One unit (an item, or a whole group or series) that Encord could not register."""

    object_urls: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class EncordItem:
    """One storage item a job created: a file, or one group or series over many files."""

    item_uuid: str
    name: str
    # The item's objectUrl when the gateway looked it up; None for a group or series (one
    # item over many files has no URL of its own) or when it was not asked for.
    url: str | None = None
    # The legacy dataset target's data row backed by this item (None for a folder target).
    data_hash: str | None = None


@dataclass(frozen=True)
class EncordJobResult:
    """An upload job as one poll saw it. With ignore_errors, a job with failed files is DONE."""

    status: JobStatus
    units_pending: int
    units_done: int
    units_error: int
    units_cancelled: int
    unit_errors: tuple[EncordUnitError, ...]
    # The items a finished job created, when the poll's answer lists them (items_listed);
    # otherwise services/aftermath.py asks for them (EncordJobItems).
    items: tuple[EncordItem, ...] = ()
    items_listed: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def final_state(self) -> SubmissionState:
        return {
            "DONE": SubmissionState.DONE,
            "ERROR": SubmissionState.ERROR,
            "CANCELLED": SubmissionState.CANCELLED,
        }.get(self.status, SubmissionState.SUBMITTED)


def retry_delay(attempts: int, retry_after_seconds: float | None = None) -> timedelta:
    """Exponential backoff from FIRST_RETRY, capped at LONGEST_RETRY; never sooner than
    Encord's own Retry-After, itself capped at LONGEST_RETRY_AFTER.

    The exponent is clamped before the power is taken: after weeks of retries the attempt
    count is large, and 2**attempts would overflow timedelta inside the caller's handler.
    """
    doublings = min(max(0, attempts - 1), _LAST_DOUBLING)
    delay: timedelta = min(FIRST_RETRY * (2**doublings), LONGEST_RETRY)
    if retry_after_seconds is not None and retry_after_seconds > 0:
        capped = min(float(retry_after_seconds), LONGEST_RETRY_AFTER.total_seconds())
        delay = max(delay, timedelta(seconds=capped))
    return delay
