"""Batches in Firestore: the lease, the claim of members, and the mark of a written manifest.

Staleness is decided by Firestore's clock, never the instance's: a lease or claim is dead
when the server's read time is more than a lease past the document's last update time, so
an instance whose clock drifts can neither steal a live lease nor keep a dead one alive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    BATCHES,
    MAX_WRITES_PER_BATCH,
    Documents,
    batch_idle_seconds,
    batch_key,
    batch_record,
    batch_state,
    fields_of,
    records_of,
    storage_object,
    submission_fields,
    with_idle,
)
from registration.adapters.firestore.queue import (
    CURSOR_FIELD,
    RANGE_BEFORE,
    RANGE_THROUGH,
    after_cursor,
    cursor_of,
    cursor_value,
    queued_in,
    shards_taken,
    within,
)
from registration.domain.batch_lifecycle import (
    may_claim,
    may_mark_invalid,
    may_mark_written,
    may_release,
    on_lease,
    written_submission,
)
from registration.domain.claim_range import Position, advance
from registration.domain.lifecycle import ObjectState
from registration.domain.migration import SCHEMA_VERSION
from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferRef,
    ClaimedBatch,
    LeaseOutcome,
    StorageObject,
)
from registration.exceptions import BackendUnavailableError

# A claim re-reads and retries when a member changed between its read and its commit.
CLAIM_ATTEMPTS = 5


class FirestoreBatches:
    """Implements services.ports.Batches.

    submits: whether a written batch awaits its Encord submission (a target is configured);
    a fact of the deployment, so the use cases never pass it.
    """

    def __init__(self, documents: Documents, *, submits: bool = False) -> None:
        self._docs = documents
        self._submits = submits

    def next_seq(self, buffer: BufferRef) -> int:
        snapshot = self._docs.buffer(buffer).get()
        return int(snapshot.get("next_seq")) if snapshot.exists else 1

    def acquire_lease(self, buffer: BufferRef, seq: int, lease_seconds: int) -> LeaseOutcome:
        # The lease is the batch document itself, created in state 'claiming'. create() is
        # first-writer-wins without a transaction, so a crowd of events that all see a full
        # buffer costs one failed write each instead of a pile of contending transactions.
        ref = self._docs.batch(buffer, seq)
        try:
            ref.create(
                {
                    "seq": seq,
                    "state": BatchState.CLAIMING.value,
                    "leased_at": firestore.SERVER_TIMESTAMP,
                    # The buffer's identity, so that a collection-group query over batches
                    # (the sweep's, the status view's) can act on one without its buffer.
                    "bucket": buffer.bucket,
                    "folder": buffer.folder,
                    "key": buffer.key.value,
                    "create_video": buffer.create_video,
                    "schema": SCHEMA_VERSION,
                }
            )
            return LeaseOutcome.ACQUIRED
        except AlreadyExists:
            pass

        @firestore.transactional
        def take_over_if_stale(transaction: Any) -> LeaseOutcome:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return LeaseOutcome.HELD  # released a moment ago; the next event will try again
            outcome = on_lease(batch_state(snapshot), batch_idle_seconds(snapshot), lease_seconds)
            if outcome is LeaseOutcome.ACQUIRED:
                # Its holder died before claiming: take the lease over (a write renews it).
                transaction.update(ref, {"leased_at": firestore.SERVER_TIMESTAMP})
            return outcome

        result: LeaseOutcome = take_over_if_stale(self._docs.client.transaction())
        return result

    def release_lease(self, buffer: BufferRef, seq: int) -> None:
        ref = self._docs.batch(buffer, seq)

        @firestore.transactional
        def release(transaction: Any) -> None:
            if may_release(batch_state(ref.get(transaction=transaction))):
                transaction.delete(ref)

        release(self._docs.client.transaction())

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
        # A claim by range (queue.py, domain/claim_range.py): it writes the batch and the
        # buffer's cursor, never a member. Optimistic: no query inside a transaction (the
        # emulator locks queries far too coarsely, see BENCHMARKS.md). The commit is
        # conditional on the buffer and the lease being unchanged since they were read; a
        # delete or overwrite of a pending record meanwhile touches the lease (records.py,
        # claim_range.must_fence), so the claim reads again without it.
        client = self._docs.client
        buffer_ref = self._docs.buffer(buffer)
        batch_ref = self._docs.batch(buffer, seq)
        for _ in range(CLAIM_ATTEMPTS):
            snapshots = {s.reference.path: s for s in client.get_all([buffer_ref, batch_ref])}
            buffer_snapshot = snapshots[buffer_ref.path]
            lease = snapshots[batch_ref.path]
            next_seq = buffer_snapshot.get("next_seq") if buffer_snapshot.exists else None
            if not may_claim(batch_state(lease), next_seq, seq):
                return None
            before = cursor_of(fields_of(buffer_snapshot))
            query = after_cursor(self._docs, buffer, before).limit(limit)
            docs = list(_members_only(buffer, query).stream())
            if len(docs) < minimum:
                return None
            fields = [fields_of(doc) for doc in docs]  # once each: to_dict() deep-copies
            # Ordered by queued_at, the query returns only records that have their place.
            places = [queued_in(member, doc.id) for member, doc in zip(fields, docs, strict=True)]
            through = advance(before, [place for place in places if place is not None])
            batch = client.batch()
            batch.update(
                batch_ref,
                {
                    "seq": seq,
                    "state": BatchState.CLAIMED.value,
                    "manifest_bucket": manifest_bucket,
                    "manifest_path": manifest_path,
                    "item_count": len(docs),
                    "claimed_at": now,
                    "written_at": None,
                    RANGE_BEFORE: cursor_value(before),
                    RANGE_THROUGH: cursor_value(through),
                },
                option=client.write_option(last_update_time=lease.update_time),
            )
            # Only the lease's holder moves the cursor, and the lease is preconditioned
            # above, so the buffer's other writes (its open mark, its summary) need not
            # fail the claim.
            batch.update(buffer_ref, {"next_seq": seq + 1, CURSOR_FIELD: cursor_value(through)})
            try:
                batch.commit()
            except FailedPrecondition:
                continue
            record = BatchRecord(
                buffer=buffer,
                seq=seq,
                state=BatchState.CLAIMED,
                manifest_bucket=manifest_bucket,
                manifest_path=manifest_path,
                item_count=len(docs),
                claimed_at=now,
                idle_seconds=0.0,
            )
            return ClaimedBatch(record, [storage_object(member) for member in fields])
        # Raised, so the event is redelivered (or the sweep retries) later.
        raise BackendUnavailableError(
            "Firestore", f"claim of batch {seq} of {buffer.label}: its queue kept changing under it"
        )

    def get(self, buffer: BufferRef, seq: int) -> BatchRecord | None:
        snapshot = self._docs.batch(buffer, seq).get()
        if not snapshot.exists:
            return None
        return with_idle(batch_record(buffer, snapshot), snapshot)

    def members(self, buffer: BufferRef, seq: int) -> list[StorageObject]:
        # The records in the batch's range: they never leave it while the batch needs
        # them (only a tombstone, or a newer generation once Encord holds nothing, does).
        return [storage_object(fields_of(doc)) for doc in self._member_docs(buffer, seq, None)]

    def _member_docs(self, buffer: BufferRef, seq: int, fields: list[str] | None) -> list[Any]:
        snapshot = self._docs.batch(buffer, seq).get()
        batch_fields = fields_of(snapshot)
        if RANGE_THROUGH not in batch_fields:
            # Claimed before claims by range: its members carry its batch_key.
            query = self._docs.objects().where(
                filter=FieldFilter("batch_key", "==", batch_key(buffer, seq))
            )
            query = query.select(fields) if fields else _members_only(buffer, query)
            docs = list(query.stream())
            return [doc for doc in docs if doc.get("state") == ObjectState.CLAIMED.value]
        before = cursor_of(batch_fields, RANGE_BEFORE)
        through = cursor_of(batch_fields, RANGE_THROUGH)
        found: list[tuple[Position, Any]] = []
        for shard in shards_taken(before, through):
            query = within(self._docs, buffer, shard, before, through)
            query = query.select(fields) if fields else _members_only(buffer, query)
            for doc in query.stream():
                if fields_of(doc).get("state") != ObjectState.DELETED.value:
                    found.append((Position(doc.get("queued_at"), doc.id), doc))
        return [doc for _, doc in sorted(found, key=lambda item: item[0])]

    def mark_written(self, batch: BatchRecord, now: datetime) -> bool:
        """Claimed -> written, once; with a target, the batch then awaits its Encord job."""
        batch_ref = self._docs.batch(batch.buffer, batch.seq)
        buffer_ref = self._docs.buffer(batch.buffer)

        @firestore.transactional
        def mark(transaction: Any) -> bool:
            if not may_mark_written(batch_state(batch_ref.get(transaction=transaction))):
                return False
            written: dict[str, Any] = {"state": BatchState.WRITTEN.value, "written_at": now}
            submission = written_submission(now, self._submits)
            if submission is not None:
                written.update(submission_fields(submission))
            transaction.update(batch_ref, written)
            transaction.update(
                buffer_ref,
                {
                    "last_flush_at": now,
                    "last_manifest_path": batch.manifest_url,
                    "batches_written": firestore.Increment(1),
                    "objects_registered": firestore.Increment(batch.item_count),
                },
            )
            return True

        result: bool = mark(self._docs.client.transaction())
        return result

    def mark_invalid(self, batch: BatchRecord, problem: str) -> bool:
        """Claimed -> invalid, once: its members stay bound to it and are rejected."""
        ref = self._docs.batch(batch.buffer, batch.seq)

        @firestore.transactional
        def mark(transaction: Any) -> bool:
            if not may_mark_invalid(batch_state(ref.get(transaction=transaction))):
                return False
            transaction.update(ref, {"state": BatchState.INVALID.value, "problem": problem})
            return True

        result: bool = mark(self._docs.client.transaction())
        return result

    def expire_members(self, batch: BatchRecord, expire_at: datetime) -> int:
        """Stamp the TTL field on every member of a batch whose way is finished (retention):
        only now may Firestore delete them, never while the batch still needs them."""
        docs = self._member_docs(batch.buffer, batch.seq, ["state", "queued_at"])
        refs = [doc.reference for doc in docs]
        for start in range(0, len(refs), MAX_WRITES_PER_BATCH):
            writes = self._docs.client.batch()
            for ref in refs[start : start + MAX_WRITES_PER_BATCH]:
                writes.update(ref, {"expire_at": expire_at})
            writes.commit()
        return len(refs)

    def in_state(self, state: BatchState, limit: int) -> list[BatchRecord]:
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("state", "in", [state.value]))
            .limit(limit)
        )
        return records_of(query)

    def by_manifest(self, bucket: str, path: str) -> BatchRecord | None:
        """The batch whose manifest is gs://bucket/path, in any buffer: a collection-group
        query on its path (indexes.py), so 1 read whatever the number of buffers."""
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("manifest_path", "==", path))
            .limit(10)
        )
        found = [batch for batch in records_of(query) if batch.manifest_bucket == bucket]
        return found[0] if found else None

    def unfinished(self, buffer: BufferRef) -> list[BatchRecord]:
        query = self._docs.batches(buffer).where(
            filter=FieldFilter("state", "in", [BatchState.CLAIMING.value, BatchState.CLAIMED.value])
        )
        return [with_idle(batch_record(buffer, snapshot), snapshot) for snapshot in query.stream()]


# What a group's manifest needs of each member: a group of 15,000 members (the cap) with
# heavy custom metadata would otherwise be loaded whole (metadata never goes into an item).
GROUP_MEMBER_FIELDS = (
    "bucket", "name", "generation", "state", "size", "content_type", "time_created",
    "series_uid", "instance_number", "shard", "queued_at",
)  # fmt: skip


def _members_only(buffer: BufferRef, query: Any) -> Any:
    return query.select(list(GROUP_MEMBER_FIELDS)) if buffer.grouped else query
