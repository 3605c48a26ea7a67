"""Rejected-object counts per folder, kept by the sweep for dashboards.

The cost follows rejections, never folders: a folder is counted only when one of its
rejections is recorded (seen through the records written since the last summary) or
expires (its `recount_at` has passed), and then only for the reasons that may have changed,
one count() each. A folder without rejections, and a new buffer, cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from registration import logs
from registration.services.ports import Context, RejectionSummaries

# A rejection is summarised by the first sweep that starts after it is written. Its
# recorded_at is taken just before the write, by the writer's clock, so each sweep rescans
# this much before its watermark: a write that lands later than that still gets counted
# when the folder's oldest rejection expires and the folder is recounted.
REJECTION_SCAN_OVERLAP = timedelta(minutes=5)

# The summary's one dependency (docs/architecture.md: dependencies visible per use case).
Dependencies = RejectionSummaries


@dataclass(frozen=True)
class SummaryOutcome:
    folders: int  # folders recounted
    problem: str | None = None  # why it failed, if it did
    work_remaining: bool = False  # the budget ran out first; the next sweep carries on


def _never() -> bool:
    return False


def summarize_rejections(ctx: Context, out_of_time: Callable[[], bool] = _never) -> SummaryOutcome:
    """Recount rejected objects by reason for the folders whose counts may have changed.

    Exact without a shared counter: each count is a count() aggregation over the rejection
    records, written into the folder's summary and copied into each of its buffer documents
    (docs/firestore-schema.md says why). The summary is a view, so a failure is reported in
    the outcome but never stops the sweep's real work; and it runs last in the sweep, so a
    run out of budget leaves it for the next run (the watermark stays where it was).
    """
    summaries: Dependencies = ctx.backends.summaries
    done = 0
    try:
        now = ctx.clock()
        watermark = summaries.watermark()
        since = None if watermark is None else watermark - REJECTION_SCAN_OVERLAP
        # New rejections say which reasons of which folders grew: 1 read per rejection.
        changed = {
            folder: set(reasons)
            for folder, reasons in summaries.reasons_recorded_since(since).items()
        }
        # Records the TTL policy removes must leave the counts too: a folder is recounted
        # once its oldest counted rejection has expired (a cost that follows expiries).
        expired = summaries.folders_due_recount(now)
        folders = sorted(set(changed) | expired)
        stored = {(item.bucket, item.folder): item.counts for item in summaries.counts_of(folders)}
        for bucket, folder in folders:
            if out_of_time():
                logs.warning("rejection summary cut short", folders=done, left=len(folders) - done)
                return SummaryOutcome(done, work_remaining=True)
            old = stored.get((bucket, folder), {})
            reasons = changed.get((bucket, folder), set())
            if (bucket, folder) in expired:
                reasons |= set(old)  # expiry only lowers the counts already there
            fresh = summaries.count_folder(bucket, folder, sorted(reasons))
            counts = {
                reason: number
                for reason, number in {**old, **fresh}.items()
                if number and (reason in fresh or reason not in reasons)
            }
            summaries.save_counts(bucket, folder, counts, now)
            done += 1
        summaries.save_watermark(now)
    except Exception as error:  # the summary is a view; flushing matters more
        logs.error("rejection summary failed", problem=repr(error))
        return SummaryOutcome(done, repr(error))
    logs.info("rejection summary updated", folders=done)
    return SummaryOutcome(done)
