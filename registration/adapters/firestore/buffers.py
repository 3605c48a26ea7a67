"""Buffer documents in Firestore: created once per buffer, summaries for dashboards."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    BUFFERS,
    PARSE_ERRORS,
    Documents,
    buffer_ref_of,
    fields_of,
    parse_each,
    unreadable,
)
from registration.adapters.firestore.queue import MARKED_AT_FIELD, OPEN_FIELD, OPEN_MARK_SECONDS
from registration.domain.found import Found
from registration.domain.migration import SCHEMA_VERSION
from registration.domain.model import (
    BufferQuery,
    BufferRef,
    BufferSummary,
    is_stable_id,
    prefix_end,
)


class FirestoreBuffers:
    """Implements services.ports.BufferCatalog."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents
        # When this instance last marked each buffer open (queue.py): at most one write per
        # buffer every OPEN_MARK_SECONDS, instead of one per event; the sweep's closing
        # margin is counted from it.
        self._marked: dict[str, float] = {}
        self._marked_lock = threading.Lock()

    def ensure(self, buffer: BufferRef, now: datetime) -> None:
        """The buffer's document exists and is marked open, so the sweep's skip scan finds
        what this instance is about to queue. Called before every record is queued."""
        ident = buffer.ident
        moment = time.monotonic()
        with self._marked_lock:
            last = self._marked.get(ident)
            if last is not None and moment - last < OPEN_MARK_SECONDS:
                return
        ref = self._docs.buffer(buffer)
        # marked_at makes every mark a change: Firestore keeps a document's update time
        # when a write changes nothing, and the sweep's closing margin counts from it.
        mark = {OPEN_FIELD: True, MARKED_AT_FIELD: firestore.SERVER_TIMESTAMP}
        if last is None:
            try:
                ref.create({**self._new_buffer(buffer, now), **mark})
            except AlreadyExists:
                ref.update(mark)
        else:
            ref.update(mark)
        with self._marked_lock:
            # From before the write: the sweep's idle margin counts from its commit.
            self._marked[ident] = moment

    @staticmethod
    def _new_buffer(buffer: BufferRef, now: datetime) -> dict[str, Any]:
        return {
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
            "schema": SCHEMA_VERSION,
        }

    def get_many(self, buffers: Sequence[BufferRef]) -> list[BufferSummary | None]:
        """Their summaries, None for a buffer whose document does not exist or cannot be
        read (those are named in the result: a Found)."""
        refs = [self._docs.buffer(buffer) for buffer in buffers]
        known = self._docs.existing(refs)
        found: Found[BufferSummary | None] = Found()
        for ref in refs:
            snapshot = known.get(ref.path)
            try:
                found.append(None if snapshot is None else _summary(snapshot))
            except PARSE_ERRORS as error:
                found.append(None)
                found.unreadable += (unreadable(snapshot, error),)
        return found

    def by_ident(self, ident: str) -> BufferSummary | None:
        snapshot = self._docs.client.collection(BUFFERS).document(ident).get()
        return _summary(snapshot) if snapshot.exists else None

    def count(self) -> int:
        # One read per 1,000 index entries: 10 reads for 10,000 buffers.
        collection: Any = self._docs.client.collection(BUFFERS)
        result = collection.count(alias="n").get()
        return int(result[0][0].value)

    def page(self, query: BufferQuery, after: str | None, limit: int) -> list[BufferSummary]:
        """The buffers matching query, by folder then id, after the buffer `after`: keyset
        paging, so a page costs its own documents (and 1 read for the cursor), never the
        pages before it (indexes.py declares the composites the filters need)."""
        found: Any = _matching(self._docs.client.collection(BUFFERS), query)
        found = found.order_by("folder").order_by("__name__")
        if after is not None and is_stable_id(after):
            cursor = self._docs.client.collection(BUFFERS).document(after).get()
            if cursor.exists:
                found = found.start_after(cursor)
        return [_summary(snapshot) for snapshot in found.limit(limit).stream()]

    def count_matching(self, query: BufferQuery) -> int:
        """How many buffers match: a count() (1 read per 1,000)."""
        found: Any = _matching(self._docs.client.collection(BUFFERS), query)
        return int(found.count(alias="n").get()[0][0].value)

    def recently_flushed(self, since: datetime, limit: int) -> list[BufferSummary]:
        query = (
            self._docs.client.collection(BUFFERS)
            .where(filter=FieldFilter("last_flush_at", ">=", since))
            .order_by("last_flush_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return parse_each(query.stream(), _summary)

    def save_pending_summary(
        self, buffer: BufferRef, pending: int, oldest_pending_at: datetime | None
    ) -> None:
        self._docs.buffer(buffer).update(
            {
                "pending": pending,
                "oldest_pending_at": oldest_pending_at,
                "summary_at": firestore.SERVER_TIMESTAMP,
            }
        )


def _matching(collection: Any, query: BufferQuery) -> Any:
    found = collection
    if query.key is not None:
        found = found.where(filter=FieldFilter("key", "==", query.key.value))
    if query.sequence is not None:
        found = found.where(filter=FieldFilter("create_video", "==", query.sequence))
    if query.prefix:
        found = found.where(filter=FieldFilter("folder", ">=", query.prefix)).where(
            filter=FieldFilter("folder", "<", prefix_end(query.prefix))
        )
    return found


def _summary(snapshot: Any) -> BufferSummary:
    fields = fields_of(snapshot)
    return BufferSummary(
        buffer=buffer_ref_of(fields),
        pending=fields.get("pending"),
        oldest_pending_at=fields.get("oldest_pending_at"),
        last_flush_at=fields.get("last_flush_at"),
        last_manifest_url=fields.get("last_manifest_path"),
        batches_written=int(fields.get("batches_written") or 0),
        objects_registered=int(fields.get("objects_registered") or 0),
    )
