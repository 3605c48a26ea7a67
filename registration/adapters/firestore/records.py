"""Object records in Firestore: one document per object name, decided by generation.

The per-event path is one create() of the name's own document, so concurrent events never
write the same document. Only a name that is already known (duplicate, overwrite, delete)
goes through a transaction, over that one document. A name has one record whatever buffer
its generations landed in, so a name whose type changes between generations can never be
in two manifests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    MAX_WRITES_PER_BATCH,
    PARSE_ERRORS,
    Documents,
    batch_state,
    buffer_of,
    buffer_ref_of,
    cleared_follow_up_fields,
    fields_of,
    follow_up_fields,
    follow_up_of,
    object_record,
    outcome_fields,
    pending_fields,
    tombstone_fields,
    unreadable,
)
from registration.adapters.firestore.queue import (
    CLOSE_AFTER_IDLE_SECONDS,
    Cursors,
    Known,
    after_cursor,
    close_if_idle,
    cursor_of,
    effective_record,
    open_buffers,
    stored_pending,
)
from registration.domain.claim_range import SHARDS, changes_pending, must_fence
from registration.domain.encord_items import FollowUp, ObjectOutcome
from registration.domain.found import Found
from registration.domain.lifecycle import (
    REPORT,
    DeleteAction,
    EncordOutcome,
    FinalizeAction,
    ObjectState,
    Policy,
    may_follow_up,
    notes_follow_up,
    on_delete,
    on_finalize,
    on_job_end,
)
from registration.domain.model import BufferRef, PendingBuffer, StorageObject, StoredObject
from registration.exceptions import RecordRefusedError


class FirestoreObjectRecords:
    """Implements services.ports.ObjectRecords and BulkRecords."""

    def __init__(
        self,
        documents: Documents,
        policy: Policy = REPORT,
        *,
        close_after_seconds: float = CLOSE_AFTER_IDLE_SECONDS,
    ) -> None:
        self._docs = documents
        # How long an open buffer with nothing queued must be still before the skip scan
        # closes it (queue.py); tests that show the closing shorten it.
        self._close_after_seconds = close_after_seconds
        # REGISTRATION_ENCORD_ON_DELETE / ON_OVERWRITE, handed to every decision.
        self._policy = policy

    def add_pending(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> FinalizeAction:
        ref = self._docs.object(obj.bucket, obj.name)
        try:
            ref.create(pending_fields(obj, buffer, now, ref.id))
            return FinalizeAction.BUFFER
        except AlreadyExists:
            pass
        except InvalidArgument as error:
            raise RecordRefusedError(obj.name, str(error.message)) from error
        # The name is known: a duplicate, an overwrite, or a finalize after its delete.

        @firestore.transactional
        def decide(transaction: Any) -> FinalizeAction:
            known = self._read_known(transaction, ref)
            action = on_finalize(known.record, obj.generation, self._policy)
            self._fence(transaction, known, action)
            if action is FinalizeAction.BUFFER:
                transaction.set(ref, pending_fields(obj, buffer, now, ref.id))
            elif notes_follow_up(action) and known.record and not known.record.follow_up:
                transaction.update(ref, {**follow_up_fields(now), **known.materialized()})
            return action

        result: FinalizeAction = decide(self._docs.client.transaction())
        return result

    def withdraw(
        self,
        buffer: BufferRef,
        obj: StorageObject,
        now: datetime,
        expire_at: datetime | None = None,
    ) -> DeleteAction:
        ref = self._docs.object(obj.bucket, obj.name)

        @firestore.transactional
        def decide(transaction: Any) -> DeleteAction:
            known = self._read_known(transaction, ref)
            record = known.record
            action = on_delete(record, obj.generation, self._policy)
            self._fence(transaction, known, action)
            if notes_follow_up(action) and record is not None and not record.follow_up:
                transaction.update(ref, {**follow_up_fields(now), **known.materialized()})
            if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
                # A withdrawn record stays filed under the buffer it waited in.
                snapshot = known.snapshot
                home = buffer_of(fields_of(snapshot)) if snapshot.exists else buffer
                transaction.set(ref, tombstone_fields(obj, home, now, expire_at))
            return action

        result: DeleteAction = decide(self._docs.client.transaction())
        return result

    def _read_known(self, transaction: Any, ref: Any) -> Known:
        """A known name's record as lifecycle must see it, read in the transaction: a
        stored-pending record is claimed when its buffer's cursor covers it, so the buffer
        document is read too (and conflicts with a claim that moves the cursor)."""
        snapshot = ref.get(transaction=transaction)
        if not stored_pending(snapshot):
            return Known(snapshot, object_record(snapshot))
        home = buffer_of(fields_of(snapshot))
        buffer_snapshot = self._docs.buffer(home).get(transaction=transaction)
        record = effective_record(snapshot, cursor_of(fields_of(buffer_snapshot)))
        return Known(snapshot, record, home, buffer_snapshot)

    def _fence(self, transaction: Any, known: Known, action: FinalizeAction | DeleteAction) -> None:
        """Touch the lease of the buffer's next batch when this decision changes a pending
        record a claim in flight may be taking (claim_range.must_fence): that claim's commit,
        preconditioned on the lease, fails and reads again."""
        if known.home is None or not changes_pending(action, known.record):
            return
        seq = known.buffer_snapshot.get("next_seq") if known.buffer_snapshot.exists else 1
        lease_ref = self._docs.batch(known.home, int(seq))
        if must_fence(action, known.record, batch_state(lease_ref.get(transaction=transaction))):
            transaction.update(lease_ref, {"fenced_at": firestore.SERVER_TIMESTAMP})

    def _queue(self, buffer: BufferRef, *, newest_first: bool = False) -> Any:
        """The buffer's pending records after its cursor (one read of the buffer first)."""
        cursor = cursor_of(fields_of(self._docs.buffer(buffer).get()))
        return after_cursor(self._docs, buffer, cursor, newest_first=newest_first)

    def count_pending(self, buffer: BufferRef) -> int:
        # An aggregation bills one read per 1,000 index entries: the cheapest exact count
        # that needs no shared counter document.
        result = self._queue(buffer).count(alias="n").get()
        return int(result[0][0].value)

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None:
        # The first in queue order: its arrival time (created_at, the instance's clock,
        # which the max age is measured by).
        docs = list(self._queue(buffer).limit(1).stream())
        return docs[0].get("created_at") if docs else None

    def pending_summary(self, buffer: BufferRef) -> tuple[int, datetime | None]:
        queue = self._queue(buffer)
        count = int(queue.count(alias="n").get()[0][0].value)
        docs = list(queue.limit(1).stream()) if count else []
        return count, docs[0].get("created_at") if docs else None

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None:
        docs = list(self._queue(buffer, newest_first=True).limit(1).stream())
        return docs[0].get("created_at") if docs else None

    def pending_buffers(self, after: str | None, limit: int) -> list[PendingBuffer]:
        """Buffers with a pending object, in buffer-id order after `after`, each with its
        oldest pending time. Reads the open buffers only (queue.py), one query each, so the
        cost follows the buffers with work, never the buffers that ever existed. An open
        buffer found empty and idle is closed here, by a write conditional on its document
        being unchanged, so it costs nothing from the next scan on."""
        found: Found[PendingBuffer] = Found()
        page = max(limit, 10)
        position = after
        while len(found) < limit:
            buffers = list(open_buffers(self._docs, position).limit(page).stream())
            for snapshot in buffers:
                position = snapshot.id
                oldest = self._oldest_queued(snapshot, found)
                if oldest is not None:
                    found.append(oldest)
                if len(found) >= limit:
                    break
            if len(buffers) < page:
                break
        return found

    def _oldest_queued(self, snapshot: Any, found: Found[PendingBuffer]) -> PendingBuffer | None:
        """An open buffer's oldest queued record; None if it has none (then it is closed,
        if idle) or if it or its buffer cannot be read (then it is reported in `found`)."""
        try:
            fields = fields_of(snapshot)
            buffer = buffer_ref_of(fields)
            query = after_cursor(self._docs, buffer, cursor_of(fields))
        except PARSE_ERRORS as error:
            found.unreadable += (unreadable(snapshot, error),)
            return None
        docs = list(query.limit(1).stream())
        if not docs:
            close_if_idle(self._docs, snapshot, self._close_after_seconds)
            return None
        try:
            oldest = fields_of(docs[0])
            buffer_of(oldest)  # the record must be readable too: the sweep flushes it
            return PendingBuffer(buffer, oldest["created_at"])
        except PARSE_ERRORS as error:
            found.unreadable += (unreadable(docs[0], error),)
            return None

    # -- many at once: backfill and reconcile -----------------------------------------

    def add_pending_many(
        self, items: Sequence[tuple[BufferRef, StorageObject]], now: datetime
    ) -> list[FinalizeAction]:
        """add_pending for many objects, with one commit per 500 instead of one per object.

        A name that is already known takes the event path's decision (lifecycle.on_finalize)
        from a plain read. An outcome that writes nothing (duplicate, stale, already deleted,
        overwrites a registered one) is safe to take from that read, because a record only
        ever moves to newer generations or out of 'pending', which can never make this
        generation bufferable again. An outcome that writes goes through add_pending's
        transaction, exactly as an event would.
        """

        cursors = Cursors(self._docs)

        def settle_known(index: int, snapshot: Any) -> FinalizeAction:
            buffer, obj = items[index]
            action = on_finalize(cursors.record(snapshot), obj.generation, self._policy)
            if action in (FinalizeAction.BUFFER, FinalizeAction.REPLACE):
                action = self.add_pending(buffer, obj, now)
            return action

        docs = [
            (
                self._docs.object(obj.bucket, obj.name),
                {**pending_fields(obj, buffer, now), "source": "backfill"},
            )
            for buffer, obj in items
        ]

        def one_by_one(index: int) -> FinalizeAction:
            try:
                return self.add_pending(*items[index], now)
            except RecordRefusedError:
                return FinalizeAction.REFUSED  # this object only: the page carries on

        return self._docs.create_many(
            docs,
            created=FinalizeAction.BUFFER,
            settle_known=settle_known,
            one_by_one=one_by_one,
        )

    def object_records(
        self, items: Sequence[tuple[str, str]], *, with_batch: bool = False
    ) -> list[StoredObject | None]:
        """The records of (bucket, name) pairs, None where a name has none; with_batch: a
        claimed record names its batch even when only its buffer's cursor says it."""
        refs = [self._docs.object(bucket, name) for bucket, name in items]
        known = self._docs.existing(refs)
        cursors = Cursors(self._docs, with_batch=with_batch)
        return [cursors.stored(known[ref.path]) if ref.path in known else None for ref in refs]

    # -- a finished job's outcome (issue 20) ------------------------------------------

    def record_outcomes(self, outcomes: Sequence[ObjectOutcome]) -> int:
        """Write each generation's outcome (registered with its item, or refused) on its
        record, where lifecycle.on_job_end allows it. One batched read of the records, then
        one commit per 500 writes, each write conditional on the record being unchanged since
        it was read; a record that changed in between is decided again in a transaction."""
        refs = [self._docs.object(o.bucket, o.name) for o in outcomes]
        known = self._docs.existing(refs)
        cursors = Cursors(self._docs)
        written = 0
        for start in range(0, len(outcomes), MAX_WRITES_PER_BATCH):
            end = start + MAX_WRITES_PER_BATCH
            chunk = list(zip(outcomes[start:end], refs[start:end], strict=True))
            batch = self._docs.client.batch()
            planned: list[tuple[ObjectOutcome, Any]] = []
            for outcome, ref in chunk:
                snapshot = known.get(ref.path)
                record = cursors.record(snapshot) if snapshot is not None else None
                if not on_job_end(record, outcome.generation, outcome.outcome):
                    continue
                assert snapshot is not None  # on_job_end never writes a missing record
                option = self._docs.client.write_option(last_update_time=snapshot.update_time)
                fields = {**outcome_fields(outcome), **cursors.materialized(snapshot)}
                batch.update(ref, fields, option=option)
                planned.append((outcome, ref))
            if not planned:
                continue
            try:
                batch.commit()
                written += len(planned)
            except (FailedPrecondition, NotFound):
                # A record moved on between the read and the commit: decide each again.
                written += sum(self._record_outcome(ref, outcome) for outcome, ref in planned)
        return written

    def _record_outcome(self, ref: Any, outcome: ObjectOutcome) -> bool:
        @firestore.transactional
        def decide(transaction: Any) -> bool:
            known = self._read_known(transaction, ref)
            if not on_job_end(known.record, outcome.generation, outcome.outcome):
                return False
            transaction.update(ref, {**outcome_fields(outcome), **known.materialized()})
            return True

        result: bool = decide(self._docs.client.transaction())
        return result

    # -- deletes and overwrites carried over to Encord (issue 20) -------------------------

    def follow_ups_due(self, now: datetime, limit: int) -> list[FollowUp]:
        """Records whose follow-up is due (a range on follow_up_due_at, indexed by default):
        the cost follows the deletes and overwrites waiting, never the records."""
        query = (
            self._docs.objects()
            .where(filter=FieldFilter("follow_up_due_at", "<=", now))
            .order_by("follow_up_due_at")
            .limit(limit)
        )
        found: list[FollowUp] = []
        for snapshot in query.stream():
            try:
                found.append(follow_up_of(snapshot))
            except PARSE_ERRORS:
                continue  # an unreadable record: the sweep's other reads report those
        return found

    def follow_ups_failed(self, limit: int) -> list[FollowUp]:
        query = self._docs.objects().where(filter=FieldFilter("follow_up", "==", "failed"))
        found: list[FollowUp] = []
        for snapshot in query.limit(limit).stream():
            try:
                found.append(follow_up_of(snapshot))
            except PARSE_ERRORS:
                continue
        return found

    def _follow_up_write(self, follow_up: FollowUp, fields_for: Any) -> bool:
        ref = self._docs.object(follow_up.bucket, follow_up.name)

        @firestore.transactional
        def decide(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not may_follow_up(object_record(snapshot), follow_up.record.generation):
                return False
            fields_for(transaction, ref, fields_of(snapshot))
            return True

        result: bool = decide(self._docs.client.transaction())
        return result

    def reschedule_follow_up(
        self, follow_up: FollowUp, attempts: int, next_attempt_at: datetime, problem: str | None
    ) -> bool:
        fields = {
            "follow_up_attempts": attempts,
            "follow_up_due_at": next_attempt_at,
            "follow_up_problem": problem,
        }
        return self._follow_up_write(follow_up, lambda t, ref, _f: t.update(ref, fields))

    def fail_follow_up(self, follow_up: FollowUp, problem: str) -> bool:
        fields = {"follow_up": "failed", "follow_up_due_at": None, "follow_up_problem": problem}
        return self._follow_up_write(follow_up, lambda t, ref, _f: t.update(ref, fields))

    def release_item(self, follow_up: FollowUp) -> bool:
        fields = {"encord": EncordOutcome.RELEASED.value, "follow_up_attempts": follow_up.attempts}
        return self._follow_up_write(follow_up, lambda t, ref, _f: t.update(ref, fields))

    def close_follow_up(
        self, follow_up: FollowUp, now: datetime, *, tombstone: bool, expire_at: datetime | None
    ) -> bool:
        def close(transaction: Any, ref: Any, fields: dict[str, Any]) -> None:
            if tombstone:
                dead = StorageObject(follow_up.bucket, follow_up.name, follow_up.record.generation)
                transaction.set(ref, tombstone_fields(dead, buffer_of(fields), now, expire_at))
            else:
                transaction.update(ref, cleared_follow_up_fields())

        return self._follow_up_write(follow_up, close)

    def live_records(self, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Records under gs://bucket/prefix that are, or will be, in a manifest: one query
        per shard (indexes.py: names in a folder are split over the shards' ranges)."""
        cursors = Cursors(self._docs)
        for shard in range(SHARDS):
            query = (
                self._docs.objects()
                .where(filter=FieldFilter("bucket", "==", bucket))
                .where(filter=FieldFilter("shard", "==", shard))
                .where(filter=FieldFilter("state", "in", LIVE_STATES))
            )
            if prefix:
                # Names under a prefix form one range: [prefix, prefix + the highest code point).
                query = query.where(filter=FieldFilter("name", ">=", prefix)).where(
                    filter=FieldFilter("name", "<", prefix + "\U0010ffff")
                )
            for snapshot in query.stream():
                yield cursors.stored(snapshot)


LIVE_STATES = [ObjectState.PENDING.value, ObjectState.CLAIMED.value]
