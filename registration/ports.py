"""The small interfaces the service needs from storage. Adapters implement them."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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
