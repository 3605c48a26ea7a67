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
    buffer_of,
    cleared_follow_up_fields,
    fields_of,
    follow_up_fields,
    follow_up_of,
    object_record,
    outcome_fields,
    pending_fields,
    stored_object,
    tombstone_fields,
    unreadable,
)
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

    def __init__(self, documents: Documents, policy: Policy = REPORT) -> None:
        self._docs = documents
        # REGISTRATION_ENCORD_ON_DELETE / ON_OVERWRITE, handed to every decision.
        self._policy = policy

    def add_pending(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> FinalizeAction:
        ref = self._docs.object(obj.bucket, obj.name)
        try:
            ref.create(pending_fields(obj, buffer, now))
            return FinalizeAction.BUFFER
        except AlreadyExists:
            pass
        except InvalidArgument as error:
            raise RecordRefusedError(obj.name, str(error.message)) from error
        # The name is known: a duplicate, an overwrite, or a finalize after its delete.

        @firestore.transactional
        def decide(transaction: Any) -> FinalizeAction:
            record = object_record(ref.get(transaction=transaction))
            action = on_finalize(record, obj.generation, self._policy)
            if action is FinalizeAction.BUFFER:
                transaction.set(ref, pending_fields(obj, buffer, now))
            elif notes_follow_up(action) and record is not None and not record.follow_up:
                transaction.update(ref, follow_up_fields(now))
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
            snapshot = ref.get(transaction=transaction)
            record = object_record(snapshot)
            action = on_delete(record, obj.generation, self._policy)
            if notes_follow_up(action) and record is not None and not record.follow_up:
                transaction.update(ref, follow_up_fields(now))
            if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
                # A withdrawn record stays filed under the buffer it waited in.
                home = buffer_of(fields_of(snapshot)) if snapshot.exists else buffer
                transaction.set(ref, tombstone_fields(obj, home, now, expire_at))
            return action

        result: DeleteAction = decide(self._docs.client.transaction())
        return result

    def count_pending(self, buffer: BufferRef) -> int:
        # An aggregation bills one read per 1,000 index entries: the cheapest exact count
        # that needs no shared counter document.
        result = self._docs.pending(buffer).count(alias="n").get()
        return int(result[0][0].value)

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None:
        docs = list(self._docs.pending(buffer).order_by("created_at").limit(1).stream())
        return docs[0].get("created_at") if docs else None

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None:
        query = self._docs.pending(buffer).order_by(
            "created_at", direction=firestore.Query.DESCENDING
        )
        docs = list(query.limit(1).stream())
        return docs[0].get("created_at") if docs else None

    def pending_buffers(self, after: str | None, limit: int) -> list[PendingBuffer]:
        """Buffers with a pending object, in buffer-id order after `after`, each with its
        oldest pending time. A skip scan: one single-document query per buffer found, so
        the cost follows the buffers with work, never the buffers that ever existed."""
        found: Found[PendingBuffer] = Found()
        base = (
            self._docs.objects()
            .where(filter=FieldFilter("state", "==", ObjectState.PENDING.value))
            .order_by("buffer")
            .order_by("created_at")
        )
        cursor = after
        while len(found) < limit:
            query = base
            if cursor is not None:
                query = query.where(filter=FieldFilter("buffer", ">", cursor))
            docs = list(query.limit(1).stream())
            if not docs:
                break
            fields = fields_of(docs[0])
            cursor = fields["buffer"]  # ordered by it, so every document found has it
            try:
                found.append(PendingBuffer(buffer_of(fields), fields["created_at"]))
            except PARSE_ERRORS as error:
                # That buffer's oldest record cannot be read: skip the buffer, report it.
                found.unreadable += (unreadable(docs[0], error),)
        return found

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

        def settle_known(index: int, snapshot: Any) -> FinalizeAction:
            buffer, obj = items[index]
            action = on_finalize(object_record(snapshot), obj.generation, self._policy)
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

    def object_records(self, items: Sequence[tuple[str, str]]) -> list[StoredObject | None]:
        """The records of (bucket, name) pairs, None where a name has none."""
        refs = [self._docs.object(bucket, name) for bucket, name in items]
        known = self._docs.existing(refs)
        return [stored_object(known[ref.path]) if ref.path in known else None for ref in refs]

    # -- a finished job's outcome (issue 20) ------------------------------------------

    def record_outcomes(self, outcomes: Sequence[ObjectOutcome]) -> int:
        """Write each generation's outcome (registered with its item, or refused) on its
        record, where lifecycle.on_job_end allows it. One batched read of the records, then
        one commit per 500 writes, each write conditional on the record being unchanged since
        it was read; a record that changed in between is decided again in a transaction."""
        refs = [self._docs.object(o.bucket, o.name) for o in outcomes]
        known = self._docs.existing(refs)
        written = 0
        for start in range(0, len(outcomes), MAX_WRITES_PER_BATCH):
            end = start + MAX_WRITES_PER_BATCH
            chunk = list(zip(outcomes[start:end], refs[start:end], strict=True))
            batch = self._docs.client.batch()
            planned: list[tuple[ObjectOutcome, Any]] = []
            for outcome, ref in chunk:
                snapshot = known.get(ref.path)
                record = object_record(snapshot) if snapshot is not None else None
                if not on_job_end(record, outcome.generation, outcome.outcome):
                    continue
                assert snapshot is not None  # on_job_end never writes a missing record
                option = self._docs.client.write_option(last_update_time=snapshot.update_time)
                batch.update(ref, outcome_fields(outcome), option=option)
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
            record = object_record(ref.get(transaction=transaction))
            if not on_job_end(record, outcome.generation, outcome.outcome):
                return False
            transaction.update(ref, outcome_fields(outcome))
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
        """Records under gs://bucket/prefix that are, or will be, in a manifest."""
        query = (
            self._docs.objects()
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(
                filter=FieldFilter(
                    "state", "in", [ObjectState.PENDING.value, ObjectState.CLAIMED.value]
                )
            )
        )
        if prefix:
            # Names under a prefix form one range: [prefix, prefix + the highest code point).
            query = query.where(filter=FieldFilter("name", ">=", prefix)).where(
                filter=FieldFilter("name", "<", prefix + "\U0010ffff")
            )
        for snapshot in query.stream():
            yield stored_object(snapshot)
