"""A buffer's queue in Firestore: claims by range (domain/claim_range.py) stored and queried.

A pending record carries `shard` and `queued_at` (the commit time of the write that queued
it). Its buffer document carries `claimed_through`, one position per shard, and `open`
(the sweep's skip scan reads open buffers, since a claimed record keeps `state: pending`).
A batch document carries the range it took: `range_before` and `range_through`.

Every query here reads one buffer's records after (or within) those positions; ties on
`queued_at` (one commit queues many records: backfill) are broken by the document id,
exactly as `Position` orders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from google.api_core.exceptions import FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter, Or

from registration.adapters.firestore.documents import (
    BUFFERS,
    Documents,
    buffer_of,
    fields_of,
    idle_seconds,
    object_record,
    stored_object,
)
from registration.domain.claim_range import SHARDS, Cursor, Position, Queued, effective
from registration.domain.lifecycle import ObjectRecord, ObjectState
from registration.domain.model import BufferRef, StoredObject

CURSOR_FIELD = "claimed_through"
OPEN_FIELD = "open"
MARKED_AT_FIELD = "marked_at"
# An instance marks a buffer open at most every OPEN_MARK_SECONDS (FirestoreBuffers.ensure);
# the skip scan closes an empty buffer only once its document has been still for longer
# than that plus a write's deadline (the client's commit deadline is 60 s), so no instance
# can still be queueing on a mark it cached. Short, so a burst of new folders costs the
# sweep a check each for about a minute and a half, then nothing.
OPEN_MARK_SECONDS = 15.0
WRITE_DEADLINE_SECONDS = 60.0
CLOSE_AFTER_IDLE_SECONDS = OPEN_MARK_SECONDS + WRITE_DEADLINE_SECONDS
RANGE_BEFORE = "range_before"
RANGE_THROUGH = "range_through"


def cursor_value(cursor: Cursor) -> list[dict[str, Any] | None]:
    return [
        None if last is None else {"at": last.queued_at, "id": last.ident}
        for last in cursor.through
    ]


def cursor_of(fields: dict[str, Any] | None, field: str = CURSOR_FIELD) -> Cursor:
    """The cursor a buffer (or a batch's range end) stores; none stored: nothing claimed."""
    stored = (fields or {}).get(field)
    if not stored:
        return Cursor()
    return Cursor(
        tuple(None if last is None else Position(last["at"], last["id"]) for last in stored)
    )


def queued_of(snapshot: Any) -> Queued | None:
    """A record's place in its buffer's queue (None: a record written before claims by
    range, or one that is not queued: a tombstone)."""
    return queued_in(fields_of(snapshot), snapshot.id)


def queued_in(fields: dict[str, Any], ident: str) -> Queued | None:
    """queued_of() from fields already read (each to_dict() deep-copies the document)."""
    queued_at, shard = fields.get("queued_at"), fields.get("shard")
    if queued_at is None or shard is None:
        return None
    return Queued(int(shard), Position(queued_at, ident))


def effective_record(snapshot: Any, cursor: Cursor) -> ObjectRecord | None:
    """The record lifecycle decides on: claimed when its buffer's cursor covers it."""
    return effective(object_record(snapshot), queued_of(snapshot), cursor)


def stored_pending(snapshot: Any) -> bool:
    return bool(snapshot.exists) and fields_of(snapshot).get("state") == ObjectState.PENDING.value


def _shard_after(docs: Documents, shard: int, last: Position | None) -> list[BaseFilter]:
    on_shard = FieldFilter("shard", "==", shard)
    if last is None:
        return [on_shard]
    tie = docs.objects().document(last.ident)
    return [
        And([on_shard, FieldFilter("queued_at", ">", last.queued_at)]),
        And(
            [
                on_shard,
                FieldFilter("queued_at", "==", last.queued_at),
                FieldFilter("__name__", ">", tie),
            ]
        ),
    ]


def after_cursor(
    docs: Documents, buffer: BufferRef, cursor: Cursor, *, newest_first: bool = False
) -> Any:
    """The buffer's pending records after its cursor, in queue order: one query (Firestore
    merges the shards' ranges), so a count() over it is one aggregation."""
    # Always the OR over the shards, even with no cursor yet: only a query that names the
    # shard is served by the (buffer, state, shard, queued_at) index (indexes.py).
    disjuncts = [f for s in range(SHARDS) for f in _shard_after(docs, s, cursor.through[s])]
    query = docs.pending(buffer).where(filter=Or(disjuncts))
    direction = firestore.Query.DESCENDING if newest_first else firestore.Query.ASCENDING
    return query.order_by("queued_at", direction=direction)


def within(docs: Documents, buffer: BufferRef, shard: int, before: Cursor, through: Cursor) -> Any:
    """One shard's records in (before, through]: a batch's members in that shard, whatever
    their stored state (a member is `pending` or, once written on, `claimed`)."""
    query = (
        docs.in_buffer(buffer)
        .where(filter=FieldFilter("shard", "==", shard))
        .order_by("queued_at")
        .order_by("__name__")
    )
    first, last = before.through[shard], through.through[shard]
    assert last is not None
    if first is not None:
        query = query.start_after({"queued_at": first.queued_at, "__name__": first.ident})
    return query.end_at({"queued_at": last.queued_at, "__name__": last.ident})


def open_buffers(docs: Documents, after: str | None) -> Any:
    """Buffers marked open, in id order after `after` (a single-field index on `open`)."""
    query = (
        docs.client.collection(BUFFERS)
        .where(filter=FieldFilter(OPEN_FIELD, "==", True))
        .order_by("__name__")
    )
    return query if after is None else query.start_after({"__name__": after})


def close_if_idle(docs: Documents, snapshot: Any, idle_after_seconds: float) -> bool:
    """Clear `open` on a buffer found with nothing after its cursor, if its document has
    been still for idle_after_seconds by Firestore's clock; conditional on it being
    unchanged since (a mark or a claim since then keeps it open)."""
    idle = idle_seconds(snapshot)
    if idle is None or idle < idle_after_seconds:
        return False
    option = docs.client.write_option(last_update_time=snapshot.update_time)
    try:
        snapshot.reference.update({OPEN_FIELD: False}, option=option)
    except (FailedPrecondition, NotFound):
        return False
    return True


def shards_taken(before: Cursor, through: Cursor) -> Sequence[int]:
    return [s for s in range(SHARDS) if through.through[s] != before.through[s]]


def made_explicit(snapshot: Any, record: ObjectRecord | None) -> dict[str, Any]:
    """What a write on a record adds when its cursor covers it but it is stored pending: its
    claim made explicit, since the write touches the document anyway (readers then need no
    cursor)."""
    covered = record is not None and record.state is ObjectState.CLAIMED
    return {"state": ObjectState.CLAIMED.value} if covered and stored_pending(snapshot) else {}


@dataclass(frozen=True)
class Known:
    """A known name's record, read in a transaction, as lifecycle decides on it."""

    snapshot: Any
    record: ObjectRecord | None
    # Set when the stored record is pending: the buffer it waits in, and that buffer's
    # document as the transaction read it (cursor and next_seq).
    home: BufferRef | None = None
    buffer_snapshot: Any = None

    def materialized(self) -> dict[str, Any]:
        return made_explicit(self.snapshot, self.record)


class Cursors:
    """Records as lifecycle sees them, outside a transaction: each buffer's cursor read once
    per call. Safe without a transaction because a cursor only ever moves forward, so a
    record it covers stays covered; writes decided on it are conditional on the record."""

    def __init__(self, documents: Documents, *, with_batch: bool = False) -> None:
        self._docs = documents
        self._buffers: dict[str, dict[str, Any]] = {}
        # Whether stored() names a covered record's batch (a search over the buffer's
        # batches, log2 of their number in reads): trace wants it, a bulk read does not.
        self._with_batch = with_batch

    def _buffer(self, buffer: BufferRef) -> dict[str, Any]:
        if buffer.ident not in self._buffers:
            self._buffers[buffer.ident] = fields_of(self._docs.buffer(buffer).get())
        return self._buffers[buffer.ident]

    def of(self, buffer: BufferRef) -> Cursor:
        return cursor_of(self._buffer(buffer))

    def record(self, snapshot: Any) -> ObjectRecord | None:
        if not stored_pending(snapshot):
            return object_record(snapshot)
        return effective_record(snapshot, self.of(buffer_of(fields_of(snapshot))))

    def stored(self, snapshot: Any) -> StoredObject:
        """stored_object(), its state the effective one (and, if asked, its batch)."""
        found = stored_object(snapshot)
        record = self.record(snapshot)
        if record is not None and record.state is not found.state:
            found = replace(found, state=record.state)
        queued = queued_of(snapshot)
        unnamed = found.state is ObjectState.CLAIMED and found.batch is None
        if self._with_batch and unnamed and queued is not None:
            # Claimed by range: its batch is the one whose range holds it.
            next_seq = int(self._buffer(found.buffer).get("next_seq") or 1)
            batch = batch_covering(self._docs, found.buffer, queued, next_seq)
            found = replace(found, batch=batch)
        return found

    def materialized(self, snapshot: Any) -> dict[str, Any]:
        return made_explicit(snapshot, self.record(snapshot))


def batch_covering(docs: Documents, buffer: BufferRef, queued: Queued, next_seq: int) -> int | None:
    """The batch whose range holds a queued record: the first whose end covers it. Ranges
    grow with the batch number, so a binary search finds it in log2(batches) reads."""
    low, high, found = 1, next_seq - 1, None
    while low <= high:
        middle = (low + high) // 2
        through = cursor_of(fields_of(docs.batch(buffer, middle).get()), RANGE_THROUGH)
        if through.covers(queued.shard, queued.position):
            found, high = middle, middle - 1
        else:  # a batch before claims by range has no range: every later one comes after it
            low = middle + 1
    return found
