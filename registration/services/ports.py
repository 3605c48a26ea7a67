"""The narrow interfaces the use cases need, one per concern. Adapters implement them.

Protocols are structural: the Firestore and Cloud Storage adapters, and the in-memory fake
in tests/support, implement them without importing this module. The types they return
live in domain/.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from registration.clock import Clock
from registration.config import Settings
from registration.domain.batch_lifecycle import Aftermath, Decision
from registration.domain.checkpoint import Checkpoint
from registration.domain.encord_items import FollowUp, JobItems, LinkOutcome, ObjectOutcome
from registration.domain.lifecycle import REPORT, DeleteAction, FinalizeAction, Policy
from registration.domain.links import LinkEvent
from registration.domain.migration import BufferMigration
from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferQuery,
    BufferRef,
    BufferSummary,
    ClaimedBatch,
    LeaseOutcome,
    PendingBuffer,
    RejectionCounts,
    RejectionReason,
    RejectionRecord,
    StorageObject,
    StoredObject,
)
from registration.domain.notification import JobNotification
from registration.domain.submission import EncordJobResult


class ObjectRecords(Protocol):
    """One record per object name: the per-event decisions and the pending queries."""

    def add_pending(
        self, buffer: BufferRef, obj: StorageObject, now: datetime
    ) -> FinalizeAction: ...

    def withdraw(
        self,
        buffer: BufferRef,
        obj: StorageObject,
        now: datetime,
        expire_at: datetime | None = None,
    ) -> DeleteAction: ...

    def count_pending(self, buffer: BufferRef) -> int: ...

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None: ...

    def pending_summary(self, buffer: BufferRef) -> tuple[int, datetime | None]:
        """count_pending and oldest_pending_at together (one read of the buffer's cursor)."""
        ...

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None: ...

    def pending_buffers(self, after: str | None, limit: int) -> list[PendingBuffer]: ...


class BulkRecords(Protocol):
    """Object records many at a time: backfill, reconcile and trace."""

    def add_pending_many(
        self, items: Sequence[tuple[BufferRef, StorageObject]], now: datetime
    ) -> list[FinalizeAction]: ...

    def object_records(
        self, items: Sequence[tuple[str, str]], *, with_batch: bool = False
    ) -> list[StoredObject | None]: ...

    def live_records(self, bucket: str, prefix: str) -> Iterator[StoredObject]: ...


class Batches(Protocol):
    """A buffer's batches: lease a number, claim members, mark the manifest written."""

    def next_seq(self, buffer: BufferRef) -> int: ...

    def acquire_lease(self, buffer: BufferRef, seq: int, lease_seconds: int) -> LeaseOutcome: ...

    def release_lease(self, buffer: BufferRef, seq: int) -> None: ...

    def claim(
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

    def get(self, buffer: BufferRef, seq: int) -> BatchRecord | None: ...

    def members(self, buffer: BufferRef, seq: int) -> list[StorageObject]: ...

    def mark_written(self, batch: BatchRecord, now: datetime) -> bool: ...

    def mark_invalid(self, batch: BatchRecord, problem: str) -> bool: ...

    def expire_members(self, batch: BatchRecord, expire_at: datetime) -> int: ...

    def unfinished(self, buffer: BufferRef) -> list[BatchRecord]: ...

    def in_state(self, state: BatchState, limit: int) -> list[BatchRecord]: ...

    def by_manifest(self, bucket: str, path: str) -> BatchRecord | None: ...


class Submissions(Protocol):
    """A written batch's Encord upload job: intent, job id, outcome (on the batch record).

    Every write is decided by domain/batch_lifecycle.py. begin_submission's Next carries the
    writer's token (its attempt number); every later write passes it back, and is Declined
    as a stale writer once another attempt has taken over or the job's end is recorded.
    """

    def begin_submission(
        self, batch: BatchRecord, now: datetime, lease_seconds: int
    ) -> Decision: ...

    def record_submitted(
        self, batch: BatchRecord, token: int, job_id: str, now: datetime
    ) -> Decision: ...

    def record_retry(
        self, batch: BatchRecord, token: int, next_attempt_at: datetime, problem: str
    ) -> Decision: ...

    def record_refused(
        self,
        batch: BatchRecord,
        token: int,
        problem: str,
        *,
        job_missing: bool = False,
        next_attempt_at: datetime | None = None,
    ) -> Decision: ...

    def record_job(
        self,
        batch: BatchRecord,
        token: int,
        result: EncordJobResult,
        now: datetime,
        aftermath: Aftermath | None = None,
    ) -> Decision: ...

    def record_link(self, batch: BatchRecord, event: LinkEvent) -> Decision: ...

    def links_due(self, now: datetime, limit: int) -> list[BatchRecord]:
        """Finished batches with a dataset link due by now, oldest due first."""

    def failed_follow_ups(self, limit: int) -> list[BatchRecord]:
        """Finished batches whose dataset link or notification was refused (for a person)."""

    def resubmit(self, batch: BatchRecord, now: datetime) -> bool: ...

    def submissions_due(self, limit: int) -> list[BatchRecord]: ...

    def failed_submissions(self, limit: int) -> list[BatchRecord]: ...


class EncordJobs(Protocol):
    """Encord's upload jobs: start one per manifest, poll it (adapters/encord_gateway.py)."""

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str: ...

    def poll(self, job_id: str) -> EncordJobResult: ...


@runtime_checkable
class EncordSessions(Protocol):
    """An Encord gateway that bounds one invocation's calls: `session` gives the calls of
    one invocation a shared budget and a circuit breaker (services/invocation.py)."""

    def session(self, budget_seconds: float | None = None) -> EncordJobs: ...


@runtime_checkable
class EncordBreaker(Protocol):
    """An invocation's Encord calls that know whether Encord already failed in it."""

    @property
    def deferring(self) -> bool: ...


class BufferCatalog(Protocol):
    """The buffer documents: created on first use, summarised for dashboards."""

    def ensure(self, buffer: BufferRef, now: datetime) -> None: ...

    def by_ident(self, ident: str) -> BufferSummary | None: ...

    def get_many(self, buffers: Sequence[BufferRef]) -> list[BufferSummary | None]: ...

    def count(self) -> int: ...

    def page(self, query: BufferQuery, after: str | None, limit: int) -> list[BufferSummary]: ...

    def count_matching(self, query: BufferQuery) -> int: ...

    def recently_flushed(self, since: datetime, limit: int) -> list[BufferSummary]: ...

    def save_pending_summary(
        self, buffer: BufferRef, pending: int, oldest_pending_at: datetime | None
    ) -> None: ...


class Rejections(Protocol):
    """Objects that can never be registered, each with its reason."""

    def record(
        self, obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
    ) -> bool: ...

    def record_many(
        self, items: Sequence[tuple[StorageObject, RejectionReason, str]], now: datetime
    ) -> list[bool]: ...

    def present(self, items: Sequence[tuple[StorageObject, RejectionReason]]) -> list[bool]: ...

    def recent(self, limit: int) -> list[RejectionRecord]: ...

    def of_folder(self, bucket: str, folder: str, limit: int) -> list[RejectionRecord]: ...

    def of_object(self, bucket: str, name: str) -> list[RejectionRecord]: ...

    def count_malformed_event(self, now: datetime) -> None:
        """One more malformed event on now's day (UTC), whether or not it names an object."""

    def malformed_events_since(self, day: date) -> dict[date, int]:
        """Malformed events per day (UTC), from day on; days without any are left out."""


class RejectionSummaries(Protocol):
    """Rejected counts per folder, recounted by the sweep where they may have changed."""

    def watermark(self) -> datetime | None: ...

    def save_watermark(self, moment: datetime) -> None: ...

    def reasons_recorded_since(
        self, moment: datetime | None
    ) -> dict[tuple[str, str], frozenset[str]]: ...

    def folders_due_recount(self, moment: datetime) -> set[tuple[str, str]]: ...

    def count_folder(self, bucket: str, folder: str, reasons: Sequence[str]) -> dict[str, int]: ...

    def save_counts(
        self, bucket: str, folder: str, counts: dict[str, int], now: datetime
    ) -> None: ...

    def counts_of(self, folders: Sequence[tuple[str, str]]) -> list[RejectionCounts]: ...

    def totals_by_reason(self) -> dict[str, int]: ...


class Checkpoints(Protocol):
    """Where a resumable walk got to: a backfill, the sweep's scan, the migration."""

    def load(self, job: str) -> Checkpoint | None: ...

    def save(self, job: str, checkpoint: Checkpoint) -> None: ...


class LegacyLayout(Protocol):
    """Documents written in the layout before the redesign (services/migrate.py)."""

    def count_buffers(self) -> int: ...

    def buffers_after(self, after: str | None, limit: int) -> list[str]: ...

    def migrate_buffer(self, ident: str, now: datetime) -> BufferMigration: ...


class SourceBucket(Protocol):
    """The bucket objects land in: a header to classify by, listings, the live generation."""

    def read_head(self, bucket: str, name: str, length: int) -> bytes | None: ...

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[StorageObject]: ...

    def stat(self, bucket: str, name: str) -> StorageObject | None: ...


class ManifestWriter(Protocol):
    """Where manifests go, and where a retried submission reads the written one back."""

    def write(self, bucket: str, path: str, data: bytes, content_type: str) -> None: ...

    def read(self, bucket: str, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Backends:
    """Every port, built once per instance by bootstrap (or by a test, over fakes)."""

    records: ObjectRecords
    bulk: BulkRecords
    batches: Batches
    buffers: BufferCatalog
    rejections: Rejections
    summaries: RejectionSummaries
    checkpoints: Checkpoints
    source: SourceBucket
    manifests: ManifestWriter
    submissions: Submissions
    # None: no Encord target is configured, and manifests are only written.
    encord: EncordJobs | None = None
    # After registration (issue 20). The one Encord gateway implements the three Encord ports;
    # invocation.begin binds them to the invocation's session with `encord`.
    encord_items: EncordJobItems | None = None
    deletes: EncordItemDeletes | None = None
    links: DatasetLinks | None = None
    # None: no REGISTRATION_NOTIFY_TOPIC.
    notifications: JobNotifications | None = None
    # None only for a Backends built before issue 20 (tests that do not need it).
    outcomes: JobOutcomes | None = None
    follow_ups: FollowUps | None = None
    # REGISTRATION_ENCORD_ON_DELETE / ON_OVERWRITE; the records store decides events with it.
    policy: Policy = REPORT


@dataclass(frozen=True)
class Context:
    """What every use case is handed: the settings, the ports and the clock."""

    settings: Settings
    backends: Backends
    clock: Clock


# -- After registration (issue 20): docs/encord.md, "What follows a job".


class JobOutcomes(Protocol):
    """Writing a finished job's outcome on the object records (domain/lifecycle.on_job_end
    decides, per record); returns how many records were written."""

    def record_outcomes(self, outcomes: Sequence[ObjectOutcome]) -> int: ...


@runtime_checkable
class EncordJobItems(Protocol):
    """The items a finished job created (adapters/encord_gateway.py)."""

    def job_items(self, job_id: str, *, with_urls: bool = False) -> JobItems: ...


@runtime_checkable
class EncordItemDeletes(Protocol):
    """Deleting items from the target folder, with the frame files no other item uses."""

    def delete_items(self, item_uuids: Sequence[str]) -> None: ...


@runtime_checkable
class DatasetLinks(Protocol):
    """Linking items to a dataset, duplicates skipped (so a retried link is harmless)."""

    def link_items(self, dataset_hash: str, item_uuids: Sequence[str]) -> LinkOutcome: ...


class JobNotifications(Protocol):
    """One message per finished job (adapters/pubsub.py); returns the message id."""

    def publish(self, notification: JobNotification) -> str: ...


class FollowUps(Protocol):
    """Records whose delete or overwrite waits to be carried over to Encord. Every write
    applies only while lifecycle.may_follow_up holds for the generation it was decided for."""

    def follow_ups_due(self, now: datetime, limit: int) -> list[FollowUp]: ...

    def reschedule_follow_up(
        self, follow_up: FollowUp, attempts: int, next_attempt_at: datetime, problem: str | None
    ) -> bool: ...

    def fail_follow_up(self, follow_up: FollowUp, problem: str) -> bool: ...

    def follow_ups_failed(self, limit: int) -> list[FollowUp]:
        """Follow-ups Encord refused for good (an item it would not delete): for a person."""

    def release_item(self, follow_up: FollowUp) -> bool:
        """The item is deleted: Encord holds nothing for the generation (follow-up kept)."""

    def close_follow_up(
        self, follow_up: FollowUp, now: datetime, *, tombstone: bool, expire_at: datetime | None
    ) -> bool:
        """Done: clear it; with tombstone, the name is dead up to the record's generation."""


class EncordCalls(EncordJobs, EncordJobItems, EncordItemDeletes, DatasetLinks, Protocol):
    """Every Encord call of the function: what adapters/encord_gateway.py implements."""
