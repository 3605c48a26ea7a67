"""A claim that writes no member: each batch records the range of its buffer it took (pure).

The decision, proved by tests/unit/test_claim_range.py, that the Firestore adapters
(adapters/firestore/queue.py, records.py, batches.py) and the fake call alike
(docs/architecture.md, "Claim by range").

Order. Every queued generation has a `Position`: the commit time of the write that queued
it (Firestore's server timestamp, never an instance's clock), then its document id. A
buffer's records are spread over `SHARDS` index ranges by a hash of the id, so a hot folder
never writes one sequential range (docs/limits.md); each shard is read in its own order.

Claimed. A buffer keeps, per shard, the position it has been claimed through (`Cursor`). A
record whose stored state is pending is claimed exactly when its position is at or before
its shard's cursor (`effective`). Why nothing can slip in behind a cursor: a claim reads
each shard at one snapshot, and takes a prefix of what it read; a write the snapshot did
not see commits later, so its server timestamp is later than every position the snapshot
returned, and therefore later than the cursor.

Races. A delete or an overwrite changes a pending record (and so what a claim in flight
would take) only in a transaction that also reads the buffer's cursor and the lease of its
next batch. If that lease is held (`CLAIMING`), the transaction touches it (`must_fence`):
the claim's commit carries the lease's update time as a precondition, fails, and re-reads.
So a generation deleted or overwritten racing a claim ends in that claim's manifest (and
the delete or overwrite is reported, as for any claimed record) or in none, never both.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from registration.domain.lifecycle import DeleteAction, FinalizeAction, ObjectRecord, ObjectState
from registration.domain.model import BatchState

# Index ranges per buffer. Each takes about 500 writes/s before Firestore splits it no
# further (docs/limits.md): 8 give a hot folder about 4,000 objects/s.
SHARDS = 8


@dataclass(frozen=True, order=True)
class Position:
    """Where a queued generation stands in its shard: commit time, then document id."""

    queued_at: datetime
    ident: str


@dataclass(frozen=True)
class Cursor:
    """Per shard, the last position claimed (None: nothing claimed in that shard yet)."""

    through: tuple[Position | None, ...] = (None,) * SHARDS

    def covers(self, shard: int, position: Position) -> bool:
        last = self.through[shard]
        return last is not None and position <= last


def shard_of(ident: str, shards: int = SHARDS) -> int:
    """The shard of a document id: stable across instances and restarts."""
    return int(hashlib.sha256(ident.encode("utf-8")).hexdigest()[:8], 16) % shards


@dataclass(frozen=True)
class Queued:
    """A record as a claim reads it: its shard and position, whatever else it carries."""

    shard: int
    position: Position


Item = TypeVar("Item", bound=Queued)


def effective(
    record: ObjectRecord | None, queued: Queued | None, cursor: Cursor
) -> ObjectRecord | None:
    """The record as lifecycle.on_finalize and on_delete must see it: a pending generation
    inside its buffer's claimed range is claimed, though its document was never written."""
    if record is None or queued is None or record.state is not ObjectState.PENDING:
        return record
    if cursor.covers(queued.shard, queued.position):
        return ObjectRecord(ObjectState.CLAIMED, record.generation)
    return record


def changes_pending(action: FinalizeAction | DeleteAction, before: ObjectRecord | None) -> bool:
    """Whether a decision rewrites a record a claim could be taking right now (a pending
    generation leaves, or is replaced by a newer one)."""
    if before is None or before.state is not ObjectState.PENDING:
        return False
    return action in (FinalizeAction.BUFFER, DeleteAction.WITHDRAW, DeleteAction.TOMBSTONE)


def must_fence(
    action: FinalizeAction | DeleteAction, before: ObjectRecord | None, lease: BatchState | None
) -> bool:
    """Whether the deciding transaction must also touch the lease of the buffer's next batch,
    so that a claim in flight fails its precondition and re-reads without this generation.
    Only while a lease is held: the rare case, so deletes never make the buffer hot."""
    return lease is BatchState.CLAIMING and changes_pending(action, before)


def take(shards: Sequence[Sequence[Item]], limit: int, cursor: Cursor) -> tuple[list[Item], Cursor]:
    """A claim's members from what it read of each shard (each a prefix of that shard's
    pending records after its cursor, in order): the oldest `limit` of them, merged by
    position, and the cursor that claims exactly those.

    It takes a prefix of every shard, so a record is claimed (at or before its shard's new
    cursor) if and only if it is a member.
    """
    merged = heapq.merge(*shards, key=lambda item: item.position)
    members = [item for _, item in zip(range(limit), merged, strict=False)]
    return members, advance(cursor, members)


def advance(cursor: Cursor, members: Sequence[Queued]) -> Cursor:
    """The cursor that claims `members` too: each shard's moves to its last member taken
    (the members are a prefix of each shard after `cursor`, as one merged query returns)."""
    through = list(cursor.through)
    for item in members:
        last = through[item.shard]
        if last is None or item.position > last:
            through[item.shard] = item.position
    return Cursor(tuple(through))
