"""The ops read model (typed): what needs attention first, then one row per active buffer.

main.py serves it as JSON (as_dict) and as the HTML page; the CLI prints the same model.
By default a page shows the buffers with something pending or unfinished, or flushed
recently, plus totals for the rest; `cursor` pages through them. Pending counts and ages are
live (a count() and a one-document query per buffer shown); rejected counts by reason are
the sweep's per-folder summary (docs/firestore-schema.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from registration.domain.model import (
    BatchRecord,
    BufferRef,
    RejectionCounts,
    RejectionRecord,
)
from registration.services.ports import Context

# A buffer flushed this recently still shows on the default page.
RECENT_FLUSH = timedelta(hours=24)
DEFAULT_PAGE_SIZE = 100


class AttentionKind(enum.StrEnum):
    STUCK_BATCH = "stuck_batch"  # claimed, untouched for longer than a lease
    INVALID_BATCH = "invalid_batch"  # its manifest failed validation
    OVERDUE_BUFFER = "overdue_buffer"  # oldest pending older than the max age
    SUBMISSION_FAILED = "submission_failed"  # Encord refused the manifest
    JOB_PENDING_TOO_LONG = "job_pending_too_long"  # an Encord job that does not end
    JOB_ERRORS = "job_errors"  # an Encord job finished with refused files


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffers": self.buffers,
            "buffers_shown": self.buffers_shown,
            "pending_shown": self.pending_shown,
            "rejected_by_reason": self.rejected_by_reason,
            "submissions_by_state": self.submissions_by_state,
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
                }
                for batch in self.batches
            ],
            "rejections": [_rejection_dict(record) for record in self.rejections],
        }


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


def _view(ctx: Context, buffer: BufferRef, summary: Any, counts: dict[str, int]) -> BufferView:
    records = ctx.backends.records
    pending = records.count_pending(buffer)
    oldest = records.oldest_pending_at(buffer) if pending else None
    unfinished = ctx.backends.batches.unfinished(buffer)
    if any(batch.abandoned(ctx.settings.lease_seconds) for batch in unfinished):
        state = BufferState.STUCK
    elif oldest is not None and ctx.clock() - oldest > timedelta(
        seconds=ctx.settings.max_age_seconds + ctx.settings.sweep_grace_seconds
    ):
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
        oldest_pending_at=oldest,
        last_flush_at=summary.last_flush_at,
        last_manifest_path=summary.last_manifest_path,
        batches_written=summary.batches_written,
        objects_registered=summary.objects_registered,
        rejected_by_reason=counts,
    )


def _attention_for(ctx: Context, view: BufferView) -> list[Attention]:
    items = []
    if view.state is BufferState.STUCK:
        for batch in ctx.backends.batches.unfinished(view.buffer):
            if batch.abandoned(ctx.settings.lease_seconds):
                items.append(
                    Attention(
                        AttentionKind.STUCK_BATCH,
                        view.buffer,
                        f"batch {batch.seq} ({batch.item_count} objects) is claimed but its "
                        "manifest is not written; the sweep finishes it",
                        batch.claimed_at,
                        batch.manifest_path,
                    )
                )
    if view.state is BufferState.OVERDUE:
        items.append(
            Attention(
                AttentionKind.OVERDUE_BUFFER,
                view.buffer,
                f"{view.pending} objects pending past the max age of "
                f"{ctx.settings.max_age_seconds} s: is the sweep running?",
                view.oldest_pending_at,
            )
        )
    return items


def status(
    ctx: Context,
    recent_rejections: int = 50,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    everything: bool = False,
) -> StatusView:
    """The ops view. everything=True lists idle buffers too (the default hides them)."""
    counts = sorted(
        ctx.backends.summaries.all_counts(), key=lambda item: (item.bucket, item.folder)
    )
    by_folder = {(item.bucket, item.folder): item.counts for item in counts}
    now = ctx.clock()
    summaries = sorted(
        ctx.backends.buffers.all(),
        key=lambda s: (s.buffer.bucket, s.buffer.folder, s.buffer.key.value, s.buffer.create_video),
    )
    views: list[BufferView] = []
    attention: list[Attention] = []
    total = len(summaries)
    started = cursor is None
    next_cursor = None
    for summary in summaries:
        if not started:
            started = summary.buffer.ident == cursor
            continue
        view = _view(ctx, summary.buffer, summary, by_folder.get(_folder(summary.buffer), {}))
        recent = view.last_flush_at is not None and now - view.last_flush_at <= RECENT_FLUSH
        if not (everything or view.state is not BufferState.IDLE or recent):
            continue
        if len(views) >= page_size:
            next_cursor = views[-1].buffer.ident
            break
        views.append(view)
        attention.extend(_attention_for(ctx, view))
    rejected_totals: dict[str, int] = {}
    for item in counts:
        for reason, number in item.counts.items():
            rejected_totals[reason] = rejected_totals.get(reason, 0) + number
    return StatusView(
        generated_at=now,
        max_age_seconds=ctx.settings.max_age_seconds,
        attention=sorted(attention, key=_urgency),
        buffers=views,
        totals=Totals(
            buffers=total,
            buffers_shown=len(views),
            pending_shown=sum(view.pending for view in views),
            rejected_by_reason=rejected_totals,
        ),
        rejected=ctx.backends.rejections.recent(recent_rejections),
        rejected_counts=counts,
        next_cursor=next_cursor,
    )


def buffer_detail(ctx: Context, ident: str, batches: int = 20) -> BufferDetail | None:
    """One buffer by its id (BufferRef.ident): its row, recent batches and rejections."""
    for summary in ctx.backends.buffers.all():
        if summary.buffer.ident != ident:
            continue
        buffer = summary.buffer
        counts = {
            (item.bucket, item.folder): item.counts for item in ctx.backends.summaries.all_counts()
        }
        view = _view(ctx, buffer, summary, counts.get(_folder(buffer), {}))
        recent = []
        for seq in range(ctx.backends.batches.next_seq(buffer) - 1, 0, -1):
            batch = ctx.backends.batches.get(buffer, seq)
            if batch is not None:
                recent.append(batch)
            if len(recent) >= batches:
                break
        rejections = [
            record
            for record in ctx.backends.rejections.recent(500)
            if record.bucket == buffer.bucket and record.folder == buffer.folder
        ]
        return BufferDetail(view, recent, rejections)
    return None


def _folder(buffer: BufferRef) -> tuple[str, str]:
    return (buffer.bucket, buffer.folder)


_ORDER = list(AttentionKind)


def _urgency(item: Attention) -> tuple[int, datetime]:
    return (_ORDER.index(item.kind), item.since or datetime.max.replace(tzinfo=UTC))
