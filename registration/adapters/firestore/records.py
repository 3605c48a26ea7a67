"""Object records in Firestore: one document per object name, decided by generation.

The per-event path is one create() of the name's own document, so concurrent events never
write the same document. Only a name that is already known (duplicate, overwrite, delete)
goes through a transaction, over that one document.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    Documents,
    object_record,
    pending_fields,
    stored_object,
    tombstone_fields,
)
from registration.domain.lifecycle import (
    DeleteAction,
    FinalizeAction,
    ObjectState,
    on_delete,
    on_finalize,
)
from registration.domain.model import BufferRef, StorageObject, StoredObject


class FirestoreObjectRecords:
    """Implements services.ports.ObjectRecords and BulkRecords."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def add_pending(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> FinalizeAction:
        ref = self._docs.object(buffer, obj.name)
        try:
            ref.create(pending_fields(obj, now))
            return FinalizeAction.BUFFER
        except AlreadyExists:
            pass
        # The name is known: a duplicate, an overwrite, or a finalize after its delete.

        @firestore.transactional
        def decide(transaction: Any) -> FinalizeAction:
            action = on_finalize(object_record(ref.get(transaction=transaction)), obj.generation)
            if action is FinalizeAction.BUFFER:
                transaction.set(ref, pending_fields(obj, now))
            return action

        result: FinalizeAction = decide(self._docs.client.transaction())
        return result

    def withdraw(self, buffer: BufferRef, obj: StorageObject, now: datetime) -> DeleteAction:
        ref = self._docs.object(buffer, obj.name)

        @firestore.transactional
        def decide(transaction: Any) -> DeleteAction:
            action = on_delete(object_record(ref.get(transaction=transaction)), obj.generation)
            if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
                transaction.set(ref, tombstone_fields(obj, now))
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
            action = on_finalize(object_record(snapshot), obj.generation)
            if action is FinalizeAction.BUFFER:
                action = self.add_pending(buffer, obj, now)
            return action

        docs = [
            (
                self._docs.object(buffer, obj.name),
                {**pending_fields(obj, now), "source": "backfill"},
            )
            for buffer, obj in items
        ]
        return self._docs.create_many(
            docs,
            created=FinalizeAction.BUFFER,
            settle_known=settle_known,
            one_by_one=lambda index: self.add_pending(*items[index], now),
        )

    def object_records(self, items: Sequence[tuple[BufferRef, str]]) -> list[StoredObject | None]:
        refs = [self._docs.object(buffer, name) for buffer, name in items]
        known = self._docs.existing(refs)
        return [
            stored_object(buffer, known[ref.path]) if ref.path in known else None
            for (buffer, _name), ref in zip(items, refs, strict=True)
        ]

    def live_records(self, buffer: BufferRef) -> Iterator[StoredObject]:
        """Records that are, or will be, in a manifest: pending and claimed."""
        query = self._docs.objects(buffer).where(
            filter=FieldFilter(
                "state", "in", [ObjectState.PENDING.value, ObjectState.CLAIMED.value]
            )
        )
        for snapshot in query.stream():
            yield stored_object(buffer, snapshot)
