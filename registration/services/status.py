"""The ops read model (typed): what needs attention first, then one row per active buffer.

main.py serves it as JSON (registration/presenters/wire.py) and as the HTML page; the CLI
prints the same model.
By default a page shows the buffers with something pending or unfinished, or flushed
recently, plus totals for the rest; `cursor` pages through them. Pending counts and ages are
live (a count() and a one-document query per buffer shown); rejected counts by reason are
the sweep's per-folder summary (docs/firestore-schema.md).

Ports it reads (never writes): records (the pending scan, counts, ages), buffers (the
catalogue and its summaries), batches (claimed and invalid ones, a buffer's recent batches),
submissions (unfinished and failed ones: read whatever this function's own settings),
summaries and rejections. No Encord gateway.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from registration.domain.found import unreadable_in
from registration.domain.links import LinkState
from registration.domain.model import (
    BatchRecord,
    BufferQuery,
    BufferRef,
    BufferSummary,
    RejectionCounts,
    RejectionRecord,
    is_stable_id,
)
from registration.services.attention import (
    ATTENTION_LIMIT,
    Attention,
    AttentionKind,
    SubmissionsSeen,
    batch_attention,
    stuck_attention,
    stuck_batches,
    submissions_by_state,
    submissions_seen,
    urgency,
)
from registration.services.ports import Context

# Read by the presenters and tests from here too: the view is their one entry point.
__all__ = ["Attention", "AttentionKind", "BufferDetail", "BufferState", "BufferView", "status"]

# A buffer flushed this recently still shows on the default page.
RECENT_FLUSH = timedelta(hours=24)
DEFAULT_PAGE_SIZE = 100
# Days of malformed-event counts the view shows.
MALFORMED_DAYS = 7
# How far ahead the view looks for links not yet done (every pending one: retries are <= 1 h).
LINKS_HORIZON = timedelta(days=1)


class BufferState(enum.StrEnum):
    STUCK = "stuck"  # an unfinished batch is past its lease
    OVERDUE = "overdue"  # pending past the max age (the sweep is late or failing)
    PENDING = "pending"  # objects wait for a full batch or the max age
    IDLE = "idle"  # nothing pending


@dataclass(frozen=True)
class BufferView:
    buffer: BufferRef
    state: BufferState
    pending: int
    batch_size: int
    oldest_pending_at: datetime | None
    last_flush_at: datetime | None
    last_manifest_url: str | None
    batches_written: int
    objects_registered: int
    # Rejections belong to the folder, not the key (docs/firestore-schema.md).
    rejected_by_reason: dict[str, int]


@dataclass(frozen=True)
class Totals:
    """Counts over everything, shown or not."""

    buffers: int
    buffers_shown: int
    pending_shown: int
    rejected_by_reason: dict[str, int]
    submissions_by_state: dict[str, int] = field(default_factory=dict)
    # Dataset links not yet done, by state (batches with a link due or waiting to retry).
    links_by_state: dict[str, int] = field(default_factory=dict)
    # How many buffers match the query's prefix and type (None: no query).
    buffers_matching: int | None = None
    # Events Cloud Storage could not have sent, per UTC day (ISO date) over the last
    # MALFORMED_DAYS; those that named an object are in rejected_by_reason too.
    malformed_events_by_day: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusView:
    generated_at: datetime
    max_age_seconds: int
    attention: list[Attention]
    buffers: list[BufferView]
    totals: Totals
    rejected: list[RejectionRecord]
    rejected_counts: list[RejectionCounts]
    next_cursor: str | None = None
    # Documents the reads skipped because they could not be parsed (their paths).
    unreadable: tuple[str, ...] = ()

    @property
    def pending_total(self) -> int:
        return sum(view.pending for view in self.buffers)


@dataclass(frozen=True)
class BufferDetail:
    """One buffer's page: its row, its recent batches, the rejections of its folder."""

    view: BufferView
    batches: list[BatchRecord]
    rejections: list[RejectionRecord]


def _view(
    ctx: Context,
    summary: BufferSummary,
    oldest: datetime | None,
    counts: dict[str, int],
    stuck: bool,
) -> BufferView:
    buffer = summary.buffer
    pending = ctx.backends.records.count_pending(buffer) if oldest is not None else 0
    overdue_after = timedelta(
        seconds=ctx.settings.max_age_seconds + ctx.settings.sweep_grace_seconds
    )
    if stuck:
        state = BufferState.STUCK
    elif oldest is not None and not buffer.grouped and ctx.clock() - oldest > overdue_after:
        state = BufferState.OVERDUE
    elif pending:
        state = BufferState.PENDING
    else:
        state = BufferState.IDLE
    return BufferView(
        buffer=buffer,
        state=state,
        pending=pending,
        batch_size=ctx.settings.batch_size(buffer.key),
        oldest_pending_at=oldest if pending else None,
        last_flush_at=summary.last_flush_at,
        last_manifest_url=summary.last_manifest_url,
        batches_written=summary.batches_written,
        objects_registered=summary.objects_registered,
        rejected_by_reason=counts,
    )


def _attention(
    ctx: Context, views: list[BufferView], stuck: list[BatchRecord], seen: SubmissionsSeen
) -> list[Attention]:
    items = batch_attention(ctx, seen) + stuck_attention(stuck)
    items.extend(
        Attention(
            AttentionKind.OVERDUE_BUFFER,
            view.buffer,
            f"{view.pending} objects pending past the max age of "
            f"{ctx.settings.max_age_seconds} s: is the sweep running?",
            view.oldest_pending_at,
        )
        for view in views
        if view.state is BufferState.OVERDUE
    )
    return sorted(items, key=urgency)


def status(
    ctx: Context,
    recent_rejections: int = 20,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    everything: bool = False,
    query: BufferQuery | None = None,
    state: BufferState | None = None,
) -> StatusView:
    """The ops view, at a cost that follows what it shows.

    The default page holds the buffers with something pending (a skip scan over the
    records, paged by buffer id with `cursor`), those with a stuck batch, and, on the first
    page, those flushed in the last day; totals cover the rest with count() aggregations.

    A query (folder prefix, type), everything=True (every buffer ever created) or
    state=IDLE pages through the buffer documents instead: the store answers the query and
    pages by keyset, so a page costs its own buffers whatever its number. The state filter
    keeps the rows of that live state; idle rows show only when asked for.
    """
    backends = ctx.backends
    now = ctx.clock()
    query = query or BufferQuery()
    stuck = stuck_batches(ctx)
    submitted = submissions_seen(ctx)
    reads: list[Sequence[object]] = [stuck, submitted.due, submitted.failed]
    stuck_idents = {batch.buffer.ident for batch in stuck}
    oldest: dict[str, datetime | None] = {}
    known: dict[str, BufferSummary] = {}  # summaries the listing already read
    next_cursor = None
    if everything or query.active or state is BufferState.IDLE:
        page = backends.buffers.page(query, cursor, page_size + 1)
        reads.append(page)
        if len(page) > page_size:
            page = page[:page_size]
            next_cursor = page[-1].buffer.ident
        chosen = {item.buffer.ident: item.buffer for item in page}
        known = {item.buffer.ident: item for item in page}
        # One one-document query per buffer shown: the page's cost, never the catalogue's.
        oldest = {ident: backends.records.oldest_pending_at(buf) for ident, buf in chosen.items()}
    else:
        pending = backends.records.pending_buffers(cursor, page_size + 1)
        reads.append(pending)
        if len(pending) > page_size:
            pending = pending[:page_size]
            next_cursor = pending[-1].buffer.ident
        chosen = {item.buffer.ident: item.buffer for item in pending}
        oldest = {item.buffer.ident: item.oldest_pending_at for item in pending}
        if cursor is None:
            for batch in stuck:
                chosen.setdefault(batch.buffer.ident, batch.buffer)
            recent = backends.buffers.recently_flushed(now - RECENT_FLUSH, page_size)
            reads.append(recent)
            for flushed in recent:
                chosen.setdefault(flushed.buffer.ident, flushed.buffer)
    buffers = list(chosen.values())
    folders = sorted({_folder(buffer) for buffer in buffers})
    counts = {(item.bucket, item.folder): item for item in backends.summaries.counts_of(folders)}
    unread = [buffer for buffer in buffers if buffer.ident not in known]
    summaries_read = backends.buffers.get_many(unread)
    reads.append(summaries_read)
    known.update(
        (buffer.ident, summary)
        for buffer, summary in zip(unread, summaries_read, strict=True)
        if summary is not None
    )
    views = []
    for buffer in buffers:
        summary = known.get(buffer.ident)
        if summary is None:  # a record names a buffer whose document is not created yet
            continue
        folder_counts = counts.get(_folder(buffer))
        views.append(
            _view(
                ctx,
                summary,
                oldest.get(buffer.ident),
                {} if folder_counts is None else folder_counts.counts,
                buffer.ident in stuck_idents,
            )
        )
    views = [view for view in views if _wanted(view, query, state, everything, now)]
    views.sort(key=lambda view: _order(view.buffer))
    return StatusView(
        generated_at=now,
        max_age_seconds=ctx.settings.max_age_seconds,
        attention=_attention(ctx, views, stuck, submitted),
        buffers=views,
        totals=Totals(
            buffers=backends.buffers.count(),
            buffers_shown=len(views),
            pending_shown=sum(view.pending for view in views),
            rejected_by_reason=backends.summaries.totals_by_reason(),
            submissions_by_state=submissions_by_state(submitted),
            links_by_state=_links_by_state(ctx, now),
            buffers_matching=backends.buffers.count_matching(query) if query.active else None,
            malformed_events_by_day=_malformed_by_day(ctx, now),
        ),
        rejected=backends.rejections.recent(recent_rejections),
        rejected_counts=sorted(counts.values(), key=lambda item: (item.bucket, item.folder)),
        next_cursor=next_cursor,
        unreadable=tuple(item.path for item in unreadable_in(*reads)),
    )


def _wanted(
    view: BufferView,
    query: BufferQuery,
    state: BufferState | None,
    everything: bool,
    now: datetime,
) -> bool:
    """The rows a page keeps: the query's (stuck and recent buffers are added to the first
    page without it), of the state asked for, and idle ones only when asked for."""
    if not query.matches(view.buffer):
        return False
    if state is not None:
        return view.state is state
    if everything or view.state is not BufferState.IDLE:
        return True
    return view.last_flush_at is not None and now - view.last_flush_at <= RECENT_FLUSH


def _links_by_state(ctx: Context, now: datetime) -> dict[str, int]:
    """Dataset links not yet done, by state: a range query on links_due_at (one read per
    batch with a link not done, one when there is none), whatever this function's settings."""
    counts: dict[str, int] = {}
    for batch in ctx.backends.submissions.links_due(now + LINKS_HORIZON, ATTENTION_LIMIT):
        assert batch.submission is not None
        for link in batch.submission.links:
            if link.state is not LinkState.DONE:
                counts[link.state.value] = counts.get(link.state.value, 0) + 1
    return counts


def _malformed_by_day(ctx: Context, now: datetime) -> dict[str, int]:
    since = (now - timedelta(days=MALFORMED_DAYS - 1)).astimezone(UTC).date()
    counts = ctx.backends.rejections.malformed_events_since(since)
    return {day.isoformat(): counts[day] for day in sorted(counts)}


def buffer_detail(ctx: Context, ident: str, batches: int = 20) -> BufferDetail | None:
    """One buffer by its id (BufferRef.ident): its row, recent batches and rejections.
    None when no buffer has that id, and at once when the text cannot be an id at all."""
    if not is_stable_id(ident):
        return None
    backends = ctx.backends
    summary = backends.buffers.by_ident(ident)
    if summary is None:
        return None
    buffer = summary.buffer
    stuck = {
        batch.seq
        for batch in backends.batches.unfinished(buffer)
        if batch.abandoned(ctx.settings.lease_seconds)
    }
    oldest = backends.records.oldest_pending_at(buffer)
    counts = backends.summaries.counts_of([_folder(buffer)])
    view = _view(ctx, summary, oldest, counts[0].counts if counts else {}, bool(stuck))
    recent = []
    for seq in range(backends.batches.next_seq(buffer) - 1, 0, -1):
        batch = backends.batches.get(buffer, seq)
        if batch is not None:
            recent.append(batch)
        if len(recent) >= batches:
            break
    rejections = backends.rejections.of_folder(buffer.bucket, buffer.folder, 100)
    return BufferDetail(view, recent, rejections)


def _order(buffer: BufferRef) -> tuple[str, str, str, bool]:
    return (buffer.bucket, buffer.folder, buffer.key.value, buffer.create_video)


def _folder(buffer: BufferRef) -> tuple[str, str]:
    return (buffer.bucket, buffer.folder)
