"""Buffers, object records, batches and rejections in Firestore (the only Firestore code).

Layout (docs/firestore-schema.md has every field):
  buffers/{buffer_id}                      one per (bucket, folder, key); summary for dashboards
  buffers/{buffer_id}/objects/{object_id}  one per object name: newest generation and its state
  buffers/{buffer_id}/batches/{seq:06d}    one per batch: lease, claim, manifest written
  rejections/{rejection_id}                objects that cannot be registered, with the reason

The per-event path is one create() of the object's own document plus one count() query, so
concurrent events never write the same document. Transactions are used only where a decision
depends on a read: duplicates/overwrites/deletes of one name, and claiming a batch.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.domain import (
    BatchRecord,
    BufferRef,
    BufferSummary,
    ManifestKey,
    RejectionReason,
    StorageObject,
    stable_id,
)
from registration.exceptions import BackendUnavailableError
from registration.lifecycle import (
    DeleteAction,
    FinalizeAction,
    ObjectRecord,
    ObjectState,
    on_delete,
    on_finalize,
)
from registration.ports import (
    ClaimedBatch,
    Lease,
    RejectionCounts,
    RejectionRecord,
    StoredObject,
)

BUFFERS = "buffers"
OBJECTS = "objects"
BATCHES = "batches"
REJECTIONS = "rejections"
# A claim re-reads and retries when a member changed between its read and its commit.
CLAIM_ATTEMPTS = 5

# Rejection records are for ops to read, not an archive; a TTL policy on expire_at removes them.
REJECTION_RETENTION = timedelta(days=90)


def buffer_id(buffer: BufferRef) -> str:
    return buffer.ident


def object_id(bucket: str, name: str) -> str:
    return stable_id(bucket, name)


def batch_id(seq: int) -> str:
    return f"{seq:06d}"


def _object_fields(obj: StorageObject, now: datetime) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "name": obj.name,
        "generation": obj.generation,
        "state": ObjectState.PENDING.value,
        "created_at": now,
        "size": obj.size,
        "content_type": obj.content_type,
        "custom_metadata": dict(obj.custom_metadata),
        "time_created": obj.time_created,
        "series_uid": obj.series_uid,
        "instance_number": obj.instance_number,
        "batch": None,
    }


def _storage_object(fields: dict[str, Any]) -> StorageObject:
    return StorageObject(
        bucket=fields["bucket"],
        name=fields["name"],
        generation=int(fields["generation"]),
        size=fields.get("size"),
        content_type=fields.get("content_type"),
        time_created=fields.get("time_created"),
        custom_metadata=fields.get("custom_metadata") or {},
        series_uid=fields.get("series_uid"),
        instance_number=fields.get("instance_number"),
    )


def _fields_of(snapshot: Any) -> dict[str, Any]:
    fields: dict[str, Any] = snapshot.to_dict() or {}
    return fields


def _record(snapshot: Any) -> ObjectRecord | None:
    if not snapshot.exists:
        return None
    return ObjectRecord(ObjectState(snapshot.get("state")), int(snapshot.get("generation")))


class FirestoreStore:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        # Buffer documents are only ever created, never deleted, so an instance that has
        # seen one exist need not try again: saves a write attempt per event.
        self._known_buffers: set[str] = set()
        self._known_lock = threading.Lock()

    # -- references -------------------------------------------------------------------

    def _buffer_ref(self, buffer: BufferRef) -> Any:
        return self._client.collection(BUFFERS).document(buffer_id(buffer))

    def _objects(self, buffer: BufferRef) -> Any:
        return self._buffer_ref(buffer).collection(OBJECTS)

    def _object_ref(self, buffer: BufferRef, obj: StorageObject) -> Any:
        return self._objects(buffer).document(object_id(obj.bucket, obj.name))

    def _batch_ref(self, buffer: BufferRef, seq: int) -> Any:
        return self._buffer_ref(buffer).collection(BATCHES).document(batch_id(seq))

    def _pending(self, buffer: BufferRef) -> Any:
        return self._objects(buffer).where(
            filter=FieldFilter("state", "==", ObjectState.PENDING.value)
        )

    # -- per-event path ---------------------------------------------------------------

    def ensure_buffer(self, buffer: BufferRef, now: datetime) -> None:
        ident = buffer_id(buffer)
        with self._known_lock:
            if ident in self._known_buffers:
                return
        with contextlib.suppress(AlreadyExists):
            self._buffer_ref(buffer).create(
                {
                    "bucket": buffer.bucket,
                    "folder": buffer.folder,
                    "key": buffer.key.value,
                    "create_video": buffer.create_video,
                    "created_at": now,
                    "next_seq": 1,
                    "batches_written": 0,
                    "objects_registered": 0,
                    "last_flush_at": None,
                    "last_manifest_path": None,
                    "pending": 0,
                    "oldest_pending_at": None,
                    "summary_at": None,
                }
            )
        with self._known_lock:
            self._known_buffers.add(ident)

    def add_pending(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> FinalizeAction:
        ref = self._object_ref(buffer, obj)
        try:
            ref.create(_object_fields(obj, now))
            return FinalizeAction.BUFFER
        except AlreadyExists:
            pass
        # The name is known: a duplicate, an overwrite, or a finalize after its delete.
        # Only this name's document is read and written, so contention stays per object.

        @firestore.transactional
        def decide(transaction: Any) -> FinalizeAction:
            action = on_finalize(_record(ref.get(transaction=transaction)), obj.generation)
            if action is FinalizeAction.BUFFER:
                transaction.set(ref, _object_fields(obj, now))
            return action

        result: FinalizeAction = decide(self._client.transaction())
        return result

    def withdraw(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> DeleteAction:
        ref = self._object_ref(buffer, obj)

        @firestore.transactional
        def decide(transaction: Any) -> DeleteAction:
            action = on_delete(_record(ref.get(transaction=transaction)), obj.generation)
            if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
                transaction.set(
                    ref,
                    {
                        "bucket": obj.bucket,
                        "name": obj.name,
                        "generation": obj.generation,
                        "state": ObjectState.DELETED.value,
                        "deleted_at": now,
                        "created_at": now,
                        "batch": None,
                    },
                )
            return action

        result: DeleteAction = decide(self._client.transaction())
        return result

    def count_pending(self, buffer: BufferRef) -> int:
        # An aggregation bills one read per 1,000 index entries: the cheapest exact count
        # that needs no shared counter document.
        result = self._pending(buffer).count(alias="n").get()
        return int(result[0][0].value)

    def oldest_pending_at(self, buffer: BufferRef) -> datetime | None:
        docs = list(self._pending(buffer).order_by("created_at").limit(1).stream())
        return docs[0].get("created_at") if docs else None

    def newest_pending_at(self, buffer: BufferRef) -> datetime | None:
        query = self._pending(buffer).order_by("created_at", direction=firestore.Query.DESCENDING)
        docs = list(query.limit(1).stream())
        return docs[0].get("created_at") if docs else None

    # -- batches ----------------------------------------------------------------------

    def next_batch_seq(self, buffer: BufferRef) -> int:
        snapshot = self._buffer_ref(buffer).get()
        return int(snapshot.get("next_seq")) if snapshot.exists else 1

    def acquire_lease(
        self, buffer: BufferRef, seq: int, now: datetime, lease_seconds: int
    ) -> Lease:
        # The lease is the batch document itself, created in state 'claiming'. create() is
        # first-writer-wins without a transaction, so a crowd of events that all see a full
        # buffer costs one failed write each instead of a pile of contending transactions.
        ref = self._batch_ref(buffer, seq)
        try:
            ref.create({"seq": seq, "state": "claiming", "leased_at": now})
            return Lease.ACQUIRED
        except AlreadyExists:
            pass

        @firestore.transactional
        def take_over_if_stale(transaction: Any) -> Lease:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return Lease.HELD  # released a moment ago; the next event will try again
            state = snapshot.get("state")
            if state in ("claimed", "written"):
                return Lease(state)
            if snapshot.get("leased_at") > now - timedelta(seconds=lease_seconds):
                return Lease.HELD
            # Its holder died before claiming: take the lease over.
            transaction.update(ref, {"leased_at": now})
            return Lease.ACQUIRED

        result: Lease = take_over_if_stale(self._client.transaction())
        return result

    def release_lease(self, buffer: BufferRef, seq: int) -> None:
        ref = self._batch_ref(buffer, seq)

        @firestore.transactional
        def release(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and snapshot.get("state") == "claiming":
                transaction.delete(ref)

        release(self._client.transaction())

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
    ) -> ClaimedBatch | None:
        # Optimistic: no query inside a transaction (the emulator locks queries far too
        # coarsely, see BENCHMARKS.md); instead every write carries the update_time of
        # the snapshot it was decided on, and the commit is atomic: a member deleted or
        # overwritten meanwhile fails the whole claim, which re-reads and tries again.
        buffer_ref = self._buffer_ref(buffer)
        batch_ref = self._batch_ref(buffer, seq)
        query = self._pending(buffer).order_by("created_at").limit(limit)
        for _ in range(CLAIM_ATTEMPTS):
            snapshots = {s.reference.path: s for s in self._client.get_all([buffer_ref, batch_ref])}
            buffer_snapshot = snapshots[buffer_ref.path]
            lease = snapshots[batch_ref.path]
            if not buffer_snapshot.exists or buffer_snapshot.get("next_seq") != seq:
                return None
            if not lease.exists or lease.get("state") != "claiming":
                return None
            docs = list(query.stream())
            if len(docs) < minimum:
                return None
            batch = self._client.batch()
            for doc in docs:
                batch.update(
                    doc.reference,
                    {"state": ObjectState.CLAIMED.value, "batch": seq},
                    option=self._client.write_option(last_update_time=doc.update_time),
                )
            batch.update(
                batch_ref,
                {
                    "seq": seq,
                    "state": "claimed",
                    "manifest_bucket": manifest_bucket,
                    "manifest_path": manifest_path,
                    "item_count": len(docs),
                    "claimed_at": now,
                    "written_at": None,
                },
                option=self._client.write_option(last_update_time=lease.update_time),
            )
            batch.update(
                buffer_ref,
                {"next_seq": seq + 1},
                option=self._client.write_option(last_update_time=buffer_snapshot.update_time),
            )
            try:
                batch.commit()
            except FailedPrecondition:
                continue
            record = BatchRecord(
                buffer=buffer,
                seq=seq,
                state="claimed",
                manifest_bucket=manifest_bucket,
                manifest_path=manifest_path,
                item_count=len(docs),
                claimed_at=now,
            )
            return ClaimedBatch(record, [_storage_object(_fields_of(doc)) for doc in docs])
        # Raised, so the event is redelivered (or the sweep retries) later.
        raise BackendUnavailableError(
            "Firestore", f"claim of batch {seq}: members kept changing under it"
        )

    def batch(self, buffer: BufferRef, seq: int) -> BatchRecord | None:
        snapshot = self._batch_ref(buffer, seq).get()
        return self._batch_record(buffer, snapshot) if snapshot.exists else None

    def _batch_record(self, buffer: BufferRef, snapshot: Any) -> BatchRecord:
        fields = _fields_of(snapshot)
        return BatchRecord(
            buffer=buffer,
            seq=int(fields["seq"]),
            state=fields["state"],
            manifest_bucket=fields.get("manifest_bucket") or "",
            manifest_path=fields.get("manifest_path") or "",
            item_count=int(fields.get("item_count") or 0),
            claimed_at=fields.get("claimed_at"),
            written_at=fields.get("written_at"),
        )

    def batch_members(self, buffer: BufferRef, seq: int) -> list[StorageObject]:
        # Claimed records never change again, so re-reading them rebuilds the same manifest.
        docs = self._objects(buffer).where(filter=FieldFilter("batch", "==", seq)).stream()
        return [
            _storage_object(_fields_of(doc))
            for doc in docs
            if doc.get("state") == ObjectState.CLAIMED.value
        ]

    def mark_written(self, batch: BatchRecord, now: datetime) -> bool:
        batch_ref = self._batch_ref(batch.buffer, batch.seq)
        buffer_ref = self._buffer_ref(batch.buffer)

        @firestore.transactional
        def mark(transaction: Any) -> bool:
            # Two finishers of one batch must not count it twice in the summary.
            snapshot = batch_ref.get(transaction=transaction)
            if not snapshot.exists or snapshot.get("state") != "claimed":
                return False
            transaction.update(batch_ref, {"state": "written", "written_at": now})
            transaction.update(
                buffer_ref,
                {
                    "last_flush_at": now,
                    "last_manifest_path": f"gs://{batch.manifest_bucket}/{batch.manifest_path}",
                    "batches_written": firestore.Increment(1),
                    "objects_registered": firestore.Increment(batch.item_count),
                },
            )
            return True

        result: bool = mark(self._client.transaction())
        return result

    def unfinished_batches(self, buffer: BufferRef) -> list[BatchRecord]:
        query = (
            self._buffer_ref(buffer)
            .collection(BATCHES)
            .where(filter=FieldFilter("state", "in", ["claiming", "claimed"]))
        )
        return [self._batch_record(buffer, snapshot) for snapshot in query.stream()]

    # -- summaries and ops ------------------------------------------------------------

    def buffers(self) -> Iterator[BufferSummary]:
        for snapshot in self._client.collection(BUFFERS).stream():
            fields = _fields_of(snapshot)
            yield BufferSummary(
                buffer=BufferRef(
                    fields["bucket"],
                    fields["folder"],
                    ManifestKey(fields["key"]),
                    bool(fields.get("create_video")),
                ),
                pending=fields.get("pending"),
                oldest_pending_at=fields.get("oldest_pending_at"),
                last_arrival_at=fields.get("last_arrival_at"),
                last_flush_at=fields.get("last_flush_at"),
                last_manifest_path=fields.get("last_manifest_path"),
                batches_written=int(fields.get("batches_written") or 0),
                objects_registered=int(fields.get("objects_registered") or 0),
            )

    def save_pending_summary(
        self, buffer: BufferRef, pending: int, oldest_pending_at: datetime | None
    ) -> None:
        self._buffer_ref(buffer).update(
            {
                "pending": pending,
                "oldest_pending_at": oldest_pending_at,
                "summary_at": firestore.SERVER_TIMESTAMP,
            }
        )

    def record_rejection(
        self, obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
    ) -> bool:
        try:
            self._rejection_ref(obj, reason).create(_rejection_fields(obj, reason, detail, now))
            return True
        except AlreadyExists:
            return False

    def recent_rejections(self, limit: int) -> list[RejectionRecord]:
        query = (
            self._client.collection(REJECTIONS)
            .order_by("recorded_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [_rejection_record(_fields_of(snapshot)) for snapshot in query.stream()]

    # -- ops: backfill, reconcile, trace ----------------------------------------------
    # Used by the CLI and by the sweep's rejection summary, never by the per-event path.
    # docs/firestore-schema.md describes the documents these read and write.

    def _named_object_ref(self, buffer: BufferRef, name: str) -> Any:
        return self._objects(buffer).document(object_id(buffer.bucket, name))

    def _rejection_ref(self, obj: StorageObject, reason: RejectionReason) -> Any:
        # One id for record_rejection and the batched ops path, so records never double up.
        ident = stable_id(obj.bucket, obj.name, str(obj.generation), reason.value)
        return self._client.collection(REJECTIONS).document(ident)

    def _existing(self, refs: list[Any]) -> dict[str, Any]:
        """One batched read: {document path: snapshot} of those that exist."""
        found: dict[str, Any] = {}
        for start in range(0, len(refs), MAX_READS_PER_CALL):
            for snapshot in self._client.get_all(refs[start : start + MAX_READS_PER_CALL]):
                if snapshot.exists:
                    found[snapshot.reference.path] = snapshot
        return found

    def add_pending_many(
        self, items: Sequence[tuple[BufferRef, StorageObject]], now: datetime
    ) -> list[FinalizeAction]:
        """add_pending for many objects, with one commit per 500 instead of one per object.

        Optimistic: a batch of create()s commits when no name is known yet, which is the
        whole of a first backfill. A batch is atomic, so one known name fails it; then one
        batched read says which names are known, and those take the event path's decision
        (lifecycle.on_finalize). An outcome that writes nothing (duplicate, stale, already
        deleted, overwrites a registered one) is safe to take from that plain read, because
        a record only ever moves to newer generations or out of 'pending', which can never
        make this generation bufferable again. An outcome that writes goes through
        add_pending's transaction, exactly as an event would.
        """
        results: dict[int, FinalizeAction] = {}
        seen: set[str] = set()
        todo: list[int] = []
        for index, (buffer, obj) in enumerate(items):
            path = self._object_ref(buffer, obj).path
            if path in seen:  # one batch cannot create a document twice
                results[index] = self.add_pending(buffer, obj, now)
            else:
                seen.add(path)
                todo.append(index)
        for start in range(0, len(todo), MAX_WRITES_PER_BATCH):
            self._create_pending(items, todo[start : start + MAX_WRITES_PER_BATCH], now, results)
        return [results[index] for index in range(len(items))]

    def _create_pending(
        self,
        items: Sequence[tuple[BufferRef, StorageObject]],
        todo: list[int],
        now: datetime,
        results: dict[int, FinalizeAction],
    ) -> None:
        for _ in range(BATCH_CREATE_ATTEMPTS):
            if not todo:
                return
            batch = self._client.batch()
            for index in todo:
                buffer, obj = items[index]
                fields = _object_fields(obj, now)
                fields["source"] = "backfill"
                batch.create(self._object_ref(buffer, obj), fields)
            try:
                batch.commit()
            except AlreadyExists:
                known = self._existing([self._object_ref(*items[index]) for index in todo])
                unknown = []
                for index in todo:
                    buffer, obj = items[index]
                    snapshot = known.get(self._object_ref(buffer, obj).path)
                    if snapshot is None:
                        unknown.append(index)
                        continue
                    action = on_finalize(_record(snapshot), obj.generation)
                    if action is FinalizeAction.BUFFER:
                        action = self.add_pending(buffer, obj, now)
                    results[index] = action
                todo = unknown
                continue
            for index in todo:
                results[index] = FinalizeAction.BUFFER
            return
        # Events keep creating the same names under us: settle the rest one by one.
        for index in todo:
            results[index] = self.add_pending(*items[index], now)

    def record_rejections(
        self,
        items: Sequence[tuple[StorageObject, RejectionReason, str]],
        now: datetime,
    ) -> list[bool]:
        """record_rejection for many objects in batched commits; True where it is new."""
        results: dict[int, bool] = {}
        seen: set[str] = set()
        todo: list[int] = []
        for index, (obj, reason, _detail) in enumerate(items):
            path = self._rejection_ref(obj, reason).path
            if path in seen:
                results[index] = False
            else:
                seen.add(path)
                todo.append(index)
        for _ in range(BATCH_CREATE_ATTEMPTS):
            if not todo:
                break
            batch = self._client.batch()
            for index in todo[:MAX_WRITES_PER_BATCH]:
                obj, reason, detail = items[index]
                batch.create(
                    self._rejection_ref(obj, reason), _rejection_fields(obj, reason, detail, now)
                )
            chunk, rest = todo[:MAX_WRITES_PER_BATCH], todo[MAX_WRITES_PER_BATCH:]
            try:
                batch.commit()
            except AlreadyExists:
                known = self._existing([self._rejection_ref(*items[i][:2]) for i in chunk])
                for index in chunk:
                    if self._rejection_ref(*items[index][:2]).path in known:
                        results[index] = False
                todo = [index for index in chunk if index not in results] + rest
                continue
            results.update(dict.fromkeys(chunk, True))
            todo = rest
        for index in todo:
            obj, reason, detail = items[index]
            results[index] = self.record_rejection(obj, reason, detail, now)
        return [results[index] for index in range(len(items))]

    def object_records(self, items: Sequence[tuple[BufferRef, str]]) -> list[StoredObject | None]:
        refs = [self._named_object_ref(buffer, name) for buffer, name in items]
        known = self._existing(refs)
        return [
            _stored_object(buffer, known[ref.path]) if ref.path in known else None
            for (buffer, _name), ref in zip(items, refs, strict=True)
        ]

    def rejections_present(
        self, items: Sequence[tuple[StorageObject, RejectionReason]]
    ) -> list[bool]:
        refs = [self._rejection_ref(obj, reason) for obj, reason in items]
        known = self._existing(refs)
        return [ref.path in known for ref in refs]

    def rejections_for(self, bucket: str, name: str) -> list[RejectionRecord]:
        query = (
            self._client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("name", "==", name))
        )
        records = [_rejection_record(_fields_of(snapshot)) for snapshot in query.stream()]
        return sorted(records, key=lambda record: record.recorded_at)

    def live_records(self, buffer: BufferRef) -> Iterator[StoredObject]:
        """Records that are, or will be, in a manifest: pending and claimed."""
        query = self._objects(buffer).where(
            filter=FieldFilter(
                "state", "in", [ObjectState.PENDING.value, ObjectState.CLAIMED.value]
            )
        )
        for snapshot in query.stream():
            yield _stored_object(buffer, snapshot)

    def load_checkpoint(self, job: str) -> dict[str, Any] | None:
        snapshot = self._client.collection(BACKFILLS).document(job).get()
        return _fields_of(snapshot) if snapshot.exists else None

    def save_checkpoint(self, job: str, fields: dict[str, Any]) -> None:
        self._client.collection(BACKFILLS).document(job).set(fields, merge=True)

    def rejection_watermark(self) -> datetime | None:
        snapshot = self._client.collection(OPS).document(REJECTION_SUMMARY_DOC).get()
        moment: datetime | None = snapshot.get("watermark") if snapshot.exists else None
        return moment

    def save_rejection_watermark(self, moment: datetime) -> None:
        self._client.collection(OPS).document(REJECTION_SUMMARY_DOC).set(
            {"watermark": moment, "updated_at": firestore.SERVER_TIMESTAMP}, merge=True
        )

    def folders_touched_since(self, moment: datetime | None) -> set[tuple[str, str]]:
        """Folders with a rejection recorded, or a buffer created, at or after moment."""
        touched: set[tuple[str, str]] = set()
        for collection, field in ((REJECTIONS, "recorded_at"), (BUFFERS, "created_at")):
            query: Any = self._client.collection(collection)
            if moment is not None:
                query = query.where(filter=FieldFilter(field, ">=", moment))
            for snapshot in query.select(["bucket", "folder"]).stream():
                fields = _fields_of(snapshot)
                touched.add((fields["bucket"], fields.get("folder") or ""))
        return touched

    def folders_counted_before(self, moment: datetime) -> set[tuple[str, str]]:
        query = self._client.collection(FOLDERS).where(
            filter=FieldFilter("counted_at", "<", moment)
        )
        return {
            (fields["bucket"], fields["folder"])
            for fields in (_fields_of(snapshot) for snapshot in query.stream())
        }

    def count_rejections(self, bucket: str, folder: str) -> dict[str, int]:
        # One count() per reason: exact, and it bills one read per 1,000 matching records
        # (at least one), with no counter document for events to contend on.
        base: Any = (
            self._client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
        )
        counts: dict[str, int] = {}
        for reason in RejectionReason:
            query = base.where(filter=FieldFilter("reason", "==", reason.value))
            number = int(query.count(alias="n").get()[0][0].value)
            if number:
                counts[reason.value] = number
        return counts

    def save_rejection_counts(
        self, bucket: str, folder: str, counts: dict[str, int], now: datetime
    ) -> None:
        """The folder's summary, copied into each of its buffers so one read gives all."""
        total = sum(counts.values())
        batch = self._client.batch()
        batch.set(
            self._client.collection(FOLDERS).document(stable_id(bucket, folder)),
            {
                "bucket": bucket,
                "folder": folder,
                "rejected": counts,
                "rejected_total": total,
                "counted_at": now,
            },
        )
        buffers = (
            self._client.collection(BUFFERS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
        )
        for snapshot in buffers.select(["bucket"]).stream():
            batch.update(
                snapshot.reference,
                {"rejected": counts, "rejected_total": total, "rejected_counted_at": now},
            )
        batch.commit()

    def rejection_counts(self) -> list[RejectionCounts]:
        return [
            RejectionCounts(
                bucket=fields["bucket"],
                folder=fields["folder"],
                counts={str(k): int(v) for k, v in (fields.get("rejected") or {}).items()},
                counted_at=fields.get("counted_at"),
            )
            for fields in (
                _fields_of(snapshot) for snapshot in self._client.collection(FOLDERS).stream()
            )
        ]


# -- ops helpers (module level, used by the ops section above) -------------------------

BACKFILLS = "backfills"
FOLDERS = "folders"
OPS = "ops"
REJECTION_SUMMARY_DOC = "rejection_summary"
# Firestore's ceiling for one commit, and a read batch size that keeps one call small.
MAX_WRITES_PER_BATCH = 500
MAX_READS_PER_CALL = 300
BATCH_CREATE_ATTEMPTS = 3


def _rejection_fields(
    obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "name": obj.name,
        "generation": obj.generation,
        "folder": obj.folder,
        "reason": reason.value,
        "detail": detail,
        "recorded_at": now,
        "expire_at": now + REJECTION_RETENTION,
    }


def _rejection_record(fields: dict[str, Any]) -> RejectionRecord:
    return RejectionRecord(
        bucket=fields["bucket"],
        name=fields["name"],
        generation=int(fields["generation"]),
        reason=fields["reason"],
        detail=fields["detail"],
        folder=fields.get("folder", ""),
        recorded_at=fields["recorded_at"],
    )


def _stored_object(buffer: BufferRef, snapshot: Any) -> StoredObject:
    fields = _fields_of(snapshot)
    return StoredObject(
        buffer=buffer,
        obj=_storage_object(fields),
        state=str(fields.get("state")),
        created_at=fields.get("created_at"),
        batch=fields.get("batch"),
        source=fields.get("source"),
        deleted_at=fields.get("deleted_at"),
    )
