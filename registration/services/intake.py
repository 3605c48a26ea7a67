"""The one decide-and-record path: events, backfill and reconcile all register through it.

register/withdraw take one event's object; register_many takes a listed page of objects
and batches the Firestore round trips, but every decision is the same: classify (reading
the DICOM header where it can decide), record the rejection or the pending record by
generation, and flush a buffer that is full.

Ports: source (a header to classify by), buffers (created on first use), records and bulk
(the decisions), rejections (through rejecting.py), and those of flush.py for a full buffer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from registration import logs
from registration.domain import dicom
from registration.domain.classify import classify, key_for, may_be_headerless_dicom
from registration.domain.lifecycle import DeleteAction, FinalizeAction
from registration.domain.model import (
    Accepted,
    BufferRef,
    Classification,
    Ignored,
    ManifestKey,
    Rejected,
    RejectionReason,
    StorageObject,
    object_log_fields,
)
from registration.exceptions import RecordRefusedError
from registration.services.flush import flush_if_full
from registration.services.ports import Context
from registration.services.rejecting import reject, reject_many
from registration.services.threshold import ThresholdGate

# Outcomes after which the buffer may have become full. A duplicate checks too: it may be
# the redelivery of an attempt that died before its check, which makes a crash there safe.
MAY_FILL = frozenset({FinalizeAction.BUFFER, FinalizeAction.DUPLICATE})


def verdict_for(
    ctx: Context, obj: StorageObject, *, read_header: bool = True
) -> tuple[StorageObject, Classification]:
    """Classify obj, reading its first bytes once where they decide the type or the series."""
    settings = ctx.settings
    head = None
    if read_header and not obj.name.startswith(settings.manifest_prefix):
        key = key_for(obj)
        if may_be_headerless_dicom(obj) or key is ManifestKey.DICOM_SERIES:
            head = ctx.backends.source.read_head(obj.bucket, obj.name, dicom.HEADER_BYTES)
            if head is not None and (key is not None or dicom.has_magic(head)):
                info = dicom.series_info(head)
                obj = replace(obj, series_uid=info.series_uid, instance_number=info.instance_number)
    verdict = classify(
        obj,
        manifest_prefix=settings.manifest_prefix,
        image_group_prefixes=settings.image_group_prefixes,
        image_sequence_prefixes=settings.image_sequence_prefixes,
        has_dicom_magic=head is not None and dicom.has_magic(head),
    )
    return obj, verdict


def overwrite_detail(obj: StorageObject) -> str:
    return (
        f"{obj.name!r} is already in a manifest; generation {obj.generation} "
        "would register the same URL again"
    )


def register(ctx: Context, obj: StorageObject, gate: ThresholdGate) -> FinalizeAction | None:
    """A finalize event: record the object, or its rejection; flush its buffer when full.
    One log line per event, the decision's (a failure's exception names the object)."""
    obj, verdict = verdict_for(ctx, obj)
    if isinstance(verdict, Ignored):
        logs.info("ignored", detail=verdict.detail, **object_log_fields(obj))
        return None
    if isinstance(verdict, Rejected):
        reject(ctx, obj, verdict.reason, verdict.detail)
        return None
    buffer = verdict.buffer_in(obj.bucket)
    now = ctx.clock()
    ctx.backends.buffers.ensure(buffer, now)
    try:
        action = ctx.backends.records.add_pending(buffer, obj, now)
    except RecordRefusedError as error:
        # Retrying the same bytes can never succeed: say so once, never answer 5xx forever.
        reject(ctx, obj, RejectionReason.RECORD_REFUSED, str(error))
        return FinalizeAction.REFUSED
    logs.info(
        f"finalize: {action.value}",
        action=action.value,
        buffer=buffer.label,
        **object_log_fields(obj),
    )
    if action is FinalizeAction.OVERWRITES_REGISTERED:
        reject(ctx, obj, RejectionReason.OVERWRITTEN_AFTER_REGISTRATION, overwrite_detail(obj))
    if action in MAY_FILL:
        flush_if_full(ctx, buffer, gate)
    return action


def tombstone_expiry(ctx: Context) -> datetime | None:
    """With retention on, a tombstone expires like a registered record: long after any late
    finalize of its generation could arrive (the platform redelivers for 24 h)."""
    days = ctx.settings.record_retention_days
    return ctx.clock() + timedelta(days=days) if days else None


def withdraw(ctx: Context, obj: StorageObject) -> DeleteAction | None:
    """A delete event: a pending generation leaves its buffer; a late one is recorded."""
    _, verdict = verdict_for(ctx, obj, read_header=False)
    if (
        isinstance(verdict, Rejected)
        and verdict.reason is RejectionReason.UNKNOWN_TYPE
        and may_be_headerless_dicom(obj)
    ):
        # It may have been registered by its DICM magic, which can no longer be read now
        # that it is gone; withdrawing from the folder's DICOM buffer is always safe (at
        # worst it leaves a tombstone no finalize will ever meet).
        verdict = Accepted(ManifestKey.DICOM_SERIES, obj.folder)
    if not isinstance(verdict, Accepted):
        logs.info("delete of an object that is not registrable", **object_log_fields(obj))
        return None
    buffer = verdict.buffer_in(obj.bucket)
    action = ctx.backends.records.withdraw(buffer, obj, ctx.clock(), tombstone_expiry(ctx))
    logs.info(
        f"delete: {action.value}",
        action=action.value,
        buffer=buffer.label,
        **object_log_fields(obj),
    )
    if action is DeleteAction.DELETED_AFTER_REGISTRATION:
        reject(
            ctx,
            obj,
            RejectionReason.DELETED_AFTER_REGISTRATION,
            f"{obj.name!r} was deleted after its manifest was claimed; Encord may hold "
            "a URL that no longer resolves",
        )
    return action


@dataclass
class IntakeTally:
    """What register_many did, for backfill and reconcile reports."""

    listed: int = 0
    ignored: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    manifests: list[str] = field(default_factory=list)
    last_name: str | None = None


def register_many(ctx: Context, objects: Sequence[StorageObject], tally: IntakeTally) -> None:
    """register() for objects that already exist, with the Firestore round trips batched:
    one commit per chunk for the new records, one for the rejections, and one count() per
    touched buffer. Decisions, buffers and flushes are register()'s own."""
    accepted: list[tuple[BufferRef, StorageObject]] = []
    rejected: list[tuple[StorageObject, RejectionReason, str]] = []
    for listed in objects:
        tally.listed += 1
        tally.last_name = listed.name
        obj, verdict = verdict_for(ctx, listed)
        if isinstance(verdict, Ignored):
            tally.ignored += 1
            logs.info("backfill: ignored", detail=verdict.detail, **object_log_fields(obj))
        elif isinstance(verdict, Rejected):
            rejected.append((obj, verdict.reason, verdict.detail))
        else:
            accepted.append((verdict.buffer_in(obj.bucket), obj))
    now = ctx.clock()
    for buffer in dict.fromkeys(buffer for buffer, _ in accepted):
        ctx.backends.buffers.ensure(buffer, now)
    touched: dict[BufferRef, None] = {}
    actions = ctx.backends.bulk.add_pending_many(accepted, now)
    for (buffer, obj), action in zip(accepted, actions, strict=True):
        tally.actions[action.value] += 1
        logs.info(
            f"backfill: {action.value}",
            action=action.value,
            buffer=buffer.label,
            **object_log_fields(obj),
        )
        if action is FinalizeAction.OVERWRITES_REGISTERED:
            reason = RejectionReason.OVERWRITTEN_AFTER_REGISTRATION
            rejected.append((obj, reason, overwrite_detail(obj)))
        elif action is FinalizeAction.REFUSED:
            detail = f"record of {obj.name!r} refused by Firestore; the rest of its page went on"
            rejected.append((obj, RejectionReason.RECORD_REFUSED, detail))
        if action in MAY_FILL:
            touched[buffer] = None
    reject_many(ctx, rejected, tally.rejected)
    for buffer in dict.fromkeys(buffer for buffer, _ in accepted):
        # Marked again after the page's writes (a no-op while the mark is fresh): the sweep
        # counts its closing margin from the last mark, and one slow page could outlast it.
        ctx.backends.buffers.ensure(buffer, now)
    for buffer in touched:
        tally.manifests.extend(flush_if_full(ctx, buffer))
