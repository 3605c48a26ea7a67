"""Rejected-object counts per folder, kept by the sweep for dashboards."""

from __future__ import annotations

from datetime import timedelta

from registration import logs
from registration.services.ports import Context

# A rejection is summarised by the first sweep that starts after it is written. Its
# recorded_at is taken just before the write, by the writer's clock, so each sweep rescans
# this much before its watermark: a write that lands later than that still gets counted by
# the daily recount below.
REJECTION_SCAN_OVERLAP = timedelta(minutes=5)
# Every folder summary is recounted at least this often, so rejection records removed by
# the TTL policy leave the counts too.
REJECTION_RECOUNT_AFTER = timedelta(days=1)


def summarize_rejections(ctx: Context) -> str | None:
    """Recount rejected objects by reason for every folder that may have changed.

    Exact without a shared counter: each count is a count() aggregation over the rejection
    records, written into the folder's summary and copied into each of its buffer documents
    (docs/firestore-schema.md says why). Returns None, or the problem when it failed: the
    summary is a view, so a failure is reported but never stops the sweep's real work.
    """
    summaries = ctx.backends.summaries
    try:
        now = ctx.clock()
        watermark = summaries.watermark()
        since = None if watermark is None else watermark - REJECTION_SCAN_OVERLAP
        folders = summaries.folders_touched_since(since)
        folders |= summaries.folders_counted_before(now - REJECTION_RECOUNT_AFTER)
        for bucket, folder in sorted(folders):
            summaries.save_counts(bucket, folder, summaries.count(bucket, folder), now)
        summaries.save_watermark(now)
    except Exception as error:  # the summary is a view; flushing matters more
        logs.error("rejection summary failed", problem=repr(error))
        return repr(error)
    logs.info("rejection summary updated", folders=len(folders))
    return None
