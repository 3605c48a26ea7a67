"""The layout before the redesign, in Firestore, and its move into today's.

Before (commit f1f9a02 and earlier):
  buffers/{buffer_id}/objects/{object_id}  one record per name PER BUFFER: bucket, name,
                                           generation, state, created_at, custom_metadata
                                           (a map), batch (a number) ...; no buffer fields
  buffers/{buffer_id}/batches/{seq}        no bucket, folder, key, create_video
Today: records in `objects/{object_id}` (documents.py), batches with the buffer's identity,
every document with `schema` (domain/migration.SCHEMA_VERSION).

Records move with optimistic commits, as claims do (no query inside a transaction): each
write carries a precondition on the snapshot it was decided from, so an event that writes
the same name meanwhile fails the commit, which is read and decided again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.field_path import FieldPath

from registration.adapters.firestore.documents import (
    BATCHES,
    BUFFERS,
    MAX_WRITES_PER_BATCH,
    OBJECTS,
    PARSE_ERRORS,
    Documents,
    batch_key,
    buffer_fields,
    buffer_ref_of,
    fields_of,
    metadata_field,
    object_record,
    unreadable,
)
from registration.adapters.firestore.queue import OPEN_FIELD
from registration.domain.claim_range import shard_of
from registration.domain.found import Unreadable
from registration.domain.lifecycle import ObjectRecord, ObjectState
from registration.domain.migration import SCHEMA_VERSION, BufferMigration, old_record_wins
from registration.domain.model import BufferRef
from registration.exceptions import BackendUnavailableError

# Old records moved per commit: two writes each, inside Firestore's 500 per commit.
MOVE_CHUNK = 200
MOVE_ATTEMPTS = 5


class FirestoreLegacyLayout:
    """Implements services.ports.LegacyLayout."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def count_buffers(self) -> int:
        collection: Any = self._docs.client.collection(BUFFERS)
        return int(collection.count(alias="n").get()[0][0].value)

    def buffers_after(self, after: str | None, limit: int) -> list[str]:
        query = self._docs.client.collection(BUFFERS).order_by(FieldPath.document_id())
        if after is not None:
            query = query.start_after({FieldPath.document_id(): after})
        return [snapshot.id for snapshot in query.limit(limit).select([]).stream()]

    def migrate_buffer(self, ident: str, now: datetime) -> BufferMigration:
        buffer_doc = self._docs.client.collection(BUFFERS).document(ident)
        snapshot = buffer_doc.get()
        try:
            buffer = buffer_ref_of(fields_of(snapshot))
        except PARSE_ERRORS as error:
            return BufferMigration(ident, unreadable=(unreadable(snapshot, error),))
        moved = superseded = 0
        skipped: list[Unreadable] = []
        after: Any = None
        while True:
            query = buffer_doc.collection(OBJECTS).order_by(FieldPath.document_id())
            if after is not None:
                query = query.start_after(after)
            chunk = list(query.limit(MOVE_CHUNK).stream())
            if not chunk:
                break
            done, dropped, bad = self._move(buffer, chunk)
            moved, superseded = moved + done, superseded + dropped
            skipped += bad
            after = chunk[-1]
        upgraded = self._upgrade_batches(buffer, buffer_doc)
        queued = self._queue_pending(buffer)
        changes: dict[str, Any] = {OPEN_FIELD: True} if queued else {}
        if fields_of(snapshot).get("schema") != SCHEMA_VERSION:
            changes["schema"] = SCHEMA_VERSION
        if changes:
            buffer_doc.update(changes)
        return BufferMigration(ident, moved, superseded, upgraded, tuple(skipped))

    def _move(self, buffer: BufferRef, chunk: list[Any]) -> tuple[int, int, list[Unreadable]]:
        """Move one chunk of old records (those still there); (moved, superseded, skipped)."""
        skipped: list[Unreadable] = []
        readable: list[tuple[Any, dict[str, Any], ObjectRecord]] = []
        for old in chunk:
            try:
                fields = upgraded_record(fields_of(old), buffer)
                readable.append((old, fields, _record_of(fields)))
            except PARSE_ERRORS as error:
                skipped.append(unreadable(old, error))  # left where it is, for a person
        client = self._docs.client
        for _ in range(MOVE_ATTEMPTS):
            targets = [self._docs.object(f["bucket"], f["name"]) for _, f, _ in readable]
            current = self._docs.existing(targets)
            batch = client.batch()
            moved = superseded = 0
            for (old, fields, record), target in zip(readable, targets, strict=True):
                now_there = current.get(target.path)
                if not old_record_wins(record, object_record(now_there) if now_there else None):
                    superseded += 1
                elif now_there is None:
                    batch.create(target, fields)
                    moved += 1
                else:
                    replaced = {k: firestore.DELETE_FIELD for k in fields_of(now_there)}
                    batch.update(
                        target,
                        {**replaced, **fields},
                        option=client.write_option(last_update_time=now_there.update_time),
                    )
                    moved += 1
                batch.delete(old.reference)
            try:
                batch.commit()
            except (FailedPrecondition, AlreadyExists):
                continue  # a name changed (or was created) meanwhile: decide again
            return moved, superseded, skipped
        raise BackendUnavailableError(
            "Firestore", f"migration of {buffer.label}: its records kept changing under it"
        )

    def _queue_pending(self, buffer: BufferRef) -> int:
        """Give the buffer's records written before claims by range a shard (reconcile reads
        records shard by shard) and its pending ones a place in its queue (queue.py); how
        many pending records it holds. One read per record, once: a migration, never a
        periodic cost. Each write is conditional on the record being unchanged since it was
        read: an event may rewrite it meanwhile (and give it its own place), and a stale
        write would queue a claimed generation a second time."""
        records = self._docs.in_buffer(buffer).select(["state", "shard", "queued_at"]).stream()
        pending = 0
        writes: list[tuple[Any, dict[str, Any]]] = []
        for snapshot in records:
            waiting = fields_of(snapshot).get("state") == ObjectState.PENDING.value
            pending += waiting
            place = _place(snapshot)
            if place:
                writes.append((snapshot, place))
        for start in range(0, len(writes), MAX_WRITES_PER_BATCH):
            chunk = writes[start : start + MAX_WRITES_PER_BATCH]
            batch = self._docs.client.batch()
            for snapshot, place in chunk:
                option = self._docs.client.write_option(last_update_time=snapshot.update_time)
                batch.update(snapshot.reference, place, option=option)
            try:
                batch.commit()
            except (FailedPrecondition, NotFound):
                for snapshot, _ in chunk:  # one changed meanwhile: each read and decided again
                    self._place_again(snapshot.reference)
        return pending

    def _place_again(self, ref: Any) -> None:
        for _ in range(MOVE_ATTEMPTS):
            snapshot = ref.get()
            place = _place(snapshot) if snapshot.exists else None
            if not place:
                return
            option = self._docs.client.write_option(last_update_time=snapshot.update_time)
            try:
                ref.update(place, option=option)
                return
            except (FailedPrecondition, NotFound):
                continue
        raise BackendUnavailableError("Firestore", f"migration of {ref.path}: it kept changing")

    def _upgrade_batches(self, buffer: BufferRef, buffer_doc: Any) -> int:
        """Give each batch document the buffer's identity (the collection-group queries
        need it) and the schema version; those already upgraded are left alone."""
        identity = {
            "bucket": buffer.bucket,
            "folder": buffer.folder,
            "key": buffer.key.value,
            "create_video": buffer.create_video,
            "schema": SCHEMA_VERSION,
        }
        upgraded = 0
        batch = self._docs.client.batch()
        for snapshot in buffer_doc.collection(BATCHES).stream():
            fields = fields_of(snapshot)
            if all(fields.get(name) == value for name, value in identity.items()):
                continue
            batch.update(snapshot.reference, identity)
            upgraded += 1
            if upgraded % 400 == 0:
                batch.commit()
                batch = self._docs.client.batch()
        if upgraded % 400:
            batch.commit()
        return upgraded


def _place(snapshot: Any) -> dict[str, Any]:
    """What a record written before claims by range lacks: a shard, and, if pending, a
    place in its buffer's queue (the commit time of the write that gives it)."""
    fields = fields_of(snapshot)
    place: dict[str, Any] = {}
    if fields.get("shard") is None:
        place["shard"] = shard_of(snapshot.id)
    if fields.get("state") == ObjectState.PENDING.value and fields.get("queued_at") is None:
        place["queued_at"] = firestore.SERVER_TIMESTAMP
    return place


def upgraded_record(old: dict[str, Any], buffer: BufferRef) -> dict[str, Any]:
    """An old record's fields in today's layout (documents.pending_fields' shape)."""
    state = ObjectState(old["state"])
    metadata = old.get("metadata")
    if metadata is None and old.get("custom_metadata"):
        metadata = metadata_field(old["custom_metadata"])  # a map before the redesign
    seq = old.get("batch")
    fields: dict[str, Any] = {
        "bucket": str(old["bucket"]),
        "name": str(old["name"]),
        "generation": int(old["generation"]),
        "state": state.value,
        "created_at": old.get("created_at"),
        "size": old.get("size"),
        "content_type": old.get("content_type"),
        "metadata": metadata,
        "time_created": old.get("time_created"),
        "series_uid": old.get("series_uid"),
        "instance_number": old.get("instance_number"),
        "batch": seq,
        "batch_key": (
            batch_key(buffer, int(seq)) if state is ObjectState.CLAIMED and seq else None
        ),
        **buffer_fields(buffer),
        "schema": SCHEMA_VERSION,
    }
    for optional in ("deleted_at", "source", "expire_at"):
        if optional in old:
            fields[optional] = old[optional]
    return fields


def _record_of(fields: dict[str, Any]) -> ObjectRecord:
    return ObjectRecord(ObjectState(fields["state"]), int(fields["generation"]))
