"""What one event does to the record of one object name (pure; property-tested).

Each object name has one record holding the newest generation seen and its state. Events
arrive in any order and more than once; generations only grow, so comparing the event's
generation with the record's decides every case without knowing the order of arrival.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ObjectState(enum.StrEnum):
    PENDING = "pending"  # buffered, waiting for a batch
    CLAIMED = "claimed"  # in a batch: its manifest is written or being written
    DELETED = "deleted"  # this generation (or a newer one) was deleted before any batch


@dataclass(frozen=True)
class ObjectRecord:
    state: ObjectState
    generation: int


class FinalizeAction(enum.StrEnum):
    BUFFER = "buffer"  # start (or restart) the record as pending with this generation
    DUPLICATE = "duplicate"  # same generation already known: nothing changes
    STALE = "stale"  # an older generation: a newer one was seen, so this one is dead
    ALREADY_DELETED = "already_deleted"  # its delete arrived first: never register it
    OVERWRITES_REGISTERED = "overwrites_registered"  # URL already in a manifest: tell ops
    REFUSED = "refused"  # the store refused the record as invalid: rejected, never retried


class DeleteAction(enum.StrEnum):
    TOMBSTONE = "tombstone"  # remember the deletion so a late finalize cannot register it
    WITHDRAW = "withdraw"  # pending generation leaves the buffer
    DUPLICATE = "duplicate"
    STALE = "stale"  # a newer generation lives: must not be withdrawn
    DELETED_AFTER_REGISTRATION = "deleted_after_registration"  # too late: tell ops


def on_finalize(record: ObjectRecord | None, generation: int) -> FinalizeAction:
    if record is None:
        return FinalizeAction.BUFFER
    if generation < record.generation:
        return FinalizeAction.STALE
    if generation == record.generation:
        if record.state is ObjectState.DELETED:
            return FinalizeAction.ALREADY_DELETED
        return FinalizeAction.DUPLICATE
    if record.state is ObjectState.CLAIMED:
        return FinalizeAction.OVERWRITES_REGISTERED
    # A newer generation replaces a pending or deleted older one.
    return FinalizeAction.BUFFER


def on_delete(record: ObjectRecord | None, generation: int) -> DeleteAction:
    if record is None:
        return DeleteAction.TOMBSTONE
    if generation < record.generation:
        return DeleteAction.STALE
    if record.state is ObjectState.CLAIMED:
        return DeleteAction.DELETED_AFTER_REGISTRATION
    if generation == record.generation:
        if record.state is ObjectState.PENDING:
            return DeleteAction.WITHDRAW
        return DeleteAction.DUPLICATE
    # The record holds an older generation; this newer one was deleted, so the name is
    # dead up to this generation whatever the older one's state was.
    return DeleteAction.TOMBSTONE
