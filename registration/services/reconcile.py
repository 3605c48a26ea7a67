"""Compare a bucket with Firestore: missed finalizes and missed deletes, and repair them.

Ports: source (the listing), bulk (the records under a prefix), records (withdraw),
rejections (already rejected?), and those of intake.py (through backfill) to repair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from registration import logs
from registration.domain.lifecycle import FinalizeAction, ObjectRecord, ObjectState, on_finalize
from registration.domain.model import (
    Accepted,
    BufferRef,
    Rejected,
    RejectionReason,
    StorageObject,
    StoredObject,
    object_log_fields,
)
from registration.services.backfill import BACKFILL_CHUNK, BackfillReport, chunks
from registration.services.intake import register_many, tombstone_expiry, verdict_for
from registration.services.ports import Context
from registration.services.rejecting import reject_many

# Reconcile reads records in batched gets of this many.
RECONCILE_CHUNK = 300


@dataclass
class Missed:
    """A live object whose event evidently never arrived, and what repairing it does."""

    obj: StorageObject
    outcome: str  # 'register', or the rejection reason that was never recorded


@dataclass
class ReconcileReport:
    bucket: str
    prefix: str
    listed: int = 0
    in_order: int = 0
    missed: list[Missed] = field(default_factory=list)
    # Recorded as pending or registered, but the object no longer exists (missed delete).
    pending_gone: list[StoredObject] = field(default_factory=list)
    registered_gone: list[StoredObject] = field(default_factory=list)
    repair: BackfillReport | None = None
    withdrawn: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "listed": self.listed,
            "in_order": self.in_order,
            "missed": [
                {"name": item.obj.name, "generation": item.obj.generation, "fix": item.outcome}
                for item in self.missed
            ],
            "pending_but_gone": [_gone(record) for record in self.pending_gone],
            "registered_but_gone": [_gone(record) for record in self.registered_gone],
            "repair": None if self.repair is None else self.repair.as_dict(),
            "withdrawn": self.withdrawn,
        }


def _gone(record: StoredObject) -> dict[str, Any]:
    return {
        "name": record.obj.name,
        "generation": record.obj.generation,
        "buffer": record.buffer.label,
        "batch": record.batch,
    }


def _record_of(stored: StoredObject | None) -> ObjectRecord | None:
    if stored is None:
        return None
    return ObjectRecord(ObjectState(stored.state), stored.obj.generation)


def reconcile(
    ctx: Context,
    bucket: str,
    prefix: str,
    *,
    repair: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Compare gs://bucket/prefix with Firestore; with repair, replay the missed events.

    Missed finalizes are registered through register_many (the backfill path). A
    missed delete of a pending object is replayed as the delete event would have done it
    (the object leaves its buffer); for an object already in a manifest, the rejection
    'deleted_after_registration' is recorded so ops see that Encord holds a dead URL.
    """
    backends = ctx.backends
    source = backends.source
    started = ctx.clock()
    report = ReconcileReport(bucket, prefix)
    live: dict[str, int] = {}
    for chunk in chunks(source.list_objects(bucket, prefix), RECONCILE_CHUNK):
        for obj in chunk:
            live[obj.name] = obj.generation
        _check_chunk(ctx, chunk, report)
        if on_progress is not None:
            on_progress(report.listed)
    candidates = [
        record
        for record in backends.bulk.live_records(bucket, prefix)
        if record.obj.name not in live
        # Created after the listing began: the listing may simply not show it yet.
        and (record.created_at is None or record.created_at < started)
    ]
    for record in candidates:
        if source.stat(bucket, record.obj.name) is not None:
            continue  # uploaded again since the listing: its own event handles it
        if record.state is ObjectState.PENDING:
            report.pending_gone.append(record)
        else:
            report.registered_gone.append(record)
    if repair:
        _repair(ctx, report)
    logs.info(
        "reconcile done",
        bucket=bucket,
        prefix=prefix,
        listed=report.listed,
        missed=len(report.missed),
        pending_gone=len(report.pending_gone),
        registered_gone=len(report.registered_gone),
        repaired=repair,
    )
    return report


def _check_chunk(ctx: Context, chunk: Sequence[StorageObject], report: ReconcileReport) -> None:
    accepted: list[tuple[BufferRef, StorageObject]] = []
    rejected: list[tuple[StorageObject, RejectionReason]] = []
    for listed in chunk:
        report.listed += 1
        obj, verdict = verdict_for(ctx, listed)
        if isinstance(verdict, Accepted):
            accepted.append((verdict.buffer_in(obj.bucket), obj))
        elif isinstance(verdict, Rejected):
            rejected.append((obj, verdict.reason))
        else:
            report.in_order += 1  # ignored by design (our own manifests)
    records = ctx.backends.bulk.object_records([(obj.bucket, obj.name) for _, obj in accepted])
    for (_buffer, obj), record in zip(accepted, records, strict=True):
        action = on_finalize(_record_of(record), obj.generation)
        if action is FinalizeAction.BUFFER:
            report.missed.append(Missed(obj, "register"))
        elif action is FinalizeAction.OVERWRITES_REGISTERED:
            rejected.append((obj, RejectionReason.OVERWRITTEN_AFTER_REGISTRATION))
        else:
            report.in_order += 1
    for (obj, reason), present in zip(
        rejected, ctx.backends.rejections.present(rejected), strict=True
    ):
        if present:
            report.in_order += 1
        else:
            report.missed.append(Missed(obj, reason.value))


def _repair(ctx: Context, report: ReconcileReport) -> None:
    repaired = BackfillReport(bucket=report.bucket, prefix=report.prefix)
    for start in range(0, len(report.missed), BACKFILL_CHUNK):
        chunk = [item.obj for item in report.missed[start : start + BACKFILL_CHUNK]]
        register_many(ctx, chunk, repaired)
    report.repair = repaired
    now = ctx.clock()
    for record in report.pending_gone:
        action = ctx.backends.records.withdraw(
            record.buffer, record.obj, now, tombstone_expiry(ctx)
        )
        report.withdrawn += 1
        logs.info(
            f"reconcile: missed delete replayed: {action.value}",
            action=action.value,
            buffer=record.buffer.label,
            **object_log_fields(record.obj),
        )
    gone = [
        (
            record.obj,
            RejectionReason.DELETED_AFTER_REGISTRATION,
            f"{record.obj.name!r} no longer exists but is in a manifest (found by reconcile); "
            "Encord may hold a URL that no longer resolves",
        )
        for record in report.registered_gone
    ]
    reject_many(ctx, gone)


def recent_prefixes(patterns: Sequence[str], days: int, today: date) -> list[str]:
    """The prefixes a scheduled reconcile covers: each pattern with `{date}` filled in for
    today and the days before it (YYYY-MM-DD), and patterns without it as they are."""
    prefixes: list[str] = []
    for pattern in patterns:
        if "{date}" not in pattern:
            prefixes.append(pattern)
            continue
        for back in range(days):
            day = today - timedelta(days=back)
            prefixes.append(pattern.replace("{date}", day.isoformat()))
    return list(dict.fromkeys(prefixes))


@dataclass
class ScheduledReconcile:
    """What one scheduled run over the recent prefixes found and repaired."""

    reports: list[ReconcileReport] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefixes": [
                {
                    "bucket": report.bucket,
                    "prefix": report.prefix,
                    "listed": report.listed,
                    "missed": len(report.missed),
                    "pending_gone": len(report.pending_gone),
                    "registered_gone": len(report.registered_gone),
                    "repaired": 0 if report.repair is None else report.repair.listed,
                }
                for report in self.reports
            ],
            "errors": self.errors,
        }


def reconcile_recent(ctx: Context) -> ScheduledReconcile:
    """Reconcile and repair REGISTRATION_RECONCILE_PREFIXES of REGISTRATION_RECONCILE_BUCKET
    over the last REGISTRATION_RECONCILE_DAYS: what catches objects whose events Eventarc
    dropped after 24 hours of retries, at a cost that follows the recent prefixes only."""
    settings = ctx.settings
    result = ScheduledReconcile()
    if settings.reconcile_bucket is None:
        return result
    today = ctx.clock().date()
    for prefix in recent_prefixes(settings.reconcile_prefixes, settings.reconcile_days, today):
        try:
            result.reports.append(reconcile(ctx, settings.reconcile_bucket, prefix, repair=True))
        except Exception as error:  # one failing prefix must not stop the others
            logs.error("reconcile failed for prefix", prefix=prefix, problem=repr(error))
            result.errors.append({"prefix": prefix, "error": repr(error)})
    return result
