"""The ops read model (typed): what needs attention first, then one row per active buffer.

main.py serves it as JSON (as_dict) and as the HTML page; the CLI prints the same model.
By default a page shows the buffers with something pending or unfinished, or flushed
recently, plus totals for the rest; `cursor` pages through them. Pending counts and ages are
live (a count() and a one-document query per buffer shown); rejected counts by reason are
the sweep's per-folder summary (docs/firestore-schema.md).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from registration.domain.found import unreadable_in
from registration.domain.links import LinkState
from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferRef,
    BufferSummary,
    RejectionCounts,
    RejectionRecord,
)
from registration.domain.submission import SubmissionState
from registration.services.ports import Context

# A buffer flushed this recently still shows on the default page.
RECENT_FLUSH = timedelta(hours=24)
DEFAULT_PAGE_SIZE = 100
# Claimed batches read per view, to find the stuck ones; and batches of each other kind
# that need attention (invalid, Encord trouble).
STUCK_LIMIT = 200
# Days of malformed-event counts the view shows.
MALFORMED_DAYS = 7
ATTENTION_LIMIT = 100
# How far ahead the view looks for links not yet done (every pending one: retries are <= 1 h).
LINKS_HORIZON = timedelta(days=1)


class AttentionKind(enum.StrEnum):
    STUCK_BATCH = "stuck_batch"  # claimed, untouched for longer than a lease
    INVALID_BATCH = "invalid_batch"  # its manifest failed validation
    OVERDUE_BUFFER = "overdue_buffer"  # oldest pending older than the max age
    SUBMISSION_FAILED = "submission_failed"  # Encord refused the manifest
    JOB_PENDING_TOO_LONG = "job_pending_too_long"  # an Encord job that does not end
    JOB_ERRORS = "job_errors"  # an Encord job finished with refused files
    FOLLOW_UP_FAILED = "follow_up_failed"  # a dataset link or the job's message was refused


@dataclass(frozen=True)
class Attention:
    """One thing a person should look at, most urgent first."""

    kind: AttentionKind
    buffer: BufferRef | None
    detail: str
    since: datetime | None = None
    manifest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "buffer": None if self.buffer is None else self.buffer.label,
            "bucket": None if self.buffer is None else self.buffer.bucket,
            "folder": None if self.buffer is None else self.buffer.folder,
            "detail": self.detail,
            "since": self.since,
            "manifest": self.manifest,
        }


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
    last_manifest_path: str | None
    batches_written: int
    objects_registered: int
    # Rejections belong to the folder, not the key (docs/firestore-schema.md).
    rejected_by_reason: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.buffer.ident,
            "bucket": self.buffer.bucket,
            "folder": self.buffer.folder,
            "key": self.buffer.key.value,
            "sequence": self.buffer.create_video,
            "state": self.state.value,
            "pending": self.pending,
            "oldest_pending_at": self.oldest_pending_at,
            "last_flush_at": self.last_flush_at,
            "last_manifest_path": self.last_manifest_path,
            "batches_written": self.batches_written,
            "objects_registered": self.objects_registered,
            "batch_size": self.batch_size,
            "rejected_by_reason": self.rejected_by_reason,
        }


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
    # Events Cloud Storage could not have sent, per UTC day (ISO date) over the last
    # MALFORMED_DAYS; those that named an object are in rejected_by_reason too.
    malformed_events_by_day: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffers": self.buffers,
            "buffers_shown": self.buffers_shown,
            "pending_shown": self.pending_shown,
            "rejected_by_reason": self.rejected_by_reason,
            "submissions_by_state": self.submissions_by_state,
            "links_by_state": self.links_by_state,
            "malformed_events_by_day": self.malformed_events_by_day,
        }


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

    def as_dict(self) -> dict[str, Any]:
        """The status function's JSON."""
        return {
            "generated_at": self.generated_at,
            "max_age_seconds": self.max_age_seconds,
            "attention": [item.as_dict() for item in self.attention],
            "buffers": [view.as_dict() for view in self.buffers],
            "totals": self.totals.as_dict(),
            "next_cursor": self.next_cursor,
            "unreadable": list(self.unreadable),
            "unreadable_count": len(self.unreadable),
            "rejected": [_rejection_dict(record) for record in self.rejected],
            "rejected_counts": [
                {
                    "bucket": item.bucket,
                    "folder": item.folder,
                    "counts": item.counts,
                    "total": item.total,
                    "counted_at": item.counted_at,
                }
                for item in self.rejected_counts
            ],
        }


@dataclass(frozen=True)
class BufferDetail:
    """One buffer's page: its row, its recent batches, the rejections of its folder."""

    view: BufferView
    batches: list[BatchRecord]
    rejections: list[RejectionRecord]

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffer": self.view.as_dict(),
            "batches": [
                {
                    "seq": batch.seq,
                    "state": batch.state.value,
                    "items": batch.item_count,
                    "manifest": f"gs://{batch.manifest_bucket}/{batch.manifest_path}"
                    if batch.manifest_path
                    else None,
                    "claimed_at": batch.claimed_at,
                    "written_at": batch.written_at,
                    "problem": batch.problem,
                    "encord": submission_dict(batch),
                }
                for batch in self.batches
            ],
            "rejections": [_rejection_dict(record) for record in self.rejections],
        }


def submission_dict(batch: BatchRecord) -> dict[str, Any] | None:
    """A batch's Encord submission as ops read it (status detail, trace)."""
    submission = batch.submission
    if submission is None:
        return None
    return {
        "state": submission.state.value,
        "job_id": submission.job_id,
        "attempts": submission.attempts,
        "next_attempt_at": submission.next_attempt_at,
        "submitted_at": submission.submitted_at,
        "finished_at": submission.finished_at,
        "units_done": submission.units_done,
        "units_error": submission.units_error,
        "problem": submission.problem,
        # After the job's end (issue 20): items matched to units (never guessed), the
        # message, and each dataset's link.
        "items_matched": submission.items_matched,
        "items_unmatched": submission.items_unmatched,
        "unmatched": list(submission.unmatched),
        "notified_at": submission.notified_at,
        "notify_problem": submission.notify_problem,
        "links": [
            {
                "dataset": link.dataset,
                "state": link.state.value,
                "attempts": link.attempts,
                "next_attempt_at": link.next_attempt_at,
                "linked": link.linked,
                "skipped": link.skipped,
                "problem": link.problem,
            }
            for link in submission.links
        ],
    }


def encord_summary(batch: BatchRecord) -> str:
    """One line for a batch's row on the detail page: job, items matched, links."""
    submission = batch.submission
    if submission is None:
        return ""
    parts = [submission.state.value]
    if submission.items_matched is not None:
        parts.append(f"{submission.items_matched} items matched")
        if submission.items_unmatched:
            parts.append(f"{submission.items_unmatched} unmatched")
    parts += [f"{link.dataset[:8]}… {link.state.value}" for link in submission.links]
    if submission.notify_problem:
        parts.append("notification refused")
    return ", ".join(parts)


def _rejection_dict(record: RejectionRecord) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "name": record.name,
        "folder": record.folder,
        "generation": record.generation,
        "reason": record.reason,
        "detail": record.detail,
        "recorded_at": record.recorded_at,
    }


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
        last_manifest_path=summary.last_manifest_path,
        batches_written=summary.batches_written,
        objects_registered=summary.objects_registered,
        rejected_by_reason=counts,
    )


def _stuck_batches(ctx: Context, reads: list[Sequence[object]]) -> list[BatchRecord]:
    claimed = ctx.backends.batches.in_state(BatchState.CLAIMED, STUCK_LIMIT)
    reads.append(claimed)
    return [batch for batch in claimed if batch.abandoned(ctx.settings.lease_seconds)]


def _gs(batch: BatchRecord) -> str:
    return f"gs://{batch.manifest_bucket}/{batch.manifest_path}"


@dataclass(frozen=True)
class _Submissions:
    """The view's one read of the batches whose submission is unfinished or failed."""

    due: list[BatchRecord]
    failed: list[BatchRecord]
    follow_ups: list[BatchRecord] = field(default_factory=list)


def _submissions(ctx: Context) -> _Submissions:
    if ctx.backends.encord is None:
        return _Submissions([], [])
    submissions = ctx.backends.submissions
    return _Submissions(
        submissions.submissions_due(ATTENTION_LIMIT),
        submissions.failed_submissions(ATTENTION_LIMIT),
        submissions.failed_follow_ups(ATTENTION_LIMIT),
    )


def _batch_attention(ctx: Context, submitted: _Submissions) -> list[Attention]:
    """Invalid manifests and Encord submissions a person must look at (collection-group
    queries: the cost follows these batches, never the buffers)."""
    backends = ctx.backends
    items = [
        Attention(
            AttentionKind.INVALID_BATCH,
            batch.buffer,
            f"batch {batch.seq} ({batch.item_count} objects) failed validation, and its "
            f"objects were rejected: {batch.problem}",
            batch.claimed_at,
            _gs(batch),
        )
        for batch in backends.batches.in_state(BatchState.INVALID, ATTENTION_LIMIT)
    ]
    now = ctx.clock()
    waited = timedelta(seconds=ctx.settings.encord_job_attention_seconds)
    for batch in submitted.failed:
        submission = batch.submission
        assert submission is not None
        if submission.state is SubmissionState.FAILED:
            kind, detail = (
                AttentionKind.SUBMISSION_FAILED,
                f"Encord refused it: {submission.problem}",
            )
        else:
            kind = AttentionKind.JOB_ERRORS
            detail = f"Encord job {submission.job_id} ended in ERROR"
        items.append(Attention(kind, batch.buffer, detail, submission.finished_at, _gs(batch)))
    follow_ups = ctx.backends.follow_ups
    if follow_ups is not None and ctx.backends.policy.follows_bucket:
        for item in follow_ups.follow_ups_failed(ATTENTION_LIMIT):
            items.append(
                Attention(
                    AttentionKind.FOLLOW_UP_FAILED,
                    item.buffer,
                    f"gs://{item.bucket}/{item.name}: Encord item {item.item_uuid} was not "
                    f"deleted: {item.failed}",
                )
            )
    for batch in submitted.follow_ups:
        submission = batch.submission
        assert submission is not None
        problems = [
            f"link to dataset {link.dataset} refused: {link.problem}"
            for link in submission.links
            if link.state is LinkState.FAILED
        ]
        if submission.notify_problem:
            problems.append(f"notification refused: {submission.notify_problem}")
        items.append(
            Attention(
                AttentionKind.FOLLOW_UP_FAILED,
                batch.buffer,
                "; ".join(problems),
                submission.finished_at,
                _gs(batch),
            )
        )
    for batch in submitted.due:
        submission = batch.submission
        assert submission is not None
        started = submission.submitted_at or batch.written_at
        if started is not None and now - started > waited:
            items.append(
                Attention(
                    AttentionKind.JOB_PENDING_TOO_LONG,
                    batch.buffer,
                    f"not finished in Encord after {int((now - started).total_seconds())} s "
                    f"({submission.state.value}, {submission.attempts} attempts"
                    + (f", last problem: {submission.problem}" if submission.problem else "")
                    + ")",
                    started,
                    _gs(batch),
                )
            )
    return items


def _submissions_by_state(submitted: _Submissions) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch in [*submitted.due, *submitted.failed]:
        assert batch.submission is not None
        state = batch.submission.state.value
        counts[state] = counts.get(state, 0) + 1
    return counts


def _links_by_state(ctx: Context, now: datetime) -> dict[str, int]:
    """Links still pending (a range query on links_due_at: one read per batch with a link
    not done, one when there is none)."""
    if ctx.backends.links is None:
        return {}
    counts: dict[str, int] = {}
    for batch in ctx.backends.submissions.links_due(now + LINKS_HORIZON, ATTENTION_LIMIT):
        assert batch.submission is not None
        for link in batch.submission.links:
            if link.state is not LinkState.DONE:
                counts[link.state.value] = counts.get(link.state.value, 0) + 1
    return counts


def _attention(
    ctx: Context, views: list[BufferView], stuck: list[BatchRecord], submitted: _Submissions
) -> list[Attention]:
    items = _batch_attention(ctx, submitted)
    items += [
        Attention(
            AttentionKind.STUCK_BATCH,
            batch.buffer,
            f"batch {batch.seq} ({batch.item_count} objects) is claimed but its manifest is "
            "not written; the sweep finishes it",
            batch.claimed_at,
            batch.manifest_path,
        )
        for batch in stuck
    ]
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
    return sorted(items, key=_urgency)


def status(
    ctx: Context,
    recent_rejections: int = 20,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    everything: bool = False,
) -> StatusView:
    """The ops view, at a cost that follows what it shows.

    The default page holds the buffers with something pending (a skip scan over the
    records, paged by buffer id with `cursor`), those with a stuck batch, and, on the first
    page, those flushed in the last day; totals cover the rest with count() aggregations.
    everything=True lists every buffer ever created instead (an explicit, full-cost read).
    """
    backends = ctx.backends
    now = ctx.clock()
    reads: list[Sequence[object]] = []  # what each read skipped is reported (unreadable)
    stuck = _stuck_batches(ctx, reads)
    submitted = _submissions(ctx)
    reads += [submitted.due, submitted.failed]
    stuck_idents = {batch.buffer.ident for batch in stuck}
    oldest: dict[str, datetime] = {}
    next_cursor = None
    if everything:
        summaries = sorted(backends.buffers.all(), key=lambda item: _order(item.buffer))
        start = (
            0
            if cursor is None
            else next((i + 1 for i, item in enumerate(summaries) if item.buffer.ident == cursor), 0)
        )
        page = summaries[start : start + page_size]
        if start + page_size < len(summaries):
            next_cursor = page[-1].buffer.ident
        chosen = {item.buffer.ident: item.buffer for item in page}
        every_pending = backends.records.pending_buffers(None, len(summaries) + 1)
        reads.append(every_pending)
        for item in every_pending:
            oldest[item.buffer.ident] = item.oldest_pending_at
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
    views = []
    summaries_read = backends.buffers.get_many(buffers)
    reads.append(summaries_read)
    for buffer, summary in zip(buffers, summaries_read, strict=True):
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
            submissions_by_state=_submissions_by_state(submitted),
            links_by_state=_links_by_state(ctx, now),
            malformed_events_by_day=_malformed_by_day(ctx, now),
        ),
        rejected=backends.rejections.recent(recent_rejections),
        rejected_counts=sorted(counts.values(), key=lambda item: (item.bucket, item.folder)),
        next_cursor=next_cursor,
        unreadable=tuple(item.path for item in unreadable_in(*reads)),
    )


def _malformed_by_day(ctx: Context, now: datetime) -> dict[str, int]:
    since = (now - timedelta(days=MALFORMED_DAYS - 1)).astimezone(UTC).date()
    counts = ctx.backends.rejections.malformed_events_since(since)
    return {day.isoformat(): counts[day] for day in sorted(counts)}


def buffer_detail(ctx: Context, ident: str, batches: int = 20) -> BufferDetail | None:
    """One buffer by its id (BufferRef.ident): its row, recent batches and rejections."""
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


_ORDER = list(AttentionKind)


def _urgency(item: Attention) -> tuple[int, datetime]:
    return (_ORDER.index(item.kind), item.since or datetime.max.replace(tzinfo=UTC))
