"""The use cases: register, withdraw, flush, finish interrupted batches, sweep, status.

Data moves one way: StorageObject -> classification -> store -> batch -> manifest -> sink.
The store and sink come in as arguments (see ports.py), so the same code runs against the
emulators, production, or an in-memory model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from registration import dicom, logs
from registration.classify import classify, key_for, may_be_headerless_dicom
from registration.clock import Clock, utc_now
from registration.config import Settings
from registration.domain import (
    Accepted,
    BatchRecord,
    BufferRef,
    Ignored,
    ManifestKey,
    ManifestUnit,
    Rejected,
    RejectionReason,
    StorageObject,
)
from registration.exceptions import ManifestValidationError
from registration.faults import fault_point
from registration.grouping import dicom_series, image_groups
from registration.lifecycle import DeleteAction, FinalizeAction
from registration.manifest import build_manifest, render
from registration.operations import summarize_rejections
from registration.paths import manifest_path
from registration.ports import BufferStore, Lease, ManifestSink

# Bounds one flush call, so one request never drains an enormous backlog alone.
MAX_BATCHES_PER_FLUSH = 50
# A sealed group is claimed whole (it is never split across manifests); this bounds the
# claim transaction. Encord's own ceiling for one sequence is 32,767 frames.
MAX_GROUP_MEMBERS = 40_000
# Names per "manifest written" log line.
LOGGED_NAMES_PER_LINE = 1000
# Encord recommends at most 10,000-15,000 frames per image sequence.
RECOMMENDED_SEQUENCE_FRAMES = 15_000


CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}

GROUPED_KEYS = frozenset({ManifestKey.IMAGE_GROUPS, ManifestKey.DICOM_SERIES})


@dataclass
class FlushReport:
    manifests: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)


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


def _fields(obj: StorageObject) -> dict[str, Any]:
    return {"bucket": obj.bucket, "name": obj.name, "generation": obj.generation}


def _name_order(obj: StorageObject) -> tuple[str, int]:
    return (obj.name, obj.generation)


def _buffer_fields(buffer: BufferRef) -> dict[str, Any]:
    return {"buffer": f"{buffer.bucket}/{buffer.folder}:{buffer.key.value}"}


class RegistrationService:
    def __init__(
        self,
        settings: Settings,
        store: BufferStore,
        sink: ManifestSink,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sink = sink
        self.clock = clock
        # Per instance: checks of a buffer's count still to skip (see _flush_if_full).
        self._skip: dict[BufferRef, int] = {}
        self._arrivals: dict[BufferRef, int] = {}
        self._skip_lock = threading.Lock()

    # -- events -------------------------------------------------------------------------

    def _classify(
        self, obj: StorageObject, *, head: bytes | None = None
    ) -> Accepted | Rejected | Ignored:
        return classify(
            obj,
            manifest_prefix=self.settings.manifest_prefix,
            image_group_prefixes=self.settings.image_group_prefixes,
            image_sequence_prefixes=self.settings.image_sequence_prefixes,
            has_dicom_magic=head is not None and dicom.has_magic(head),
        )

    def _with_dicom_header(self, obj: StorageObject) -> tuple[StorageObject, bytes | None]:
        """Read the first bytes once when they can decide the type or the DICOM series."""
        worth_reading = may_be_headerless_dicom(obj) or (key_for(obj) is ManifestKey.DICOM_SERIES)
        if not worth_reading or obj.name.startswith(self.settings.manifest_prefix):
            return obj, None
        head = self.sink.read_head(obj.bucket, obj.name, dicom.HEADER_BYTES)
        if head is None or (key_for(obj) is None and not dicom.has_magic(head)):
            return obj, head  # not DICOM after all: classification decides what it is
        info = dicom.series_info(head)
        return replace(obj, series_uid=info.series_uid, instance_number=info.instance_number), head

    def _reject(self, obj: StorageObject, reason: RejectionReason, detail: str) -> None:
        first_time = self.store.record_rejection(obj, reason, detail, self.clock())
        logs.warning(
            "rejected" if first_time else "rejected (already recorded)",
            reason=reason.value,
            detail=detail,
            **_fields(obj),
        )

    def register(self, obj: StorageObject) -> FinalizeAction | None:
        """Handle a finalize event. Returns what happened to the object's record."""
        logs.info("received finalize", **_fields(obj))
        obj, head = self._with_dicom_header(obj)
        verdict = self._classify(obj, head=head)
        if isinstance(verdict, Ignored):
            logs.info("ignored", detail=verdict.detail, **_fields(obj))
            return None
        if isinstance(verdict, Rejected):
            self._reject(obj, verdict.reason, verdict.detail)
            return None
        buffer = BufferRef(obj.bucket, verdict.folder, verdict.key, verdict.create_video)
        now = self.clock()
        self.store.ensure_buffer(buffer, now)
        fault_point("register.after_ensure_buffer")
        action = self.store.add_pending(buffer, obj, now)
        fault_point("register.after_add_pending")
        logs.info(
            f"finalize: {action.value}",
            action=action.value,
            **_fields(obj),
            **_buffer_fields(buffer),
        )
        if action is FinalizeAction.OVERWRITES_REGISTERED:
            self._reject(
                obj,
                RejectionReason.OVERWRITTEN_AFTER_REGISTRATION,
                f"{obj.name!r} is already in a manifest; generation {obj.generation} "
                "would register the same URL again",
            )
        if action in (FinalizeAction.BUFFER, FinalizeAction.DUPLICATE):
            # A duplicate may be the redelivery of an attempt that died before this check,
            # so it checks too: that is what makes a crash here safe.
            self._flush_if_full(buffer)
        return action

    def withdraw(self, obj: StorageObject) -> DeleteAction | None:
        """Handle a delete event: a pending generation leaves its buffer."""
        logs.info("received delete", **_fields(obj))
        verdict = self._classify(obj)
        if (
            isinstance(verdict, Rejected)
            and verdict.reason is RejectionReason.UNKNOWN_TYPE
            and may_be_headerless_dicom(obj)
        ):
            # It may have been registered by its DICM magic, which can no longer be read now
            # that it is gone; withdrawing from the folder's DICOM buffer is always safe (at
            # worst it leaves a tombstone no finalize will ever meet).
            verdict = Accepted(ManifestKey.DICOM_SERIES, obj.folder)
        if not isinstance(verdict, Accepted):
            logs.info("delete of an object that is not registrable", **_fields(obj))
            return None
        buffer = BufferRef(obj.bucket, verdict.folder, verdict.key, verdict.create_video)
        action = self.store.withdraw(buffer, obj, self.clock())
        logs.info(
            f"delete: {action.value}", action=action.value, **_fields(obj), **_buffer_fields(buffer)
        )
        if action is DeleteAction.DELETED_AFTER_REGISTRATION:
            self._reject(
                obj,
                RejectionReason.DELETED_AFTER_REGISTRATION,
                f"{obj.name!r} was deleted after its manifest was claimed; Encord may hold "
                "a URL that no longer resolves",
            )
        return action

    # -- flushing -----------------------------------------------------------------------

    def _flush_if_full(self, buffer: BufferRef) -> None:
        if buffer.key in GROUPED_KEYS:
            return  # groups are sealed by quiet time in the sweep, never by count
        # A count() bills a read. A count that finds r objects missing
        # lets this instance skip up to r // 2 of the next checks: about log2(batch size)
        # counts per batch. Every object the count did not see reaches this check after it,
        # so skipping fewer than r (less the checks that arrived while the count was on the
        # wire) leaves a check after the one that fills the buffer, on one instance. Across
        # instances that is not guaranteed, and the sweep catches a missed threshold.
        size = self.settings.batch_size(buffer.key)
        with self._skip_lock:
            self._arrivals[buffer] = issued = self._arrivals.get(buffer, 0) + 1
            left = self._skip.get(buffer, 0)
            if left > 0:
                self._skip[buffer] = left - 1
                return
        count = self.store.count_pending(buffer)
        with self._skip_lock:
            since = self._arrivals[buffer] - issued
            missing = size - count
            self._skip[buffer] = max(0, min(missing // 2, missing - since - 1))
        if count >= size:
            fault_point("register.before_flush")
            self.flush(buffer, full_only=True)

    def flush(self, buffer: BufferRef, *, full_only: bool) -> FlushReport:
        """Claim and write batches. full_only: only exactly-full batches (threshold flush)."""
        report = FlushReport()
        size = (
            MAX_GROUP_MEMBERS
            if buffer.key in GROUPED_KEYS
            else self.settings.batch_size(buffer.key)
        )
        for _ in range(MAX_BATCHES_PER_FLUSH):
            now = self.clock()
            seq = self.store.next_batch_seq(buffer)
            lease = self.store.acquire_lease(buffer, seq, now, self.settings.lease_seconds)
            if lease is Lease.HELD:
                break
            if lease is not Lease.ACQUIRED:
                self._finish_if_interrupted(buffer, seq, report)
                continue
            fault_point("flush.after_lease")
            path = manifest_path(
                self.settings.manifest_prefix, buffer, seq, now, self.settings.manifest_format
            )
            claimed = self.store.claim_batch(
                buffer,
                seq,
                limit=size,
                minimum=size if full_only else 1,
                now=now,
                manifest_bucket=self.settings.manifest_bucket_for(buffer.bucket),
                manifest_path=path,
            )
            if claimed is None:
                self.store.release_lease(buffer, seq)
                fault_point("flush.after_release")
                break
            fault_point("flush.after_claim")
            logs.info(
                "claimed batch",
                batch=seq,
                items=len(claimed.members),
                manifest=path,
                **_buffer_fields(buffer),
            )
            self._write(claimed.record, claimed.members)
            report.manifests.append(path)
            if len(claimed.members) < size or (
                full_only and self.store.count_pending(buffer) < size
            ):
                break
        return report

    def _finish_if_interrupted(self, buffer: BufferRef, seq: int, report: FlushReport) -> None:
        batch = self.store.batch(buffer, seq)
        if batch is None or batch.state != "claimed":
            return
        claimed_at = batch.claimed_at or self.clock()
        if self.clock() - claimed_at < timedelta(seconds=self.settings.lease_seconds):
            return  # its claimer is most likely still writing it
        if self.finish(batch):
            report.completed.append(batch.manifest_path)

    def finish(self, batch: BatchRecord) -> bool:
        """Write the manifest of a claimed batch whose writer died. Safe to run twice."""
        members = self.store.batch_members(batch.buffer, batch.seq)
        logs.warning(
            "finishing interrupted batch",
            batch=batch.seq,
            items=len(members),
            manifest=batch.manifest_path,
            **_buffer_fields(batch.buffer),
        )
        return self._write(batch, members)

    def _write(self, batch: BatchRecord, members: Sequence[StorageObject]) -> bool:
        units = self._units(batch, members)
        try:
            manifest = build_manifest(
                batch.buffer.key,
                units,
                url_style=self.settings.url_style,
                name=batch.manifest_path,
            )
        except ManifestValidationError as error:
            # Retrying cannot fix this; leave the batch claimed and shout, so ops see it in
            # the logs and the status view rather than the event retrying for 24 hours.
            logs.error(
                "manifest invalid",
                batch=batch.seq,
                problem=str(error),
                **_buffer_fields(batch.buffer),
            )
            return False
        data = render(manifest, self.settings.manifest_format)
        self.sink.write(
            batch.manifest_bucket,
            batch.manifest_path,
            data,
            CONTENT_TYPES[self.settings.manifest_format],
        )
        fault_point("flush.after_manifest_write")
        first = self.store.mark_written(batch, self.clock())
        fault_point("flush.after_mark_written")
        self._log_written(batch, members)
        return first

    def _log_written(self, batch: BatchRecord, members: Sequence[StorageObject]) -> None:
        # Every member's name is logged with its batch and manifest, so that any object can
        # be traced from the logs alone; chunked to keep each line of a big batch readable.
        names = sorted(obj.name for obj in members)
        manifest = f"gs://{batch.manifest_bucket}/{batch.manifest_path}"
        for start in range(0, max(len(names), 1), LOGGED_NAMES_PER_LINE):
            logs.info(
                "manifest written",
                batch=batch.seq,
                items=len(names),
                manifest=manifest,
                names=names[start : start + LOGGED_NAMES_PER_LINE],
                **_buffer_fields(batch.buffer),
            )

    def _units(self, batch: BatchRecord, members: Sequence[StorageObject]) -> list[ManifestUnit]:
        # Ordered so that a rewrite after a crash produces the same bytes.
        if batch.buffer.key not in GROUPED_KEYS:
            ordered = sorted(members, key=_name_order)
            return list(ordered)
        if batch.seq > 1:
            logs.warning(
                "files arrived after an earlier group of this folder was sealed; "
                "they form a new group",
                batch=batch.seq,
                items=len(members),
                **_buffer_fields(batch.buffer),
            )
        if batch.buffer.key is ManifestKey.DICOM_SERIES:
            return list(dicom_series(batch.buffer, batch.seq, members))
        groups = image_groups(batch.buffer, batch.seq, members, self.settings.max_sequence_frames)
        if batch.buffer.create_video and len(members) > RECOMMENDED_SEQUENCE_FRAMES:
            logs.warning(
                "image sequence longer than Encord recommends",
                frames=len(members),
                recommended=RECOMMENDED_SEQUENCE_FRAMES,
                parts=len(groups),
                **_buffer_fields(batch.buffer),
            )
        return list(groups)

    # -- housekeeping -------------------------------------------------------------------

    def _is_old(self, moment: datetime | None, seconds: int) -> bool:
        return moment is not None and self.clock() - moment >= timedelta(seconds=seconds)

    def sweep(self) -> SweepReport:
        report = SweepReport()
        for summary in list(self.store.buffers()):
            buffer = summary.buffer
            report.buffers_checked += 1
            try:
                self._sweep_buffer(buffer, report)
            except Exception as error:  # one broken buffer must not stop the others
                logs.error("sweep failed for buffer", problem=repr(error), **_buffer_fields(buffer))
                report.errors.append(
                    {"buffer": _buffer_fields(buffer)["buffer"], "error": repr(error)}
                )
        summarize_rejections(self, report)
        logs.info("sweep done", **report.as_dict())
        return report

    def _sweep_buffer(self, buffer: BufferRef, report: SweepReport) -> None:
        for batch in self.store.unfinished_batches(buffer):
            if (
                batch.state == "claimed"
                and self._is_old(batch.claimed_at, self.settings.lease_seconds)
                and self.finish(batch)
            ):
                report.batches_completed.append(batch.manifest_path)
        oldest = self.store.oldest_pending_at(buffer)
        flush: FlushReport | None = None
        if buffer.key in GROUPED_KEYS:
            # A group is complete once its folder has gone quiet; never flushed by age alone,
            # since that would register half a group.
            if self._is_old(
                self.store.newest_pending_at(buffer), self.settings.group_quiet_seconds
            ):
                flush = self.flush(buffer, full_only=False)
        elif self._is_old(oldest, self.settings.max_age_seconds):
            flush = self.flush(buffer, full_only=False)
        elif (
            oldest is not None
            # Catch a threshold whose event died before checking it.
            and self.store.count_pending(buffer) >= self.settings.batch_size(buffer.key)
        ):
            flush = self.flush(buffer, full_only=True)
        if flush is not None and (flush.manifests or flush.completed):
            report.buffers_flushed += 1
            report.manifests_written.extend(flush.manifests)
            report.batches_completed.extend(flush.completed)
        self.store.save_pending_summary(
            buffer, self.store.count_pending(buffer), self.store.oldest_pending_at(buffer)
        )

    # -- the ops view -------------------------------------------------------------------

    def status(self, recent_rejections: int = 50) -> dict[str, Any]:
        """Live view of every buffer plus the latest rejected objects (JSON-ready).

        Pending counts and ages are live (a count() and a one-document query per buffer);
        rejected counts by reason are the sweep's per-folder summary (docs/firestore-schema.md).
        """
        # Imported here: operations imports this module's names lazily, and only this method
        # of the service needs it.
        from registration.operations import rejection_counts

        now = self.clock()
        by_folder = {(item.bucket, item.folder): item for item in rejection_counts(self)}
        buffers = []
        for summary in self.store.buffers():
            buffer = summary.buffer
            folder_counts = by_folder.get((buffer.bucket, buffer.folder))
            buffers.append(
                {
                    "bucket": buffer.bucket,
                    "folder": buffer.folder,
                    "key": buffer.key.value,
                    "sequence": buffer.create_video,
                    "pending": self.store.count_pending(buffer),
                    "oldest_pending_at": self.store.oldest_pending_at(buffer),
                    "last_flush_at": summary.last_flush_at,
                    "last_manifest_path": summary.last_manifest_path,
                    "batches_written": summary.batches_written,
                    "objects_registered": summary.objects_registered,
                    "batch_size": self.settings.batch_size(buffer.key),
                    # Rejections belong to the folder, not the key (docs/firestore-schema.md).
                    "rejected_by_reason": {} if folder_counts is None else folder_counts.counts,
                }
            )
        buffers.sort(key=lambda row: (row["bucket"], row["folder"], row["key"], row["sequence"]))
        rejected = [
            {
                "bucket": record.bucket,
                "name": record.name,
                "generation": record.generation,
                "reason": record.reason,
                "detail": record.detail,
                "recorded_at": record.recorded_at,
            }
            for record in self.store.recent_rejections(recent_rejections)
        ]
        rejected_counts = [
            {
                "bucket": item.bucket,
                "folder": item.folder,
                "counts": item.counts,
                "total": item.total,
                "counted_at": item.counted_at,
            }
            for item in sorted(by_folder.values(), key=lambda item: (item.bucket, item.folder))
        ]
        return {
            "generated_at": now,
            "buffers": buffers,
            "rejected": rejected,
            "rejected_counts": rejected_counts,
            "max_age_seconds": self.settings.max_age_seconds,
        }
