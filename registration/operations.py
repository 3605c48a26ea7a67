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

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from registration import logs
from registration.domain import (
    Accepted,
    BatchRecord,
    BufferRef,
    Ignored,
    ManifestKey,
    Rejected,
    RejectionReason,
    StorageObject,
)
from registration.lifecycle import FinalizeAction, ObjectRecord, ObjectState, on_finalize
from registration.ports import (
    BufferStore,
    ObjectLister,
    OpsStore,
    RejectionCounts,
    RejectionRecord,
    StoredObject,
)

if TYPE_CHECKING:
    from registration.service import FlushReport, RegistrationService, SweepReport

# Firestore commits at most 500 writes; one listed chunk becomes at most one commit.
BACKFILL_CHUNK = 500
# Reconcile reads records in batched gets of this many.
RECONCILE_CHUNK = 300
# A rejection is summarised by the first sweep that starts after it is written. Its
# recorded_at is taken just before the write, by the writer's clock, so each sweep rescans
# this much before its watermark: a write that lands later than that still gets counted by
# the daily recount below.
REJECTION_SCAN_OVERLAP = timedelta(minutes=5)
# Every folder summary is recounted at least this often, so rejection records removed by
# the TTL policy leave the counts too.
REJECTION_RECOUNT_AFTER = timedelta(days=1)


class OpsCapableStore(BufferStore, OpsStore, Protocol):
    """What the ops use cases need: the event path's store plus the ops methods."""


class OpsUnavailableError(RuntimeError):
    """The service's store or sink lacks the ops methods (e.g. the in-memory model)."""


def ops_store(service: RegistrationService) -> OpsCapableStore:
    if not isinstance(service.store, OpsStore):
        raise OpsUnavailableError(f"{type(service.store).__name__} has no ops methods")
    return cast(OpsCapableStore, service.store)


def lister(service: RegistrationService) -> ObjectLister:
    if not isinstance(service.sink, ObjectLister):
        raise OpsUnavailableError(f"{type(service.sink).__name__} cannot list objects")
    return service.sink


def buffer_label(buffer: BufferRef) -> str:
    """The 'buffer' field of every log line: bucket/folder:key (as service.py writes it)."""
    return f"{buffer.bucket}/{buffer.folder}:{buffer.key.value}"


def _object_fields(obj: StorageObject) -> dict[str, Any]:
    return {"bucket": obj.bucket, "name": obj.name, "generation": obj.generation}


def _chunks(items: Iterable[StorageObject], size: int) -> Iterator[list[StorageObject]]:
    chunk: list[StorageObject] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _grouped(key: ManifestKey) -> bool:
    from registration.service import GROUPED_KEYS

    return key in GROUPED_KEYS


# -- flush one buffer ---------------------------------------------------------------------


def find_buffers(
    service: RegistrationService,
    folder: str,
    key: ManifestKey,
    *,
    bucket: str | None = None,
    sequence: bool | None = None,
) -> list[BufferRef]:
    return sorted(
        (
            summary.buffer
            for summary in service.store.buffers()
            if summary.buffer.folder == folder
            and summary.buffer.key is key
            and (bucket is None or summary.buffer.bucket == bucket)
            and (sequence is None or summary.buffer.create_video == sequence)
        ),
        key=lambda buffer: (buffer.bucket, buffer.create_video),
    )


def force_flush(service: RegistrationService, buffer: BufferRef) -> FlushReport:
    """Write every pending object of the buffer now, full or not (an ops decision)."""
    logs.info("forced flush requested", buffer=buffer_label(buffer))
    report = service.flush(buffer, full_only=False)
    store = service.store
    store.save_pending_summary(buffer, store.count_pending(buffer), store.oldest_pending_at(buffer))
    return report


# -- backfill -----------------------------------------------------------------------------


@dataclass
class BackfillReport:
    bucket: str
    prefix: str
    resumed_after: str | None = None
    listed: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    manifests: list[str] = field(default_factory=list)
    last_name: str | None = None
    elapsed_seconds: float = 0.0
    finished: bool = False

    @property
    def buffered(self) -> int:
        return self.actions[FinalizeAction.BUFFER.value]

    @property
    def already_known(self) -> int:
        """Names whose record already decided them: duplicates, stale, deleted."""
        return sum(count for action, count in self.actions.items() if action != "buffer")

    @property
    def rate(self) -> float:
        """Objects handled per second."""
        return self.listed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "resumed_after": self.resumed_after,
            "listed": self.listed,
            "buffered": self.buffered,
            "already_known": self.already_known,
            "actions": dict(self.actions),
            "rejected": dict(self.rejected),
            "ignored": self.ignored,
            "manifests_written": self.manifests,
            "last_name": self.last_name,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "objects_per_second": round(self.rate, 1),
            "finished": self.finished,
        }


class BackfillStoppedError(RuntimeError):
    """Test hook (--stop-after): the run dies after a commit, before its checkpoint."""

    def __init__(self, report: BackfillReport) -> None:
        super().__init__(f"stopped after {report.listed} objects")
        self.report = report


def backfill_job(bucket: str, prefix: str) -> str:
    """The checkpoint document id of one gs://bucket/prefix backfill."""
    return hashlib.sha256(f"{bucket}\n{prefix}".encode()).hexdigest()[:40]


def register_existing(
    service: RegistrationService, objects: Sequence[StorageObject], report: BackfillReport
) -> None:
    """Feed objects that already exist through the event path's decisions, batched.

    Classification, buffers, lifecycle decisions and threshold flushes are the event
    path's own; only the Firestore round trips are batched: one commit per chunk for the
    new records, one for the rejections, and one count() per touched buffer.
    """
    store = ops_store(service)
    accepted: list[tuple[BufferRef, StorageObject]] = []
    rejected: list[tuple[StorageObject, RejectionReason, str]] = []
    for listed in objects:
        report.listed += 1
        report.last_name = listed.name
        obj, head = service._with_dicom_header(listed)
        verdict = service._classify(obj, head=head)
        if isinstance(verdict, Ignored):
            report.ignored += 1
            logs.info("backfill: ignored", detail=verdict.detail, **_object_fields(obj))
        elif isinstance(verdict, Rejected):
            rejected.append((obj, verdict.reason, verdict.detail))
        else:
            buffer = BufferRef(obj.bucket, verdict.folder, verdict.key, verdict.create_video)
            accepted.append((buffer, obj))
    now = service.clock()
    for buffer in dict.fromkeys(buffer for buffer, _ in accepted):
        store.ensure_buffer(buffer, now)
    touched: dict[BufferRef, None] = {}
    for (buffer, obj), action in zip(accepted, store.add_pending_many(accepted, now), strict=True):
        report.actions[action.value] += 1
        logs.info(
            f"backfill: {action.value}",
            action=action.value,
            buffer=buffer_label(buffer),
            **_object_fields(obj),
        )
        if action is FinalizeAction.OVERWRITES_REGISTERED:
            rejected.append(
                (
                    obj,
                    RejectionReason.OVERWRITTEN_AFTER_REGISTRATION,
                    f"{obj.name!r} is already in a manifest; generation {obj.generation} "
                    "would register the same URL again",
                )
            )
        if action in (FinalizeAction.BUFFER, FinalizeAction.DUPLICATE):
            touched[buffer] = None
    for (obj, reason, detail), first in zip(
        rejected, store.record_rejections(rejected, now), strict=True
    ):
        report.rejected[reason.value] += 1
        logs.warning(
            "rejected" if first else "rejected (already recorded)",
            reason=reason.value,
            detail=detail,
            **_object_fields(obj),
        )
    for buffer in touched:
        report.manifests.extend(_flush_if_full(service, buffer))


def _flush_if_full(service: RegistrationService, buffer: BufferRef) -> list[str]:
    # The event path's threshold rule: groups wait for the sweep's quiet time.
    if _grouped(buffer.key):
        return []
    if service.store.count_pending(buffer) < service.settings.batch_size(buffer.key):
        return []
    return service.flush(buffer, full_only=True).manifests


def backfill(
    service: RegistrationService,
    bucket: str,
    prefix: str,
    *,
    chunk_size: int = BACKFILL_CHUNK,
    restart: bool = False,
    stop_after: int | None = None,
    on_progress: Callable[[BackfillReport], None] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> BackfillReport:
    """Register the objects already under gs://bucket/prefix.

    Resumable: after each chunk is committed and flushed, a checkpoint records the last
    name done; a rerun lists from there. A run that dies between a commit and its
    checkpoint repeats that chunk, which changes nothing: each name's record makes the
    repeat a duplicate, exactly as a redelivered event is.
    """
    store = ops_store(service)
    source = lister(service)
    job = backfill_job(bucket, prefix)
    report = BackfillReport(bucket, prefix)
    checkpoint = None if restart else store.load_checkpoint(job)
    if checkpoint is not None and checkpoint.get("state") != "done":
        report.resumed_after = checkpoint.get("last_name")
    store.save_checkpoint(
        job,
        {
            "bucket": bucket,
            "prefix": prefix,
            "state": "running",
            "last_name": report.resumed_after,
            "run_started_at": service.clock(),
        },
    )
    logs.info("backfill started", bucket=bucket, prefix=prefix, resumed_after=report.resumed_after)
    started = monotonic()
    objects = source.list_objects(bucket, prefix, start_after=report.resumed_after)
    for chunk in _chunks(objects, chunk_size):
        register_existing(service, chunk, report)
        report.elapsed_seconds = monotonic() - started
        if stop_after is not None and report.listed >= stop_after:
            raise BackfillStoppedError(report)
        store.save_checkpoint(
            job, {"last_name": chunk[-1].name, "updated_at": service.clock(), **_counts(report)}
        )
        if on_progress is not None:
            on_progress(report)
    report.elapsed_seconds = monotonic() - started
    report.finished = True
    store.save_checkpoint(job, {"state": "done", "finished_at": service.clock(), **_counts(report)})
    logs.info("backfill done", **report.as_dict())
    return report


def _counts(report: BackfillReport) -> dict[str, Any]:
    return {
        "run_listed": report.listed,
        "run_buffered": report.buffered,
        "run_rejected": sum(report.rejected.values()),
    }


# -- reconcile ----------------------------------------------------------------------------


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
        "buffer": buffer_label(record.buffer),
        "batch": record.batch,
    }


def folder_may_hold(folder: str, prefix: str) -> bool:
    """Whether some object directly in folder can have a name starting with prefix."""
    base = f"{folder}/" if folder else ""
    if base.startswith(prefix):
        return True
    return prefix.startswith(base) and "/" not in prefix[len(base) :]


def _record_of(stored: StoredObject | None) -> ObjectRecord | None:
    if stored is None:
        return None
    return ObjectRecord(ObjectState(stored.state), stored.obj.generation)


def reconcile(
    service: RegistrationService,
    bucket: str,
    prefix: str,
    *,
    repair: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Compare gs://bucket/prefix with Firestore; with repair, replay the missed events.

    Missed finalizes are registered through register_existing (the backfill path). A
    missed delete of a pending object is replayed as the delete event would have done it
    (the object leaves its buffer); for an object already in a manifest, the rejection
    'deleted_after_registration' is recorded so ops see that Encord holds a dead URL.
    """
    store = ops_store(service)
    source = lister(service)
    started = service.clock()
    report = ReconcileReport(bucket, prefix)
    live: dict[str, int] = {}
    for chunk in _chunks(source.list_objects(bucket, prefix), RECONCILE_CHUNK):
        for obj in chunk:
            live[obj.name] = obj.generation
        _check_chunk(service, store, chunk, report)
        if on_progress is not None:
            on_progress(report.listed)
    candidates = [
        record
        for summary in list(store.buffers())
        if summary.buffer.bucket == bucket and folder_may_hold(summary.buffer.folder, prefix)
        for record in store.live_records(summary.buffer)
        if record.obj.name.startswith(prefix)
        and record.obj.name not in live
        # Created after the listing began: the listing may simply not show it yet.
        and (record.created_at is None or record.created_at < started)
    ]
    for record in candidates:
        if source.stat(bucket, record.obj.name) is not None:
            continue  # uploaded again since the listing: its own event handles it
        if record.state == ObjectState.PENDING.value:
            report.pending_gone.append(record)
        else:
            report.registered_gone.append(record)
    if repair:
        _repair(service, store, report)
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


def _check_chunk(
    service: RegistrationService,
    store: OpsCapableStore,
    chunk: Sequence[StorageObject],
    report: ReconcileReport,
) -> None:
    accepted: list[tuple[BufferRef, StorageObject]] = []
    rejected: list[tuple[StorageObject, RejectionReason]] = []
    for listed in chunk:
        report.listed += 1
        obj, head = service._with_dicom_header(listed)
        verdict = service._classify(obj, head=head)
        if isinstance(verdict, Accepted):
            buffer = BufferRef(obj.bucket, verdict.folder, verdict.key, verdict.create_video)
            accepted.append((buffer, obj))
        elif isinstance(verdict, Rejected):
            rejected.append((obj, verdict.reason))
        else:
            report.in_order += 1  # ignored by design (our own manifests)
    records = store.object_records([(buffer, obj.name) for buffer, obj in accepted])
    for (_buffer, obj), record in zip(accepted, records, strict=True):
        action = on_finalize(_record_of(record), obj.generation)
        if action is FinalizeAction.BUFFER:
            report.missed.append(Missed(obj, "register"))
        elif action is FinalizeAction.OVERWRITES_REGISTERED:
            rejected.append((obj, RejectionReason.OVERWRITTEN_AFTER_REGISTRATION))
        else:
            report.in_order += 1
    for (obj, reason), present in zip(rejected, store.rejections_present(rejected), strict=True):
        if present:
            report.in_order += 1
        else:
            report.missed.append(Missed(obj, reason.value))


def _repair(service: RegistrationService, store: OpsCapableStore, report: ReconcileReport) -> None:
    repaired = BackfillReport(report.bucket, report.prefix)
    for start in range(0, len(report.missed), BACKFILL_CHUNK):
        chunk = [item.obj for item in report.missed[start : start + BACKFILL_CHUNK]]
        register_existing(service, chunk, repaired)
    report.repair = repaired
    now = service.clock()
    for record in report.pending_gone:
        action = store.withdraw(record.buffer, record.obj, now)
        report.withdrawn += 1
        logs.info(
            f"reconcile: missed delete replayed: {action.value}",
            action=action.value,
            buffer=buffer_label(record.buffer),
            **_object_fields(record.obj),
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
    for (obj, reason, detail), first in zip(gone, store.record_rejections(gone, now), strict=True):
        logs.warning(
            "rejected" if first else "rejected (already recorded)",
            reason=reason.value,
            detail=detail,
            **_object_fields(obj),
        )


# -- trace --------------------------------------------------------------------------------


@dataclass
class BatchTrace:
    record: StoredObject
    batch: BatchRecord | None
    manifest_exists: bool | None


@dataclass
class Trace:
    bucket: str
    name: str
    live: StorageObject | None
    classification: str
    records: list[BatchTrace]
    rejections: list[RejectionRecord]
    fate: str
    pending_in_buffer: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "name": self.name,
            "fate": self.fate,
            "live_generation": None if self.live is None else self.live.generation,
            "classification": self.classification,
            "records": [
                {
                    "buffer": buffer_label(item.record.buffer),
                    "generation": item.record.obj.generation,
                    "state": item.record.state,
                    "buffered_at": item.record.created_at,
                    "source": item.record.source or "event",
                    "batch": item.record.batch,
                    "batch_state": None if item.batch is None else item.batch.state,
                    "manifest": None if item.batch is None else _gs(item.batch),
                    "manifest_written_at": None if item.batch is None else item.batch.written_at,
                    "manifest_exists": item.manifest_exists,
                }
                for item in self.records
            ],
            "rejections": [
                {
                    "generation": record.generation,
                    "reason": record.reason,
                    "detail": record.detail,
                    "recorded_at": record.recorded_at,
                }
                for record in self.rejections
            ],
        }


def _gs(batch: BatchRecord) -> str:
    return f"gs://{batch.manifest_bucket}/{batch.manifest_path}"


def _candidate_buffers(bucket: str, folder: str) -> list[BufferRef]:
    # Every buffer the name could have been filed under, whatever its type was decided
    # to be then: one batched read of at most nine documents, no index needed.
    buffers = [BufferRef(bucket, folder, key) for key in ManifestKey]
    buffers.append(BufferRef(bucket, folder, ManifestKey.IMAGE_GROUPS, create_video=True))
    return buffers


def trace(service: RegistrationService, bucket: str, name: str) -> Trace:
    """Everything the system knows about one object name, and the one-line verdict."""
    store = ops_store(service)
    source = lister(service)
    live = source.stat(bucket, name)
    obj = live or StorageObject(bucket, name, 0)
    if live is not None:
        obj, head = service._with_dicom_header(live)
        verdict = service._classify(obj, head=head)
    else:
        verdict = service._classify(obj)
    classification = _describe(verdict)
    found = [
        record
        for record in store.object_records(
            [(buffer, name) for buffer in _candidate_buffers(bucket, obj.folder)]
        )
        if record is not None
    ]
    records = []
    for record in found:
        batch = store.batch(record.buffer, record.batch) if record.batch is not None else None
        exists = None
        if batch is not None and batch.manifest_path:
            exists = source.stat(batch.manifest_bucket, batch.manifest_path) is not None
        records.append(BatchTrace(record, batch, exists))
    rejections = store.rejections_for(bucket, name)
    result = Trace(bucket, name, live, classification, records, rejections, fate="")
    pending = [item for item in records if item.record.state == ObjectState.PENDING.value]
    if pending:
        result.pending_in_buffer = store.count_pending(pending[0].record.buffer)
    result.fate = _fate(service, result, verdict)
    return result


def _describe(verdict: Accepted | Rejected | Ignored) -> str:
    if isinstance(verdict, Accepted):
        kind = "image sequence" if verdict.create_video else verdict.key.value
        return f"registrable as {kind} in folder {verdict.folder or '(root)'!r}"
    if isinstance(verdict, Rejected):
        return f"not registrable: {verdict.reason.value} ({verdict.detail})"
    return f"ignored: {verdict.detail}"


def _fate(service: RegistrationService, result: Trace, verdict: Any) -> str:
    fate = _recorded_fate(service, result, verdict)
    newest = max((item.record.obj.generation for item in result.records), default=None)
    live = result.live
    if (
        live is not None
        and newest is not None
        and live.generation > newest
        and not any(record.generation == live.generation for record in result.rejections)
    ):
        fate += (
            f"; but the live generation {live.generation} has no record (a missed event; "
            "`python -m registration reconcile --repair` registers it)"
        )
    return fate


def _recorded_fate(service: RegistrationService, result: Trace, verdict: Any) -> str:
    newest = max(result.records, key=lambda item: item.record.obj.generation, default=None)
    if newest is not None:
        record, batch = newest.record, newest.batch
        generation = record.obj.generation
        if record.state == ObjectState.CLAIMED.value and batch is not None:
            if batch.state == "written":
                return (
                    f"registered: generation {generation} is in manifest {_gs(batch)} "
                    f"(batch {batch.seq} of buffer {buffer_label(record.buffer)})"
                )
            return (
                f"in batch {batch.seq} of buffer {buffer_label(record.buffer)}; its manifest "
                f"{_gs(batch)} is not written yet (the sweep finishes interrupted batches)"
            )
        if record.state == ObjectState.PENDING.value:
            size = service.settings.batch_size(record.buffer.key)
            return (
                f"pending: generation {generation} waits in buffer "
                f"{buffer_label(record.buffer)} since {record.created_at} "
                f"({result.pending_in_buffer} of {size} pending; written when the batch is "
                f"full or at most {service.settings.max_age_seconds} s after the oldest)"
            )
        if record.state == ObjectState.DELETED.value:
            return f"withdrawn: generation {generation} was deleted before any manifest"
        return f"{record.state}: generation {generation} in {buffer_label(record.buffer)}"
    if result.rejections:
        last = result.rejections[-1]
        return f"rejected: {last.reason} ({last.detail})"
    if isinstance(verdict, Ignored):
        return f"ignored: {verdict.detail}"
    if result.live is None:
        return "unknown: no such object in the bucket and no record of it"
    return (
        "never seen: the object exists but no event for it was recorded (a missed event); "
        "`python -m registration reconcile --repair` registers it"
    )


# -- rejection summary (run by the sweep) ---------------------------------------------------


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
