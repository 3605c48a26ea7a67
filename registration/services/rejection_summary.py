"""Rejected-object counts per folder, kept by the sweep for dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from registration import logs
from registration.services.ports import Context

# A rejection is summarised by the first sweep that starts after it is written. Its
# recorded_at is taken just before the write, by the writer's clock, so each sweep rescans
# this much before its watermark: a write that lands later than that still gets counted by
# the daily recount below.
REJECTION_SCAN_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class SummaryOutcome:
    folders: int  # folders recounted
    problem: str | None = None  # why it failed, if it did


def summarize_rejections(ctx: Context) -> SummaryOutcome:
    """Recount rejected objects by reason for every folder that may have changed.

    Exact without a shared counter: each count is a count() aggregation over the rejection
    records, written into the folder's summary and copied into each of its buffer documents
    (docs/firestore-schema.md says why). The summary is a view, so a failure is reported in
    the outcome but never stops the sweep's real work.
    """
    summaries = ctx.backends.summaries
    try:
        now = ctx.clock()
        watermark = summaries.watermark()
        since = None if watermark is None else watermark - REJECTION_SCAN_OVERLAP
        folders = summaries.folders_touched_since(since)
        # Records the TTL policy removes must leave the counts too: a folder is recounted
        # once its oldest counted rejection has expired (a cost that follows expiries).
        folders |= summaries.folders_due_recount(now)
        for bucket, folder in sorted(folders):
            summaries.save_counts(bucket, folder, summaries.count_folder(bucket, folder), now)
        summaries.save_watermark(now)
    except Exception as error:  # the summary is a view; flushing matters more
        logs.error("rejection summary failed", problem=repr(error))
        return SummaryOutcome(0, repr(error))
    logs.info("rejection summary updated", folders=len(folders))
    return SummaryOutcome(len(folders))
