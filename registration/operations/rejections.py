"""Rejected-object counts per folder, maintained by the sweep for dashboards."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from registration import logs
from registration.ports import (
    OpsStore,
    RejectionCounts,
)

if TYPE_CHECKING:
    from registration.service import RegistrationService, SweepReport


# A rejection is summarised by the first sweep that starts after it is written. Its
# recorded_at is taken just before the write, by the writer's clock, so each sweep rescans
# this much before its watermark: a write that lands later than that still gets counted by
# the daily recount below.
REJECTION_SCAN_OVERLAP = timedelta(minutes=5)
# Every folder summary is recounted at least this often, so rejection records removed by
# the TTL policy leave the counts too.
REJECTION_RECOUNT_AFTER = timedelta(days=1)


def summarize_rejections(
    service: RegistrationService, report: SweepReport | None = None
) -> int | None:
    """Recount rejected objects by reason for every folder that may have changed.

    Exact without a shared counter: each count is a count() aggregation over the
    rejection records, written into the folder's summary and copied into each of its
    buffer documents (docs/firestore-schema.md says why). Returns the number of folders
    recounted, or None when the store has no ops methods. A failure is logged and added to
    the sweep's errors; it never stops the sweep's real work.
    """
    if not isinstance(service.store, OpsStore):
        return None
    store = service.store
    try:
        now = service.clock()
        watermark = store.rejection_watermark()
        since = None if watermark is None else watermark - REJECTION_SCAN_OVERLAP
        folders = store.folders_touched_since(since)
        folders |= store.folders_counted_before(now - REJECTION_RECOUNT_AFTER)
        for bucket, folder in sorted(folders):
            store.save_rejection_counts(bucket, folder, store.count_rejections(bucket, folder), now)
        store.save_rejection_watermark(now)
    except Exception as error:  # the summary is a view; flushing matters more
        logs.error("rejection summary failed", problem=repr(error))
        if report is not None:
            report.errors.append({"buffer": "(rejection summary)", "error": repr(error)})
        return None
    logs.info("rejection summary updated", folders=len(folders))
    return len(folders)


def rejection_counts(service: RegistrationService) -> list[RejectionCounts]:
    if not isinstance(service.store, OpsStore):
        return []
    return service.store.rejection_counts()
