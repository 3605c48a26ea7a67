"""Housekeeping run by Cloud Scheduler: age flushes, quiet groups, missed thresholds,
batches whose writer died, and the rejection summary. Idempotent; safe beside events and
beside itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from registration import logs
from registration.domain.model import BufferRef
from registration.services.flush import FlushReport, finish, flush
from registration.services.ports import Context
from registration.services.rejection_summary import summarize_rejections


@dataclass
class SweepReport:
    buffers_checked: int = 0
    buffers_flushed: int = 0
    manifests_written: list[str] = field(default_factory=list)
    batches_completed: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffers_checked": self.buffers_checked,
            "buffers_flushed": self.buffers_flushed,
            "manifests_written": self.manifests_written,
            "batches_completed": self.batches_completed,
            "errors": self.errors,
        }


def _older_than(ctx: Context, moment: datetime | None, seconds: int) -> bool:
    return moment is not None and ctx.clock() - moment >= timedelta(seconds=seconds)


def sweep(ctx: Context) -> SweepReport:
    report = SweepReport()
    for summary in list(ctx.backends.buffers.all()):
        buffer = summary.buffer
        report.buffers_checked += 1
        try:
            _sweep_buffer(ctx, buffer, report)
        except Exception as error:  # one broken buffer must not stop the others
            logs.error("sweep failed for buffer", problem=repr(error), buffer=buffer.label)
            report.errors.append({"buffer": buffer.label, "error": repr(error)})
    counted = summarize_rejections(ctx)
    if counted.problem is not None:
        report.errors.append({"buffer": "(rejection summary)", "error": counted.problem})
    logs.info("sweep done", **report.as_dict())
    return report


def _sweep_buffer(ctx: Context, buffer: BufferRef, report: SweepReport) -> None:
    settings, records = ctx.settings, ctx.backends.records
    for batch in ctx.backends.batches.unfinished(buffer):
        if batch.abandoned(settings.lease_seconds) and finish(ctx, batch):
            report.batches_completed.append(batch.manifest_path)
    oldest = records.oldest_pending_at(buffer)
    flushed: FlushReport | None = None
    if buffer.grouped:
        # A group is complete once its folder has gone quiet; never flushed by age alone,
        # since that would register half a group.
        if _older_than(ctx, records.newest_pending_at(buffer), settings.group_quiet_seconds):
            flushed = flush(ctx, buffer, full_only=False)
    elif _older_than(ctx, oldest, settings.max_age_seconds):
        flushed = flush(ctx, buffer, full_only=False)
    elif (
        oldest is not None
        # Catch a threshold whose event died before checking it.
        and records.count_pending(buffer) >= settings.batch_size(buffer.key)
    ):
        flushed = flush(ctx, buffer, full_only=True)
    if flushed is not None and (flushed.manifests or flushed.completed):
        report.buffers_flushed += 1
        report.manifests_written.extend(flushed.manifests)
        report.batches_completed.extend(flushed.completed)
    ctx.backends.buffers.save_pending_summary(
        buffer, records.count_pending(buffer), records.oldest_pending_at(buffer)
    )
