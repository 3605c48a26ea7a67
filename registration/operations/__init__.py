"""Ops use cases: flush one buffer, backfill, reconcile, trace, and the rejection summary.

Each function takes the RegistrationService and works through its store and sink, which
must also implement OpsStore and ObjectLister (ports.py; the real adapters do). They reuse
the service's own classification, lifecycle decisions and flushing, so an object registered
by a backfill or a repair is indistinguishable from one registered by its event: same
buffer, same idempotency, same manifests.

The service module is imported lazily, so service.sweep may call summarize_rejections
without an import cycle.
"""

from __future__ import annotations

from registration.operations.backfill import (
    BACKFILL_CHUNK,
    BackfillReport,
    BackfillStoppedError,
    backfill,
    backfill_job,
    register_existing,
)
from registration.operations.common import (
    OpsCapableStore,
    OpsUnavailableError,
    buffer_label,
    lister,
    ops_store,
)
from registration.operations.flush import find_buffers, force_flush
from registration.operations.reconcile import (
    RECONCILE_CHUNK,
    Missed,
    ReconcileReport,
    folder_may_hold,
    reconcile,
)
from registration.operations.rejections import (
    REJECTION_RECOUNT_AFTER,
    REJECTION_SCAN_OVERLAP,
    rejection_counts,
    summarize_rejections,
)
from registration.operations.trace import BatchTrace, Trace, trace

__all__ = [
    "BACKFILL_CHUNK",
    "RECONCILE_CHUNK",
    "REJECTION_RECOUNT_AFTER",
    "REJECTION_SCAN_OVERLAP",
    "BackfillReport",
    "BackfillStoppedError",
    "BatchTrace",
    "Missed",
    "OpsCapableStore",
    "OpsUnavailableError",
    "ReconcileReport",
    "Trace",
    "backfill",
    "backfill_job",
    "buffer_label",
    "find_buffers",
    "folder_may_hold",
    "force_flush",
    "lister",
    "ops_store",
    "reconcile",
    "register_existing",
    "rejection_counts",
    "summarize_rejections",
    "trace",
]
