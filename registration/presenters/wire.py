"""The read models as JSON, at the edge: the status function (main.py) and the CLI's --json
print exactly these. The shapes are the ones README.md documents; change them by addition.

Datetimes stay datetimes here; the caller's json.dumps(default=str) writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from registration.domain.model import BatchRecord, RejectionCounts, RejectionRecord
from registration.services.status import (
    Attention,
    BufferDetail,
    BufferView,
    StatusView,
    Totals,
)
from registration.services.trace import BatchTrace, Trace


def status_json(view: StatusView) -> dict[str, Any]:
    """The status function's JSON."""
    return {
        "generated_at": view.generated_at,
        "max_age_seconds": view.max_age_seconds,
        "attention": [attention_json(item) for item in view.attention],
        "buffers": [buffer_json(row) for row in view.buffers],
        "totals": totals_json(view.totals),
        "next_cursor": view.next_cursor,
        "unreadable": list(view.unreadable),
        "unreadable_count": len(view.unreadable),
        "rejected": [rejection_json(record) for record in view.rejected],
        "rejected_counts": [counts_json(item) for item in view.rejected_counts],
    }


def attention_json(item: Attention) -> dict[str, Any]:
    buffer = item.buffer
    return {
        "kind": item.kind.value,
        "buffer": None if buffer is None else buffer.label,
        "buffer_id": None if buffer is None else buffer.ident,
        "bucket": None if buffer is None else buffer.bucket,
        "folder": None if buffer is None else buffer.folder,
        "detail": item.detail,
        "since": item.since,
        "manifest": item.manifest,
    }


def buffer_json(row: BufferView) -> dict[str, Any]:
    return {
        "id": row.buffer.ident,
        "bucket": row.buffer.bucket,
        "folder": row.buffer.folder,
        "key": row.buffer.key.value,
        "sequence": row.buffer.create_video,
        "state": row.state.value,
        "pending": row.pending,
        "oldest_pending_at": row.oldest_pending_at,
        "last_flush_at": row.last_flush_at,
        "last_manifest_path": row.last_manifest_url,  # a URL, under its documented name
        "batches_written": row.batches_written,
        "objects_registered": row.objects_registered,
        "batch_size": row.batch_size,
        "rejected_by_reason": row.rejected_by_reason,
    }


def totals_json(totals: Totals) -> dict[str, Any]:
    return {
        "buffers": totals.buffers,
        "buffers_shown": totals.buffers_shown,
        "pending_shown": totals.pending_shown,
        "rejected_by_reason": totals.rejected_by_reason,
        "submissions_by_state": totals.submissions_by_state,
        "links_by_state": totals.links_by_state,
        "malformed_events_by_day": totals.malformed_events_by_day,
        "buffers_matching": totals.buffers_matching,
    }


def counts_json(item: RejectionCounts) -> dict[str, Any]:
    return {
        "bucket": item.bucket,
        "folder": item.folder,
        "counts": item.counts,
        "total": item.total,
        "counted_at": item.counted_at,
    }


def rejection_json(record: RejectionRecord) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "name": record.name,
        "folder": record.folder,
        "generation": record.generation,
        "reason": record.reason.value,
        "detail": record.detail,
        "recorded_at": record.recorded_at,
    }


def detail_json(detail: BufferDetail) -> dict[str, Any]:
    """One buffer (?buffer=ID): its row, its recent batches, its folder's rejections."""
    return {
        "buffer": buffer_json(detail.view),
        "batches": [
            {
                "seq": batch.seq,
                "state": batch.state.value,
                "items": batch.item_count,
                "manifest": batch.manifest_url if batch.manifest_path else None,
                "claimed_at": batch.claimed_at,
                "written_at": batch.written_at,
                "problem": batch.problem,
                "encord": submission_json(batch),
            }
            for batch in detail.batches
        ],
        "rejections": [rejection_json(record) for record in detail.rejections],
    }


def submission_json(batch: BatchRecord) -> dict[str, Any] | None:
    """A batch's Encord submission as ops read it (status detail, trace, jobs)."""
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


def jobs_json(batches: Iterable[BatchRecord]) -> list[dict[str, Any]]:
    """`jobs --json`: each batch's manifest and buffer, then its submission's fields."""
    return [
        {"manifest": batch.manifest_url, "buffer": batch.buffer.label}
        | (submission_json(batch) or {})
        for batch in batches
    ]


def trace_json(result: Trace) -> dict[str, Any]:
    """`trace --json`: one object's fate, its records and its rejections."""
    return {
        "bucket": result.bucket,
        "name": result.name,
        "fate": result.fate,
        "live_generation": None if result.live is None else result.live.generation,
        "classification": result.classification,
        "records": [_trace_record(item) for item in result.records],
        "rejections": [
            {
                "generation": record.generation,
                "reason": record.reason.value,
                "detail": record.detail,
                "recorded_at": record.recorded_at,
            }
            for record in result.rejections
        ],
    }


def _trace_record(item: BatchTrace) -> dict[str, Any]:
    record, batch = item.record, item.batch
    return {
        "buffer": record.buffer.label,
        "generation": record.obj.generation,
        "state": record.state.value,
        "buffered_at": record.created_at,
        "source": record.source or "event",
        "batch": record.batch,
        "batch_state": None if batch is None else batch.state,
        "manifest": None if batch is None else batch.manifest_url,
        "manifest_written_at": None if batch is None else batch.written_at,
        "manifest_exists": item.manifest_exists,
        "encord": None if batch is None else submission_json(batch),
        # What the job's end wrote on this record (issue 20).
        "item_uuid": record.item_uuid,
        "job_id": record.job_id,
        "encord_outcome": record.encord,
    }
