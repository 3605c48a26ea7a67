"""The small interfaces the service needs from storage. Adapters implement them."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from registration.domain import (
    BatchRecord,
    BufferRef,
    BufferSummary,
    RejectionReason,
    StorageObject,
)
from registration.lifecycle import DeleteAction, FinalizeAction


class Lease(enum.StrEnum):
    ACQUIRED = "acquired"  # we may claim this batch number
    HELD = "held"  # another instance is claiming it right now
    CLAIMED = "claimed"  # already claimed; its manifest may still need writing
    WRITTEN = "written"  # finished; move on to the next number


@dataclass(frozen=True)
class ClaimedBatch:
    record: BatchRecord
    members: Sequence[StorageObject]


@dataclass(frozen=True)
class RejectionRecord:
    bucket: str
    name: str
    generation: int
    reason: str
    detail: str
    folder: str
    recorded_at: datetime


class BufferStore(Protocol):
    def ensure_buffer(self, buffer: BufferRef, now: datetime) -> None: ...

    def add_pending(
        self, buffer: BufferRef, obj: StorageObject, now: datetime
    ) -> FinalizeAction: ...

    def withdraw(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> DeleteAction: ...

    def count_pending(self, buffer: BufferRef) -> int: ...

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None: ...

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None: ...

    def next_batch_seq(self, buffer: BufferRef) -> int: ...

    def acquire_lease(
        self, buffer: BufferRef, seq: int, now: datetime, lease_seconds: int
    ) -> Lease: ...

    def release_lease(self, buffer: BufferRef, seq: int) -> None: ...

    def claim_batch(
        self,
        buffer: BufferRef,
        seq: int,
        *,
        limit: int,
        minimum: int,
        now: datetime,
        manifest_bucket: str,
        manifest_path: str,
    ) -> ClaimedBatch | None: ...

    def batch(self, buffer: BufferRef, seq: int) -> BatchRecord | None: ...

    def batch_members(self, buffer: BufferRef, seq: int) -> list[StorageObject]: ...

    def mark_written(self, batch: BatchRecord, now: datetime) -> bool: ...

    def unfinished_batches(self, buffer: BufferRef) -> list[BatchRecord]: ...

    def buffers(self) -> Iterator[BufferSummary]: ...

    def save_pending_summary(
        self, buffer: BufferRef, pending: int, oldest_pending_at: datetime | None
    ) -> None: ...

    def record_rejection(
        self,
        obj: StorageObject,
        reason: RejectionReason,
        detail: str,
        now: datetime,
    ) -> bool: ...

    def recent_rejections(self, limit: int) -> list[RejectionRecord]: ...


class ManifestSink(Protocol):
    def write(self, bucket: str, path: str, data: bytes, content_type: str) -> None: ...

    def read_head(self, bucket: str, name: str, length: int) -> bytes | None: ...


# -- ops: backfill, reconcile, trace ---------------------------------------------------
# Kept apart from BufferStore so the per-event path's interface stays small: only the CLI
# and the sweep's rejection summary use these, and a store without them (the in-memory
# model) simply has no ops view.


@dataclass(frozen=True)
class StoredObject:
    """One object name's record as ops read it."""

    buffer: BufferRef
    obj: StorageObject
    state: str
    created_at: datetime | None
    batch: int | None
    source: str | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class RejectionCounts:
    """Rejected objects of one folder by reason, exact as of counted_at."""

    bucket: str
    folder: str
    counts: dict[str, int]
    counted_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@runtime_checkable
class OpsStore(Protocol):
    def add_pending_many(
        self, items: Sequence[tuple[BufferRef, StorageObject]], now: datetime
    ) -> list[FinalizeAction]: ...

    def record_rejections(
        self,
        items: Sequence[tuple[StorageObject, RejectionReason, str]],
        now: datetime,
    ) -> list[bool]: ...

    def object_records(
        self, items: Sequence[tuple[BufferRef, str]]
    ) -> list[StoredObject | None]: ...

    def rejections_present(
        self, items: Sequence[tuple[StorageObject, RejectionReason]]
    ) -> list[bool]: ...

    def rejections_for(self, bucket: str, name: str) -> list[RejectionRecord]: ...

    def live_records(self, buffer: BufferRef) -> Iterator[StoredObject]: ...

    def load_checkpoint(self, job: str) -> dict[str, Any] | None: ...

    def save_checkpoint(self, job: str, fields: dict[str, Any]) -> None: ...

    def rejection_watermark(self) -> datetime | None: ...

    def save_rejection_watermark(self, moment: datetime) -> None: ...

    def folders_touched_since(self, moment: datetime | None) -> set[tuple[str, str]]: ...

    def folders_counted_before(self, moment: datetime) -> set[tuple[str, str]]: ...

    def count_rejections(self, bucket: str, folder: str) -> dict[str, int]: ...

    def save_rejection_counts(
        self, bucket: str, folder: str, counts: dict[str, int], now: datetime
    ) -> None: ...

    def rejection_counts(self) -> list[RejectionCounts]: ...


@runtime_checkable
class ObjectLister(Protocol):
    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[StorageObject]: ...

    def stat(self, bucket: str, name: str) -> StorageObject | None: ...
