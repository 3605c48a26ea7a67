"""Carry a registered object's delete or overwrite over to Encord, by policy (issue 20).

The storage event only notes the follow-up on the record (domain/lifecycle.py: FOLLOW_UP,
REPLACE): in a bucket without versioning an overwrite sends `deleted` for the old generation
too, in any order with the new generation's `finalized`, so the event cannot tell a delete
from an overwrite. The sweep asks the bucket (`SourceBucket.stat`) and `lifecycle.resolve`
decides, so the outcome follows the bucket's state, never the order of arrival:

- the registered generation is still live: nothing to carry (cancelled);
- a newer generation is live (overwritten): `replace` deletes the item first, then buffers
  the live generation (skip_duplicate_urls would otherwise skip its URL); `report` records
  `overwritten_after_registration` and keeps the item;
- nothing is live (deleted): `delete` deletes the item, then leaves a tombstone; `report`
  records `deleted_after_registration` and keeps the item.

The item deleted is always the one on the record, the record's own generation's: a stale
delete never gets here, and a newer generation's item is never on an older record. The
delete is retried like a submission (retry_delay); a refusal after an earlier attempt of the
same item counts as done (its answer was lost), a first refusal is for a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from registration import logs
from registration.domain.encord_items import FollowUp
from registration.domain.lifecycle import Resolution, resolve
from registration.domain.model import RejectionReason, StorageObject, gs_url
from registration.domain.submission import FIRST_RETRY, retry_delay
from registration.exceptions import (
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
)
from registration.services import intake
from registration.services.ports import Context, EncordBreaker, FollowUps
from registration.services.rejecting import reject
from registration.services.threshold import ThresholdGate

FOLLOW_UPS_PAGE = 500


@dataclass
class FollowUpTally:
    carried: list[str] = field(default_factory=list)  # "<gs://...>: <resolution>"
    deferred: bool = False  # Encord failed in this invocation: the rest wait


def carry_due(ctx: Context, out_of_time: Callable[[], bool] | None = None) -> FollowUpTally:
    """Every follow-up due, in order of due time, until Encord fails in this invocation."""
    tally = FollowUpTally()
    follow_ups = ctx.backends.follow_ups
    if follow_ups is None:
        return tally
    gate = ThresholdGate()
    for item in follow_ups.follow_ups_due(ctx.clock(), FOLLOW_UPS_PAGE):
        if out_of_time is not None and out_of_time():
            tally.deferred = True
            break
        encord = ctx.backends.encord
        if isinstance(encord, EncordBreaker) and encord.deferring:
            tally.deferred = True
            break
        done = carry(ctx, follow_ups, item, gate)
        tally.carried.append(f"{gs_url(item.bucket, item.name)}: {done.value}")
    return tally


def carry(ctx: Context, store: FollowUps, item: FollowUp, gate: ThresholdGate) -> Resolution:
    live = ctx.backends.source.stat(item.bucket, item.name)
    policy = ctx.backends.policy
    resolution = resolve(item.record, None if live is None else live.generation, policy)
    now = ctx.clock()
    where = gs_url(item.bucket, item.name)
    registered = StorageObject(item.bucket, item.name, item.record.generation)
    logs.info(
        "follow-up",
        object=where,
        generation=item.record.generation,
        live_generation=None if live is None else live.generation,
        resolution=resolution.value,
    )
    if resolution is Resolution.WAIT:
        # Its job has not ended: the item is not known yet. Look again in a little while.
        store.reschedule_follow_up(item, item.attempts, now + FIRST_RETRY, item.failed)
        return resolution
    if resolution in (Resolution.DELETE_ITEM, Resolution.REPLACE_ITEM):
        if not _delete_item(ctx, store, item, where):
            return resolution
        store.release_item(item)
    if resolution is Resolution.REPORT_DELETED:
        reject(
            ctx,
            registered,
            RejectionReason.DELETED_AFTER_REGISTRATION,
            f"{item.name!r} was deleted after its manifest was claimed; Encord may hold "
            "a URL that no longer resolves (REGISTRATION_ENCORD_ON_DELETE=report)",
        )
    elif resolution is Resolution.REPORT_OVERWRITTEN and live is not None:
        reject(
            ctx,
            live,
            RejectionReason.OVERWRITTEN_AFTER_REGISTRATION,
            intake.overwrite_detail(live),
        )
    elif resolution in (Resolution.REPLACE_ITEM, Resolution.BUFFER_LIVE) and live is not None:
        # The record holds nothing in Encord now: the live generation is buffered like any
        # new object (its record becomes pending, which ends the follow-up).
        intake.register(ctx, live, gate)
    tombstone = resolution in (Resolution.DELETE_ITEM, Resolution.TOMBSTONE)
    store.close_follow_up(item, now, tombstone=tombstone, expire_at=intake.tombstone_expiry(ctx))
    return resolution


def _delete_item(ctx: Context, store: FollowUps, item: FollowUp, where: str) -> bool:
    """Delete the record's item; True when it is gone (now, or by an earlier lost answer)."""
    deletes = ctx.backends.deletes
    if deletes is None or item.item_uuid is None:
        store.fail_follow_up(item, "no item to delete, or no folder target to delete it from")
        return False
    attempts = item.attempts + 1
    try:
        deletes.delete_items([item.item_uuid])
    except (EncordUnavailableError, EncordRateLimitedError) as error:
        retry_after = getattr(error, "retry_after_seconds", None)
        retry_at = ctx.clock() + retry_delay(attempts, retry_after)
        store.reschedule_follow_up(item, attempts, retry_at, str(error))
        logs.warning(
            "encord item delete failed", object=where, problem=str(error), retry_at=retry_at
        )
        return False
    except EncordRefusedError as error:
        if item.attempts > 0:
            # A delete of this same item was sent before and its answer lost: it is gone.
            logs.info("encord item already deleted", object=where, item_uuid=item.item_uuid)
            return True
        store.fail_follow_up(item, str(error))
        logs.error("encord item delete failed", object=where, problem=str(error), retry_at=None)
        return False
    logs.info("encord item deleted", object=where, item_uuid=item.item_uuid, attempt=attempts)
    return True
