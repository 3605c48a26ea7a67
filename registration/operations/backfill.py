"""Register objects that already exist, through the same buffers as events (resumable)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registration import logs
from registration.domain import (
    BufferRef,
    Ignored,
    Rejected,
    RejectionReason,
    StorageObject,
    stable_id,
)
from registration.lifecycle import FinalizeAction
from registration.operations.common import (
    buffer_label,
    chunks,
    is_grouped,
    lister,
    object_fields,
    ops_store,
)

if TYPE_CHECKING:
    from registration.service import RegistrationService

# Firestore commits at most 500 writes; one listed chunk becomes at most one commit.
BACKFILL_CHUNK = 500


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
    return stable_id(bucket, prefix)


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
            logs.info("backfill: ignored", detail=verdict.detail, **object_fields(obj))
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
            **object_fields(obj),
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
            **object_fields(obj),
        )
    for buffer in touched:
        report.manifests.extend(_flush_if_full(service, buffer))


def _flush_if_full(service: RegistrationService, buffer: BufferRef) -> list[str]:
    # The event path's threshold rule: groups wait for the sweep's quiet time.
    if is_grouped(buffer.key):
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
    for chunk in chunks(objects, chunk_size):
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
