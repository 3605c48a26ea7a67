"""The ops read model: every buffer's state, recent rejections, counts per folder (typed).

main.py serves it as JSON (as_dict) and as the HTML page; the CLI prints it. Pending counts
and ages are live (a count() and a one-document query per buffer); rejected counts by
reason are the sweep's per-folder summary (docs/firestore-schema.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from registration.domain.model import BufferRef, RejectionCounts, RejectionRecord
from registration.services.ports import Context


@dataclass(frozen=True)
class BufferView:
    buffer: BufferRef
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
            "bucket": self.buffer.bucket,
            "folder": self.buffer.folder,
            "key": self.buffer.key.value,
            "sequence": self.buffer.create_video,
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
class StatusView:
    generated_at: datetime
    max_age_seconds: int
    buffers: list[BufferView]
    rejected: list[RejectionRecord]
    rejected_counts: list[RejectionCounts]

    @property
    def pending_total(self) -> int:
        return sum(view.pending for view in self.buffers)

    def as_dict(self) -> dict[str, Any]:
        """The status function's JSON."""
        return {
            "generated_at": self.generated_at,
            "buffers": [view.as_dict() for view in self.buffers],
            "rejected": [
                {
                    key: value
                    for key, value in asdict(record).items()
                    if key in ("bucket", "name", "generation", "reason", "detail", "recorded_at")
                }
                for record in self.rejected
            ],
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
            "max_age_seconds": self.max_age_seconds,
        }


def status(ctx: Context, recent_rejections: int = 50) -> StatusView:
    records = ctx.backends.records
    counts = sorted(
        ctx.backends.summaries.all_counts(), key=lambda item: (item.bucket, item.folder)
    )
    by_folder = {(item.bucket, item.folder): item.counts for item in counts}
    views = []
    for summary in ctx.backends.buffers.all():
        buffer = summary.buffer
        views.append(
            BufferView(
                buffer=buffer,
                pending=records.count_pending(buffer),
                batch_size=ctx.settings.batch_size(buffer.key),
                oldest_pending_at=records.oldest_pending_at(buffer),
                last_flush_at=summary.last_flush_at,
                last_manifest_path=summary.last_manifest_path,
                batches_written=summary.batches_written,
                objects_registered=summary.objects_registered,
                rejected_by_reason=by_folder.get((buffer.bucket, buffer.folder), {}),
            )
        )
    views.sort(
        key=lambda view: (
            view.buffer.bucket,
            view.buffer.folder,
            view.buffer.key.value,
            view.buffer.create_video,
        )
    )
    return StatusView(
        generated_at=ctx.clock(),
        max_age_seconds=ctx.settings.max_age_seconds,
        buffers=views,
        rejected=ctx.backends.rejections.recent(recent_rejections),
        rejected_counts=counts,
    )
