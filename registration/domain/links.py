"""Linking a finished job's items to the configured datasets: one state per dataset (pure).

Each dataset in REGISTRATION_ENCORD_DATASETS gets one link state on the batch, created
PENDING (due at once) when the job's end is recorded. A link call that answers moves it to
DONE (exactly once per batch and dataset: duplicates are skipped by Encord, so a retry after a
lost answer adds nothing); a transient failure keeps it PENDING with the submission backoff
(never sooner than Retry-After); a refusal makes it FAILED, for a person (status shows it).

Fencing: a writer records the result of the attempt it began from (`attempt`, the link's
attempts when it read the batch); a result for a link that has moved on since is declined.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime


class LinkState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class DatasetLink:
    """One dataset's link of a batch's items."""

    dataset: str
    state: LinkState = LinkState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    linked: int = 0  # items that got a new data row
    skipped: int = 0  # items already linked (a retry, or linked by someone else)
    problem: str | None = None


def new_links(datasets: Sequence[str], now: datetime) -> tuple[DatasetLink, ...]:
    """A job's end: one pending link per configured dataset (each hash once), due now."""
    return tuple(DatasetLink(dataset, next_attempt_at=now) for dataset in dict.fromkeys(datasets))


def due_at(links: Sequence[DatasetLink]) -> datetime | None:
    """When the batch's next link attempt is due; None once none is pending."""
    times = [
        link.next_attempt_at
        for link in links
        if link.state is LinkState.PENDING and link.next_attempt_at is not None
    ]
    return min(times) if times else None


def due(links: Sequence[DatasetLink], now: datetime) -> tuple[DatasetLink, ...]:
    return tuple(
        link
        for link in links
        if link.state is LinkState.PENDING
        and (link.next_attempt_at is None or link.next_attempt_at <= now)
    )


@dataclass(frozen=True)
class Linked:
    """The link call answered: `linked` items got a new row, `skipped` were already there."""

    dataset: str
    attempt: int
    linked: int
    skipped: int


@dataclass(frozen=True)
class LinkRetry:
    """A transient failure (outage, 429, 5xx, timeout): try again at next_attempt_at."""

    dataset: str
    attempt: int
    next_attempt_at: datetime
    problem: str


@dataclass(frozen=True)
class LinkRefused:
    """Encord refused the link (no access to the dataset, unknown hash): for a person."""

    dataset: str
    attempt: int
    problem: str


LinkEvent = Linked | LinkRetry | LinkRefused


def on_link(links: Sequence[DatasetLink], event: LinkEvent) -> tuple[DatasetLink, ...] | None:
    """The batch's links after the event, or None when it changes nothing: no such dataset,
    the link is no longer pending (DONE is never undone), or another attempt was recorded."""
    found = [link for link in links if link.dataset == event.dataset]
    if not found:
        return None
    link = found[0]
    if link.state is not LinkState.PENDING or link.attempts != event.attempt:
        return None
    attempts = link.attempts + 1
    after: DatasetLink
    if isinstance(event, Linked):
        after = replace(
            link,
            state=LinkState.DONE,
            attempts=attempts,
            next_attempt_at=None,
            linked=event.linked,
            skipped=event.skipped,
            problem=None,
        )
    elif isinstance(event, LinkRetry):
        after = replace(
            link, attempts=attempts, next_attempt_at=event.next_attempt_at, problem=event.problem
        )
    else:
        after = replace(
            link,
            state=LinkState.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            problem=event.problem,
        )
    return tuple(after if other.dataset == event.dataset else other for other in links)


def needs_person(links: Sequence[DatasetLink], notify_problem: str | None) -> bool:
    """A link Encord refused, or a message Pub/Sub refused: status asks a person."""
    return notify_problem is not None or any(link.state is LinkState.FAILED for link in links)
