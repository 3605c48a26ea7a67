"""One in-memory fake of every port, with the semantics of the real adapters.

MemoryStore mirrors registration/adapters/firestore/ decision for decision, so the
service can be property-tested without the emulator: the same lifecycle functions decide
finalize and delete, the lease is the batch record in state 'claiming', and a claim
succeeds only while the buffer's next_seq is the batch's.
One re-entrant lock around every method stands in for Firestore's transactions (each
method is one atomic step, as each Firestore call or transaction is).

Every batch lease and submission transition is decided by registration/domain/
batch_lifecycle.py, as in the Firestore adapters: this store only loads, decides and saves.

Claims by range (registration/domain/claim_range.py, docs/architecture.md), as in
adapters/firestore/queue.py: a record queued as pending gets a shard and a position (the
time of the write that queued it, then its document id); a claim takes the pending records
after its buffer's cursor in queue order (claim_range.take), stores its range on the batch
and moves the cursor, and writes no member. A stored-pending record the cursor covers is
claimed: every decision and every read goes through claim_range.effective, and a write on
such a record (a follow-up note, a job's outcome) makes its claim explicit (state claimed).
The lock makes a delete or an overwrite atomic with any claim, so no fence is needed (in
Firestore the fence touches a held lease, which never renews it: a lease's age counts from
when it was taken).

A position's time is this store's clock, made strictly increasing (Firestore: the commit
time); one add_pending_many commit of up to 500 new names shares one time, so those are
ordered by document id, as a Firestore batch commit's are. This store holds nothing from
before claims by range, so it has none of Firestore's fallbacks for old data (a record's
`batch` field, a batch without a range, a record without a place in its queue).

Known differences (each checked by tests/contract/test_store_differences.py):
- pending_buffers finds every buffer with a pending record after its cursor; Firestore's
  reads only buffers marked open (FirestoreBuffers.ensure), so a record queued in a buffer
  nobody ensured is found here and not there, and Firestore closes an open buffer once it
  has been empty and idle for a while (nothing to close here).
- Idle time is measured by this store's clock (Firestore: the server's read time minus the
  document's update time), so a test can pass a lease by advancing a FakeClock.
- expire_at is only stored: nothing here deletes an expired record (Firestore's TTL policy
  does, within a day or so).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from registration.clock import Clock, utc_now
from registration.domain.batch_lifecycle import (
    Decision,
    DecisionOf,
    Next,
    SubmissionWrites,
    may_claim,
    may_mark_invalid,
    may_mark_written,
    may_release,
    on_lease,
    written_submission,
)
from registration.domain.checkpoint import Checkpoint
from registration.domain.claim_range import (
    SHARDS,
    Cursor,
    Position,
    Queued,
    effective,
    shard_of,
    take,
)
from registration.domain.encord_items import FollowUp, ObjectOutcome
from registration.domain.lifecycle import (
    REPORT,
    DeleteAction,
    EncordOutcome,
    FinalizeAction,
    ObjectRecord,
    ObjectState,
    Policy,
    may_follow_up,
    notes_follow_up,
    on_delete,
    on_finalize,
    on_job_end,
)
from registration.domain.links import due_at as links_due_at
from registration.domain.links import needs_person
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
    Submission,
    stable_id,
)
from registration.domain.notification import JobNotification
from registration.exceptions import NotificationRefusedError
from registration.services.ports import (
    Backends,
    DatasetLinks,
    EncordItemDeletes,
    EncordJobItems,
    EncordJobs,
    JobNotifications,
)

REJECTION_RETENTION = timedelta(days=90)
# Writes per Firestore commit: add_pending_many creates new names in commits of this many.
MAX_WRITES_PER_COMMIT = 500
# Sorts before every real time (a batch with no next attempt is due at once).
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Buffer:
    created_at: datetime
    next_seq: int = 1
    batches_written: int = 0
    objects_registered: int = 0
    last_flush_at: datetime | None = None
    last_manifest_path: str | None = None
    pending: int = 0
    oldest_pending_at: datetime | None = None
    # Per shard, the position claimed through (claim_range.Cursor): records at or before it
    # are claimed, whatever state they are stored in.
    cursor: Cursor = field(default_factory=Cursor)


@dataclass
class _Object:
    """One object name's document: the newest generation seen and its stored state.

    shard and queued: its place in its buffer's queue, set when it is (re)written pending
    and kept by every later update (None: a tombstone, which is never queued)."""

    obj: StorageObject
    state: ObjectState
    created_at: datetime
    buffer: BufferRef
    shard: int | None = None
    queued: Position | None = None
    expire_at: datetime | None = None
    deleted_at: datetime | None = None
    source: str | None = None
    encord: EncordOutcome | None = None
    job_id: str | None = None
    item_uuid: str | None = None
    follow_up: str | None = None  # "due" or "failed"
    follow_up_due_at: datetime | None = None
    follow_up_attempts: int = 0
    follow_up_problem: str | None = None


@dataclass
class _Batch:
    seq: int
    state: BatchState
    updated_at: datetime
    manifest_bucket: str = ""
    manifest_path: str = ""
    item_count: int = 0
    claimed_at: datetime | None = None
    written_at: datetime | None = None
    problem: str | None = None
    submission: Submission | None = None
    # The range of its buffer's queue a claim took: (before, through], per shard (None:
    # not claimed yet, a lease).
    before: Cursor | None = None
    through: Cursor | None = None


@dataclass(frozen=True)
class _InQueue(Queued):
    """A record as a claim reads it: its place in the queue, and the record itself."""

    entry: _Object = field(compare=False)


@dataclass
class _Rejection:
    record: RejectionRecord
    expire_at: datetime


def _stored(obj: StorageObject) -> StorageObject:
    # Firestore hands back a fresh metadata dict.
    return dataclasses.replace(obj, custom_metadata=dict(obj.custom_metadata))


@dataclass
class MemoryStore(SubmissionWrites):
    """Implements every store port of registration.services.ports (one fake, as one
    database). The clock stands in for Firestore's server time: a batch is idle since its
    last change by this clock, whatever clock the use cases are given."""

    clock: Clock = utc_now
    # Whether a written batch awaits its Encord submission (a target is configured), as
    # FirestoreBatches is told; memory_backends sets it from the gateway it is given.
    submits: bool = False
    # REGISTRATION_ENCORD_ON_DELETE / ON_OVERWRITE, as the Firestore records adapter is told.
    policy: Policy = REPORT
    _buffers: dict[BufferRef, _Buffer] = field(default_factory=dict)
    # Keyed like Firestore's objects/{bucket+name}: one record per name, whatever its buffer.
    _objects: dict[tuple[str, str], _Object] = field(default_factory=dict)
    _batches: dict[BufferRef, dict[int, _Batch]] = field(default_factory=dict)
    _rejections: dict[tuple[str, str, int, str], _Rejection] = field(default_factory=dict)
    _folder_counts: dict[tuple[str, str], RejectionCounts] = field(default_factory=dict)
    _watermark: datetime | None = None
    _checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    _malformed_events: dict[date, int] = field(default_factory=dict)
    # The time of the last write that queued records (positions never tie across writes).
    _last_commit: datetime | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- helpers ------------------------------------------------------------------------

    def _objects_of(self, buffer: BufferRef) -> list[_Object]:
        return [entry for entry in self._objects.values() if entry.buffer == buffer]

    def _batches_of(self, buffer: BufferRef) -> dict[int, _Batch]:
        return self._batches.setdefault(buffer, {})

    def _commit_time(self) -> datetime:
        """The time of a write that queues records: this store's clock, strictly later than
        the last such write's (Firestore: the commit time, later than any it follows)."""
        moment = self.clock()
        if self._last_commit is not None and moment <= self._last_commit:
            moment = self._last_commit + timedelta(microseconds=1)
        self._last_commit = moment
        return moment

    @staticmethod
    def _queued(
        obj: StorageObject, buffer: BufferRef, now: datetime, at: datetime, source: str | None
    ) -> _Object:
        """A pending record queued by a write at `at` (pending_fields, in Firestore)."""
        ident = stable_id(obj.bucket, obj.name)  # its document id (documents.object_id)
        return _Object(
            _stored(obj),
            ObjectState.PENDING,
            created_at=now,
            buffer=buffer,
            shard=shard_of(ident),
            queued=Position(at, ident),
            source=source,
        )

    def _cursor(self, buffer: BufferRef) -> Cursor:
        state = self._buffers.get(buffer)
        return Cursor() if state is None else state.cursor

    @staticmethod
    def _place(entry: _Object) -> _InQueue | None:
        if entry.shard is None or entry.queued is None:
            return None
        return _InQueue(entry.shard, entry.queued, entry)

    def _record(self, entry: _Object | None) -> ObjectRecord | None:
        """The record as lifecycle decides on it: claimed when its buffer's cursor covers
        it, whatever state it is stored in (claim_range.effective)."""
        if entry is None:
            return None
        stored = ObjectRecord(
            entry.state, entry.obj.generation, entry.encord, follow_up=entry.follow_up is not None
        )
        return effective(stored, self._place(entry), self._cursor(entry.buffer))

    def _state(self, entry: _Object) -> ObjectState:
        """Its effective state (claim_range.effective)."""
        record = self._record(entry)
        return entry.state if record is None else record.state

    def _materialise(self, entry: _Object) -> None:
        """A write on a covered record makes its claim explicit, as Firestore's writes do
        (queue.Known.materialized): the document is written anyway."""
        entry.state = self._state(entry)

    def _waiting(self, entry: _Object) -> _InQueue | None:
        """Its place in the queue if it is pending after its buffer's cursor."""
        place = self._place(entry)
        return place if place is not None and self._state(entry) is ObjectState.PENDING else None

    def _queue(self, buffer: BufferRef) -> list[_InQueue]:
        """The buffer's pending records after its cursor, in queue order."""
        found = [place for entry in self._objects_of(buffer) if (place := self._waiting(entry))]
        return sorted(found, key=lambda item: item.position)

    def _covering(self, buffer: BufferRef, place: _InQueue) -> int | None:
        """The batch whose range holds a claimed record: the first whose end covers it
        (queue.batch_covering, which searches the batches below next_seq)."""
        state = self._buffers.get(buffer)
        next_seq = 1 if state is None else state.next_seq
        for seq, batch in sorted(self._batches_of(buffer).items()):
            through = batch.through
            if seq < next_seq and through and through.covers(place.shard, place.position):
                return seq
        return None

    def _in_range(self, buffer: BufferRef, batch: _Batch | None) -> list[_Object]:
        """A batch's members: its buffer's records in its range (before, through], whatever
        state they are stored in except deleted, in queue order (none: not claimed yet)."""
        if batch is None or batch.before is None or batch.through is None:
            return []
        before, through = batch.before, batch.through
        found = [
            place
            for entry in self._objects_of(buffer)
            if entry.state is not ObjectState.DELETED
            and (place := self._place(entry)) is not None
            and through.covers(place.shard, place.position)
            and not before.covers(place.shard, place.position)
        ]
        return [place.entry for place in sorted(found, key=lambda item: item.position)]

    def _batch_record(self, buffer: BufferRef, batch: _Batch) -> BatchRecord:
        return BatchRecord(
            buffer=buffer,
            seq=batch.seq,
            state=batch.state,
            manifest_bucket=batch.manifest_bucket,
            manifest_path=batch.manifest_path,
            item_count=batch.item_count,
            claimed_at=batch.claimed_at,
            written_at=batch.written_at,
            idle_seconds=(self.clock() - batch.updated_at).total_seconds(),
            problem=batch.problem,
            submission=batch.submission,
        )

    # -- per-event path -----------------------------------------------------------------

    def ensure(self, buffer: BufferRef, now: datetime) -> None:
        with self._lock:
            self._buffers.setdefault(buffer, _Buffer(created_at=now))

    def add_pending(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> FinalizeAction:
        with self._lock:
            ident = (obj.bucket, obj.name)
            known = self._objects.get(ident)
            record = self._record(known)
            action = on_finalize(record, obj.generation, self.policy)
            if action is FinalizeAction.BUFFER:
                self._objects[ident] = self._queued(obj, buffer, now, self._commit_time(), None)
            elif notes_follow_up(action):
                self._note_follow_up(known, now)
            return action

    def _note_follow_up(self, entry: _Object | None, now: datetime) -> None:
        if entry is not None and entry.follow_up is None:
            self._materialise(entry)
            entry.follow_up, entry.follow_up_due_at = "due", now
            entry.follow_up_attempts, entry.follow_up_problem = 0, None

    def withdraw(
        self,
        buffer: BufferRef,
        obj: StorageObject,
        now: datetime,
        expire_at: datetime | None = None,
    ) -> DeleteAction:
        with self._lock:
            ident = (obj.bucket, obj.name)
            known = self._objects.get(ident)
            record = self._record(known)
            action = on_delete(record, obj.generation, self.policy)
            if notes_follow_up(action):
                self._note_follow_up(known, now)
            if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
                # Like the Firestore set(): the tombstone keeps only identity and generation,
                # filed under the buffer the name waited in.
                tombstone = StorageObject(obj.bucket, obj.name, obj.generation)
                self._objects[ident] = _Object(
                    tombstone,
                    ObjectState.DELETED,
                    created_at=now,
                    buffer=buffer if known is None else known.buffer,
                    deleted_at=now,
                    expire_at=expire_at,
                )
            return action

    def count_pending(self, buffer: BufferRef) -> int:
        with self._lock:
            return len(self._queue(buffer))

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None:
        # The first in queue order: its arrival time (created_at, which the max age uses).
        with self._lock:
            queue = self._queue(buffer)
            return queue[0].entry.created_at if queue else None

    def pending_summary(self, buffer: BufferRef) -> tuple[int, datetime | None]:
        with self._lock:
            return self.count_pending(buffer), self.oldest_pending_at(buffer)

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None:
        with self._lock:
            queue = self._queue(buffer)
            return queue[-1].entry.created_at if queue else None

    # -- batches ------------------------------------------------------------------------

    def next_seq(self, buffer: BufferRef) -> int:
        with self._lock:
            state = self._buffers.get(buffer)
            return state.next_seq if state else 1

    def acquire_lease(self, buffer: BufferRef, seq: int, lease_seconds: int) -> LeaseOutcome:
        with self._lock:
            now = self.clock()
            batches = self._batches_of(buffer)
            batch = batches.get(seq)
            outcome = on_lease(
                None if batch is None else batch.state,
                None if batch is None else (now - batch.updated_at).total_seconds(),
                lease_seconds,
            )
            if outcome is LeaseOutcome.ACQUIRED:
                if batch is None:
                    batches[seq] = _Batch(seq, BatchState.CLAIMING, updated_at=now)
                else:
                    batch.updated_at = now  # its holder died before claiming: take it over
            return outcome

    def release_lease(self, buffer: BufferRef, seq: int) -> None:
        with self._lock:
            batches = self._batches_of(buffer)
            batch = batches.get(seq)
            if batch is not None and may_release(batch.state):
                del batches[seq]

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
    ) -> ClaimedBatch | None:
        with self._lock:
            state = self._buffers.get(buffer)
            lease = self._batches_of(buffer).get(seq)
            if state is None or not may_claim(
                None if lease is None else lease.state, state.next_seq, seq
            ):
                return None
            # A claim by range: the records after the cursor, each shard in its own order,
            # merged; it writes the batch (with its range) and the cursor, never a member.
            queue = self._queue(buffer)
            shards = [[item for item in queue if item.shard == shard] for shard in range(SHARDS)]
            members, through = take(shards, limit, state.cursor)
            if len(members) < minimum:
                return None
            batch = _Batch(
                seq,
                BatchState.CLAIMED,
                updated_at=self.clock(),
                manifest_bucket=manifest_bucket,
                manifest_path=manifest_path,
                item_count=len(members),
                claimed_at=now,
                before=state.cursor,
                through=through,
            )
            self._batches_of(buffer)[seq] = batch
            state.next_seq, state.cursor = seq + 1, through
            return ClaimedBatch(
                self._batch_record(buffer, batch), [_stored(item.entry.obj) for item in members]
            )

    def get(self, buffer: BufferRef, seq: int) -> BatchRecord | None:
        with self._lock:
            batch = self._batches_of(buffer).get(seq)
            return None if batch is None else self._batch_record(buffer, batch)

    def members(self, buffer: BufferRef, seq: int) -> list[StorageObject]:
        # The records in the batch's range: they never leave it while the batch needs them
        # (only a tombstone, or a newer generation once Encord holds nothing, does).
        with self._lock:
            batch = self._batches_of(buffer).get(seq)
            return [_stored(entry.obj) for entry in self._in_range(buffer, batch)]

    def mark_written(self, batch: BatchRecord, now: datetime) -> bool:
        with self._lock:
            stored = self._batches_of(batch.buffer).get(batch.seq)
            if stored is None or not may_mark_written(stored.state):
                return False
            stored.state = BatchState.WRITTEN
            stored.updated_at = self.clock()
            stored.submission = written_submission(now, self.submits)
            stored.written_at = now
            state = self._buffers.get(batch.buffer)
            if state is None:
                raise KeyError(f"no buffer {batch.buffer} (Firestore's update() would fail)")
            state.last_flush_at = now
            state.last_manifest_path = batch.manifest_url
            state.batches_written += 1
            state.objects_registered += batch.item_count
            return True

    def unfinished(self, buffer: BufferRef) -> list[BatchRecord]:
        with self._lock:
            return [
                self._batch_record(buffer, batch)
                for batch in self._batches_of(buffer).values()
                if batch.state in (BatchState.CLAIMING, BatchState.CLAIMED)
            ]

    # -- summaries and ops --------------------------------------------------------------

    def save_pending_summary(
        self, buffer: BufferRef, pending: int, oldest_pending_at: datetime | None
    ) -> None:
        with self._lock:
            state = self._buffers.get(buffer)
            if state is None:
                raise KeyError(f"no buffer {buffer} (Firestore's update() would fail)")
            state.pending = pending
            state.oldest_pending_at = oldest_pending_at

    def record(
        self, obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
    ) -> bool:
        ident = (obj.bucket, obj.name, obj.generation, reason.value)
        with self._lock:
            if ident in self._rejections:
                return False
            self._rejections[ident] = _Rejection(
                RejectionRecord(
                    bucket=obj.bucket,
                    name=obj.name,
                    generation=obj.generation,
                    reason=reason,
                    detail=detail,
                    folder=obj.folder,
                    recorded_at=now,
                ),
                expire_at=now + REJECTION_RETENTION,
            )
            return True

    def recent(self, limit: int) -> list[RejectionRecord]:
        with self._lock:
            records = [rejection.record for rejection in self._rejections.values()]
        records.sort(key=lambda record: record.recorded_at, reverse=True)
        return records[:limit]

    def record_many(
        self, items: Sequence[tuple[StorageObject, RejectionReason, str]], now: datetime
    ) -> list[bool]:
        return [self.record(obj, reason, detail, now) for obj, reason, detail in items]

    def present(self, items: Sequence[tuple[StorageObject, RejectionReason]]) -> list[bool]:
        with self._lock:
            return [
                (obj.bucket, obj.name, obj.generation, reason.value) in self._rejections
                for obj, reason in items
            ]

    def of_object(self, bucket: str, name: str) -> list[RejectionRecord]:
        with self._lock:
            records = [
                rejection.record
                for rejection in self._rejections.values()
                if rejection.record.bucket == bucket and rejection.record.name == name
            ]
        return sorted(records, key=lambda record: record.recorded_at)

    def count_malformed_event(self, now: datetime) -> None:
        with self._lock:
            day = now.astimezone(UTC).date()
            self._malformed_events[day] = self._malformed_events.get(day, 0) + 1

    def malformed_events_since(self, day: date) -> dict[date, int]:
        with self._lock:
            return {moment: n for moment, n in self._malformed_events.items() if moment >= day}

    # -- bulk records -------------------------------------------------------------------

    def add_pending_many(
        self, items: Sequence[tuple[BufferRef, StorageObject]], now: datetime
    ) -> list[FinalizeAction]:
        """As Firestore's (Documents.create_many): a name given twice goes the event's way
        at once; the others in commits of 500, where a known name is decided from a read
        (the event's way if that writes) and the new names are created by one commit (one
        queue time, so ordered by document id), marked as the backfill's."""
        with self._lock:
            results: dict[int, FinalizeAction] = {}
            seen: set[tuple[str, str]] = set()
            todo: list[int] = []
            for index, (buffer, obj) in enumerate(items):
                if (obj.bucket, obj.name) in seen:
                    results[index] = self.add_pending(buffer, obj, now)
                else:
                    seen.add((obj.bucket, obj.name))
                    todo.append(index)
            for start in range(0, len(todo), MAX_WRITES_PER_COMMIT):
                created = []
                for index in todo[start : start + MAX_WRITES_PER_COMMIT]:
                    buffer, obj = items[index]
                    known = self._objects.get((obj.bucket, obj.name))
                    if known is None:
                        created.append(index)
                        continue
                    action = on_finalize(self._record(known), obj.generation, self.policy)
                    if action in (FinalizeAction.BUFFER, FinalizeAction.REPLACE):
                        action = self.add_pending(buffer, obj, now)
                    results[index] = action
                # One commit creates the new names: one queue time for all of them.
                at = self._commit_time() if created else now
                for index in created:
                    buffer, obj = items[index]
                    ident = (obj.bucket, obj.name)
                    self._objects[ident] = self._queued(obj, buffer, now, at, "backfill")
                    results[index] = FinalizeAction.BUFFER
            return [results[index] for index in range(len(items))]

    def _stored_object(self, entry: _Object, *, with_batch: bool = False) -> StoredObject:
        """The record as the ports show it: its effective state, and (with_batch) the batch
        whose range holds it when it is claimed (Firestore's queue.Cursors.stored)."""
        state, place, batch = self._state(entry), self._place(entry), None
        if with_batch and state is ObjectState.CLAIMED and place is not None:
            batch = self._covering(entry.buffer, place)
        return StoredObject(
            buffer=entry.buffer,
            obj=_stored(entry.obj),
            state=state,
            created_at=entry.created_at,
            batch=batch,
            source=entry.source,
            deleted_at=entry.deleted_at,
            encord=None if entry.encord is None else entry.encord.value,
            job_id=entry.job_id,
            item_uuid=entry.item_uuid,
        )

    def object_records(
        self, items: Sequence[tuple[str, str]], *, with_batch: bool = False
    ) -> list[StoredObject | None]:
        with self._lock:
            found: list[StoredObject | None] = []
            for bucket, name in items:
                entry = self._objects.get((bucket, name))
                stored = (
                    None if entry is None else self._stored_object(entry, with_batch=with_batch)
                )
                found.append(stored)
            return found

    def live_records(self, bucket: str, prefix: str) -> Iterator[StoredObject]:
        # Stored pending or claimed (Firestore's query), each in its effective state.
        with self._lock:
            records = [
                self._stored_object(entry)
                for (owner, name), entry in self._objects.items()
                if owner == bucket
                and name.startswith(prefix)
                and entry.state in (ObjectState.PENDING, ObjectState.CLAIMED)
            ]
        return iter(records)

    def pending_buffers(self, after: str | None, limit: int) -> list[PendingBuffer]:
        """Buffers with a pending record after their cursor, in id order after `after`,
        each with the created_at of the first in queue order. Every such buffer, where
        Firestore reads those marked open (the module's docstring)."""
        with self._lock:
            first: dict[str, tuple[Position, PendingBuffer]] = {}
            for entry in self._objects.values():
                place = self._waiting(entry)
                if place is None:
                    continue
                ident = entry.buffer.ident
                if after is not None and ident <= after:
                    continue
                known = first.get(ident)
                if known is None or place.position < known[0]:
                    first[ident] = (place.position, PendingBuffer(entry.buffer, entry.created_at))
        return [first[ident][1] for ident in sorted(first)[:limit]]

    def _every_batch(self) -> list[tuple[BufferRef, _Batch]]:
        return [
            (buffer, batch)
            for buffer, batches in self._batches.items()
            for batch in batches.values()
        ]

    def in_state(self, state: BatchState, limit: int) -> list[BatchRecord]:
        with self._lock:
            found = [
                self._batch_record(buffer, batch)
                for buffer, batch in self._every_batch()
                if batch.state is state
            ]
        return found[:limit]

    def mark_invalid(self, batch: BatchRecord, problem: str) -> bool:
        with self._lock:
            stored = self._batches_of(batch.buffer).get(batch.seq)
            if stored is None or not may_mark_invalid(stored.state):
                return False
            stored.state = BatchState.INVALID
            stored.problem = problem
            stored.updated_at = self.clock()
            return True

    # -- submissions --------------------------------------------------------------------

    def expire_members(self, batch: BatchRecord, expire_at: datetime) -> int:
        with self._lock:
            members = self._in_range(batch.buffer, self._batches_of(batch.buffer).get(batch.seq))
            for entry in members:
                entry.expire_at = expire_at
            return len(members)

    def apply_decision(
        self, batch: BatchRecord, decision_of: DecisionOf, *, intent: bool = False
    ) -> Decision:
        with self._lock:
            stored = self._batches_of(batch.buffer).get(batch.seq)
            if stored is None:
                return decision_of(None, None, None)
            idle = (self.clock() - stored.updated_at).total_seconds()
            decision = decision_of(stored.state, stored.submission, idle)
            if isinstance(decision, Next):
                stored.submission = decision.submission
                stored.updated_at = self.clock()
            return decision

    def links_due(self, now: datetime, limit: int) -> list[BatchRecord]:
        with self._lock:
            due = [
                (when, self._batch_record(buffer, batch))
                for buffer, batch in self._every_batch()
                if batch.submission is not None
                and (when := links_due_at(batch.submission.links)) is not None
                and when <= now
            ]
        due.sort(key=lambda pair: pair[0])
        return [record for _, record in due[:limit]]

    # -- deletes and overwrites carried over to Encord ---------------------------------

    def follow_ups_due(self, now: datetime, limit: int) -> list[FollowUp]:
        with self._lock:
            due = sorted(
                (
                    (entry.follow_up_due_at, self._follow_up(entry))
                    for entry in self._objects.values()
                    if entry.follow_up_due_at is not None and entry.follow_up_due_at <= now
                ),
                key=lambda pair: pair[0] or _EARLIEST,
            )
        return [found for _, found in due[:limit]]

    def follow_ups_failed(self, limit: int) -> list[FollowUp]:
        with self._lock:
            return [
                self._follow_up(entry)
                for entry in self._objects.values()
                if entry.follow_up == "failed"
            ][:limit]

    def _follow_up(self, entry: _Object) -> FollowUp:
        record = self._record(entry)
        assert record is not None
        return FollowUp(
            entry.obj.bucket,
            entry.obj.name,
            entry.buffer,
            record,
            entry.item_uuid,
            entry.follow_up_attempts,
            entry.follow_up_problem if entry.follow_up == "failed" else None,
        )

    def _following(self, follow_up: FollowUp) -> _Object | None:
        # Firestore decides a follow-up's writes on the stored state; a record with a
        # follow-up noted is stored claimed (the note made its claim explicit), so the
        # effective state read here is the same.
        entry = self._objects.get((follow_up.bucket, follow_up.name))
        if may_follow_up(self._record(entry), follow_up.record.generation):
            return entry
        return None

    def reschedule_follow_up(
        self, follow_up: FollowUp, attempts: int, next_attempt_at: datetime, problem: str | None
    ) -> bool:
        with self._lock:
            entry = self._following(follow_up)
            if entry is None:
                return False
            entry.follow_up_attempts, entry.follow_up_due_at = attempts, next_attempt_at
            entry.follow_up_problem = problem
            return True

    def fail_follow_up(self, follow_up: FollowUp, problem: str) -> bool:
        with self._lock:
            entry = self._following(follow_up)
            if entry is None:
                return False
            entry.follow_up, entry.follow_up_due_at = "failed", None
            entry.follow_up_problem = problem
            return True

    def release_item(self, follow_up: FollowUp) -> bool:
        with self._lock:
            entry = self._following(follow_up)
            if entry is None:
                return False
            entry.encord = EncordOutcome.RELEASED
            entry.follow_up_attempts = follow_up.attempts
            return True

    def close_follow_up(
        self, follow_up: FollowUp, now: datetime, *, tombstone: bool, expire_at: datetime | None
    ) -> bool:
        with self._lock:
            entry = self._following(follow_up)
            if entry is None:
                return False
            ident = (follow_up.bucket, follow_up.name)
            if tombstone:
                dead = StorageObject(follow_up.bucket, follow_up.name, follow_up.record.generation)
                self._objects[ident] = _Object(
                    dead,
                    ObjectState.DELETED,
                    created_at=now,
                    buffer=entry.buffer,
                    deleted_at=now,
                    expire_at=expire_at,
                )
            else:
                entry.follow_up = entry.follow_up_due_at = entry.follow_up_problem = None
                entry.follow_up_attempts = 0
            return True

    def failed_follow_ups(self, limit: int) -> list[BatchRecord]:
        with self._lock:
            return [
                self._batch_record(buffer, batch)
                for buffer, batch in self._every_batch()
                if batch.submission is not None
                and needs_person(batch.submission.links, batch.submission.notify_problem)
            ][:limit]

    def record_outcomes(self, outcomes: Sequence[ObjectOutcome]) -> int:
        written = 0
        with self._lock:
            for outcome in outcomes:
                entry = self._objects.get((outcome.bucket, outcome.name))
                if on_job_end(self._record(entry), outcome.generation, outcome.outcome):
                    assert entry is not None
                    self._materialise(entry)
                    entry.encord = outcome.outcome
                    entry.job_id = outcome.job_id
                    entry.item_uuid = outcome.item_uuid
                    written += 1
        return written

    def submissions_due(self, limit: int) -> list[BatchRecord]:
        with self._lock:
            due = [
                self._batch_record(buffer, batch)
                for buffer, batch in self._every_batch()
                if batch.submission is not None and batch.submission.state.unfinished
            ]
        # In order of next attempt, as the Firestore query (no attempt time sorts first).
        due.sort(key=lambda b: (b.submission and b.submission.next_attempt_at) or _EARLIEST)
        return due[:limit]

    def by_manifest(self, bucket: str, path: str) -> BatchRecord | None:
        with self._lock:
            for buffer, batch in self._every_batch():
                record = self._batch_record(buffer, batch)
                if (record.manifest_bucket, record.manifest_path) == (bucket, path):
                    return record
        return None

    def failed_submissions(self, limit: int) -> list[BatchRecord]:
        with self._lock:
            failed = [
                self._batch_record(buffer, batch)
                for buffer, batch in self._every_batch()
                if batch.submission is not None and batch.submission.state.needs_attention
            ]
        return failed[:limit]

    # -- buffer catalog -----------------------------------------------------------------

    def _summary(self, buffer: BufferRef, state: _Buffer) -> BufferSummary:
        return BufferSummary(
            buffer=buffer,
            pending=state.pending,
            oldest_pending_at=state.oldest_pending_at,
            last_flush_at=state.last_flush_at,
            last_manifest_url=state.last_manifest_path,
            batches_written=state.batches_written,
            objects_registered=state.objects_registered,
        )

    def by_ident(self, ident: str) -> BufferSummary | None:
        with self._lock:
            for buffer, state in self._buffers.items():
                if buffer.ident == ident:
                    return self._summary(buffer, state)
        return None

    def get_many(self, buffers: Sequence[BufferRef]) -> list[BufferSummary | None]:
        with self._lock:
            return [
                None
                if buffer not in self._buffers
                else self._summary(buffer, self._buffers[buffer])
                for buffer in buffers
            ]

    def count(self) -> int:
        with self._lock:
            return len(self._buffers)

    def page(self, query: BufferQuery, after: str | None, limit: int) -> list[BufferSummary]:
        with self._lock:
            found = sorted(
                (buffer.folder, buffer.ident, self._summary(buffer, state))
                for buffer, state in self._buffers.items()
                if query.matches(buffer)
            )
            start = next((i + 1 for i, item in enumerate(found) if item[1] == after), 0)
        return [summary for _, _, summary in found[start : start + limit]]

    def count_matching(self, query: BufferQuery) -> int:
        with self._lock:
            return sum(query.matches(buffer) for buffer in self._buffers)

    def recently_flushed(self, since: datetime, limit: int) -> list[BufferSummary]:
        with self._lock:
            flushed = [
                self._summary(buffer, state)
                for buffer, state in self._buffers.items()
                if state.last_flush_at is not None and state.last_flush_at >= since
            ]
        flushed.sort(key=lambda summary: summary.last_flush_at or since, reverse=True)
        return flushed[:limit]

    # -- rejection summaries ------------------------------------------------------------

    def watermark(self) -> datetime | None:
        return self._watermark

    def save_watermark(self, moment: datetime) -> None:
        self._watermark = moment

    def reasons_recorded_since(
        self, moment: datetime | None
    ) -> dict[tuple[str, str], frozenset[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        with self._lock:
            for rejection in self._rejections.values():
                record = rejection.record
                if moment is None or record.recorded_at >= moment:
                    found.setdefault((record.bucket, record.folder), set()).add(record.reason.value)
        return {key: frozenset(reasons) for key, reasons in found.items()}

    def folders_due_recount(self, moment: datetime) -> set[tuple[str, str]]:
        with self._lock:
            due = set()
            for key in self._folder_counts:
                recorded = [
                    r.expire_at
                    for r in self._rejections.values()
                    if (r.record.bucket, r.record.folder) == key
                ]
                if recorded and min(recorded) <= moment:
                    due.add(key)
            return due

    def count_folder(self, bucket: str, folder: str, reasons: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for rejection in self._rejections.values():
                record = rejection.record
                if (record.bucket, record.folder) == (bucket, folder) and record.reason in reasons:
                    counts[record.reason.value] = counts.get(record.reason.value, 0) + 1
        return counts

    def save_counts(self, bucket: str, folder: str, counts: dict[str, int], now: datetime) -> None:
        with self._lock:
            self._folder_counts[(bucket, folder)] = RejectionCounts(bucket, folder, counts, now)

    def counts_of(self, folders: Sequence[tuple[str, str]]) -> list[RejectionCounts]:
        with self._lock:
            return [self._folder_counts[key] for key in folders if key in self._folder_counts]

    def totals_by_reason(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self._lock:
            for rejection in self._rejections.values():
                reason = rejection.record.reason
                totals[reason] = totals.get(reason, 0) + 1
        return totals

    def of_folder(self, bucket: str, folder: str, limit: int) -> list[RejectionRecord]:
        with self._lock:
            records = [
                r.record
                for r in self._rejections.values()
                if r.record.bucket == bucket and r.record.folder == folder
            ]
        records.sort(key=lambda record: record.recorded_at, reverse=True)
        return records[:limit]

    # -- checkpoints --------------------------------------------------------------------

    def load(self, job: str) -> Checkpoint | None:
        with self._lock:
            return self._checkpoints.get(job)

    def save(self, job: str, checkpoint: Checkpoint) -> None:
        with self._lock:
            self._checkpoints[job] = checkpoint

    # -- for tests ----------------------------------------------------------------------

    def expire_at_of(self, bucket: str, name: str) -> datetime | None:
        """The TTL field on a name's record (None: no record, or it never expires)."""
        with self._lock:
            entry = self._objects.get((bucket, name))
            return None if entry is None else entry.expire_at

    def run_ttl(self, now: datetime) -> int:
        """Delete every object record whose expire_at has passed, as Firestore's TTL policy
        eventually does; how many went."""
        with self._lock:
            gone = [
                ident
                for ident, entry in self._objects.items()
                if entry.expire_at is not None and entry.expire_at <= now
            ]
            for ident in gone:
                del self._objects[ident]
            return len(gone)

    def record_of(self, buffer: BufferRef, bucket: str, name: str) -> ObjectRecord | None:
        with self._lock:
            entry = self._objects.get((bucket, name))
            return None if entry is None or entry.buffer != buffer else self._record(entry)


@dataclass
class MemoryBucket:
    """Implements SourceBucket and ManifestWriter over dicts.

    writes: the latest bytes at each (bucket, path). history: every write, in order, so a
    test can see a manifest written twice. objects: source objects, listed in name order.
    """

    writes: dict[tuple[str, str], bytes] = field(default_factory=dict)
    content_types: dict[tuple[str, str], str] = field(default_factory=dict)
    history: list[tuple[str, str, bytes]] = field(default_factory=list)
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    described: dict[tuple[str, str], StorageObject] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, obj: StorageObject, data: bytes = b"") -> None:
        """A source object as if uploaded (for listing, stat and header reads)."""
        with self._lock:
            self.objects[(obj.bucket, obj.name)] = data
            self.described[(obj.bucket, obj.name)] = obj

    def write(self, bucket: str, path: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self.writes[(bucket, path)] = data
            self.content_types[(bucket, path)] = content_type
            self.history.append((bucket, path, data))

    def read(self, bucket: str, path: str) -> bytes | None:
        with self._lock:
            return self.writes.get((bucket, path))

    def read_head(self, bucket: str, name: str, length: int) -> bytes | None:
        with self._lock:
            data = self.objects.get((bucket, name))
        return None if data is None else data[:length]

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[StorageObject]:
        with self._lock:
            listed = sorted(
                (
                    obj
                    for (owner, name), obj in self.described.items()
                    if owner == bucket
                    and name.startswith(prefix)
                    and (start_after is None or name > start_after)
                ),
                key=lambda obj: obj.name,
            )
        return iter(listed)

    def stat(self, bucket: str, name: str) -> StorageObject | None:
        with self._lock:
            found = self.described.get((bucket, name))
            if found is None and (bucket, name) in self.writes:
                return StorageObject(bucket, name, 1)
            return found


@dataclass
class RecordingNotifications:
    """Implements services.ports.JobNotifications: keeps each message; `refuse` makes the
    next publishes fail as a deleted topic or a missing grant would."""

    published: list[JobNotification] = field(default_factory=list)
    refuse: str | None = None

    def publish(self, notification: JobNotification) -> str:
        if self.refuse is not None:
            raise NotificationRefusedError("the topic", self.refuse)
        self.published.append(notification)
        return str(len(self.published))


def memory_backends(
    store: MemoryStore,
    bucket: MemoryBucket,
    encord: EncordJobs | None = None,
    notifications: JobNotifications | None = None,
) -> Backends:
    """Every port over one in-memory store and one in-memory bucket (and, optionally, an
    Encord gateway: the real one against the stub, which serves the after-registration
    calls too). With a gateway, written batches await their submission, as bootstrap tells
    the Firestore adapter when a target is set."""
    store.submits = store.submits or encord is not None
    return Backends(
        encord_items=encord if isinstance(encord, EncordJobItems) else None,
        deletes=encord if isinstance(encord, EncordItemDeletes) else None,
        links=encord if isinstance(encord, DatasetLinks) else None,
        notifications=notifications,
        outcomes=store,
        follow_ups=store,
        policy=store.policy,
        records=store,
        bulk=store,
        batches=store,
        submissions=store,
        encord=encord,
        buffers=store,
        rejections=store,
        summaries=store,
        checkpoints=store,
        source=bucket,
        manifests=bucket,
    )
