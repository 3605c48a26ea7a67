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


class EncordOutcome(enum.StrEnum):
    """What Encord made of a CLAIMED record's generation, once its job ended (issue 20).

    Kept apart from ObjectState: the record stays CLAIMED (its batch still owns it), and this
    says what followed. None: the job has not ended, or its end was not matched to the record.
    """

    REGISTERED = "registered"  # the job's items hold this generation (item_uuid, job_id)
    REFUSED = "refused"  # Encord refused its unit: a newer generation may be registered again


@dataclass(frozen=True)
class ObjectRecord:
    state: ObjectState
    generation: int
    encord: EncordOutcome | None = None


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
        if record.encord is EncordOutcome.REFUSED:
            # Encord holds nothing for the old generation: the new one is registered afresh
            # (its refusal stays in the rejections).
            return FinalizeAction.BUFFER
        return FinalizeAction.OVERWRITES_REGISTERED
    # A newer generation replaces a pending or deleted older one.
    return FinalizeAction.BUFFER


def on_delete(record: ObjectRecord | None, generation: int) -> DeleteAction:
    if record is None:
        return DeleteAction.TOMBSTONE
    if generation < record.generation:
        return DeleteAction.STALE
    if record.state is ObjectState.CLAIMED and record.encord is EncordOutcome.REFUSED:
        # Encord holds nothing for it: remember the deletion, so that a late finalize of a
        # generation up to this one is never registered (the refusal stays in the rejections).
        return DeleteAction.TOMBSTONE
    if record.state is ObjectState.CLAIMED:
        return DeleteAction.DELETED_AFTER_REGISTRATION
    if generation == record.generation:
        if record.state is ObjectState.PENDING:
            return DeleteAction.WITHDRAW
        return DeleteAction.DUPLICATE
    # The record holds an older generation; this newer one was deleted, so the name is
    # dead up to this generation whatever the older one's state was.
    return DeleteAction.TOMBSTONE


# -- after a job's end (issue 20) ------------------------------------------------------------


def on_job_end(record: ObjectRecord | None, generation: int, outcome: EncordOutcome) -> bool:
    """Whether a finished job's outcome for `generation` is written on the record.

    Only on the record of that very generation while its batch still owns it (CLAIMED): a
    record that moved on (a newer generation buffered after a refusal, a tombstone) is never
    stamped with an older generation's item. Writing the same outcome twice (a redelivered
    sweep) is harmless, and a recorded outcome is never changed by another.
    """
    if record is None or record.state is not ObjectState.CLAIMED:
        return False
    if record.generation != generation:
        return False
    return record.encord is None or record.encord is outcome
