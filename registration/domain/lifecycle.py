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
    RELEASED = "released"  # its item was deleted (delete / replace): Encord holds nothing

    @property
    def holds_nothing(self) -> bool:
        """Encord holds no item for this generation: the name is free to register again."""
        return self is not EncordOutcome.REGISTERED


@dataclass(frozen=True)
class ObjectRecord:
    state: ObjectState
    generation: int
    encord: EncordOutcome | None = None
    # A delete or an overwrite of a registered generation waits to be carried over to Encord
    # (REGISTRATION_ENCORD_ON_DELETE=delete or ON_OVERWRITE=replace): see follow_up().
    follow_up: bool = False


class FinalizeAction(enum.StrEnum):
    BUFFER = "buffer"  # start (or restart) the record as pending with this generation
    DUPLICATE = "duplicate"  # same generation already known: nothing changes
    STALE = "stale"  # an older generation: a newer one was seen, so this one is dead
    ALREADY_DELETED = "already_deleted"  # its delete arrived first: never register it
    OVERWRITES_REGISTERED = "overwrites_registered"  # URL already in a manifest: tell ops
    REFUSED = "refused"  # the store refused the record as invalid: rejected, never retried
    # ON_OVERWRITE=replace: the old item is deleted first, then the live generation buffered
    # (by the sweep, which checks the bucket); the record notes the follow-up.
    REPLACE = "replace"


class DeleteAction(enum.StrEnum):
    TOMBSTONE = "tombstone"  # remember the deletion so a late finalize cannot register it
    WITHDRAW = "withdraw"  # pending generation leaves the buffer
    DUPLICATE = "duplicate"
    STALE = "stale"  # a newer generation lives: must not be withdrawn
    DELETED_AFTER_REGISTRATION = "deleted_after_registration"  # too late: tell ops
    # ON_DELETE=delete or ON_OVERWRITE=replace: the sweep checks the bucket (a delete of the
    # registered generation may be an overwrite's) and deletes the item, replaces it, or
    # reports; the record notes the follow-up.
    FOLLOW_UP = "follow_up"


def on_finalize(
    record: ObjectRecord | None, generation: int, policy: Policy | None = None
) -> FinalizeAction:
    if record is None:
        return FinalizeAction.BUFFER
    if generation < record.generation:
        return FinalizeAction.STALE
    if generation == record.generation:
        if record.state is ObjectState.DELETED:
            return FinalizeAction.ALREADY_DELETED
        return FinalizeAction.DUPLICATE
    if record.state is ObjectState.CLAIMED:
        if record.encord is not None and record.encord.holds_nothing:
            # Encord holds nothing for the old generation: the new one is registered afresh
            # (a refusal stays in the rejections).
            return FinalizeAction.BUFFER
        if policy is not None and policy.replace:
            return FinalizeAction.REPLACE
        return FinalizeAction.OVERWRITES_REGISTERED
    # A newer generation replaces a pending or deleted older one.
    return FinalizeAction.BUFFER


def on_delete(
    record: ObjectRecord | None, generation: int, policy: Policy | None = None
) -> DeleteAction:
    if record is None:
        return DeleteAction.TOMBSTONE
    if generation < record.generation:
        return DeleteAction.STALE
    if (
        record.state is ObjectState.CLAIMED
        and record.encord is not None
        and record.encord.holds_nothing
        and not record.follow_up
    ):
        # Encord holds nothing for it: remember the deletion, so that a late finalize of a
        # generation up to this one is never registered (the refusal stays in the rejections).
        return DeleteAction.TOMBSTONE
    if record.state is ObjectState.CLAIMED:
        if policy is not None and policy.follows_bucket:
            # The event cannot tell a delete from an overwrite's removal of the old
            # generation (a bucket without versioning sends both, in any order): the
            # sweep asks the bucket which it was.
            return DeleteAction.FOLLOW_UP
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


# -- carrying deletes and overwrites over to Encord (issue 20) ------------------------------


@dataclass(frozen=True)
class Policy:
    """REGISTRATION_ENCORD_ON_DELETE and ON_OVERWRITE. `report` for both is today's behaviour."""

    delete: bool = False  # ON_DELETE=delete
    replace: bool = False  # ON_OVERWRITE=replace

    @property
    def follows_bucket(self) -> bool:
        return self.delete or self.replace


REPORT = Policy()


def notes_follow_up(action: FinalizeAction | DeleteAction) -> bool:
    """Whether the store marks the record for the sweep's follow-up with this action."""
    return action in (FinalizeAction.REPLACE, DeleteAction.FOLLOW_UP)


class Resolution(enum.StrEnum):
    """What the sweep does with a record's follow-up, once it knows the live generation."""

    WAIT = "wait"  # the job has not ended: the item is not known yet
    CANCEL = "cancel"  # the registered generation is still the live one: nothing to carry
    REPORT_DELETED = "report_deleted"  # deleted, ON_DELETE=report: a rejection, item kept
    REPORT_OVERWRITTEN = "report_overwritten"  # overwritten, ON_OVERWRITE=report: likewise
    DELETE_ITEM = "delete_item"  # deleted, ON_DELETE=delete: delete the item, then tombstone
    REPLACE_ITEM = "replace_item"  # overwritten, replace: delete the item, then buffer the live
    TOMBSTONE = "tombstone"  # deleted, and Encord holds nothing (refused, or item deleted)
    BUFFER_LIVE = "buffer_live"  # overwritten, and Encord holds nothing: register the live one


def resolve(record: ObjectRecord, live_generation: int | None, policy: Policy) -> Resolution:
    """The follow-up of a CLAIMED record, decided by the bucket's state, not by event order.

    `live_generation` is what `SourceBucket.stat` says now (None: the name is gone). A newer
    live generation means the registered one was overwritten; none means it was deleted. The
    item deleted is always the one on the record, which is the record's own generation's: a
    stale delete (an older generation) never reaches here (on_delete says STALE).
    """
    if record.encord is None:
        return Resolution.WAIT
    overwritten = live_generation is not None and live_generation > record.generation
    deleted = live_generation is None
    if not overwritten and not deleted:
        return Resolution.CANCEL
    if record.encord.holds_nothing:
        return Resolution.BUFFER_LIVE if overwritten else Resolution.TOMBSTONE
    if overwritten:
        return Resolution.REPLACE_ITEM if policy.replace else Resolution.REPORT_OVERWRITTEN
    return Resolution.DELETE_ITEM if policy.delete else Resolution.REPORT_DELETED


def may_follow_up(record: ObjectRecord | None, generation: int) -> bool:
    """A follow-up write (its item released, cancelled, retried) applies only to the record
    it was decided for: CLAIMED, the same generation, the follow-up still noted."""
    return (
        record is not None
        and record.state is ObjectState.CLAIMED
        and record.generation == generation
        and record.follow_up
    )
