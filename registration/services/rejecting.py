"""Recording that an object can never be registered, and saying so in the logs (one place)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from registration import logs
from registration.domain.model import RejectionReason, StorageObject, object_log_fields
from registration.services.ports import Context


def log_rejection(obj: StorageObject, reason: RejectionReason, detail: str, first: bool) -> None:
    logs.warning(
        "rejected" if first else "rejected (already recorded)",
        reason=reason.value,
        detail=detail,
        **object_log_fields(obj),
    )


def reject(ctx: Context, obj: StorageObject, reason: RejectionReason, detail: str) -> None:
    first = ctx.backends.rejections.record(obj, reason, detail, ctx.clock())
    log_rejection(obj, reason, detail, first)


def reject_many(
    ctx: Context,
    rejected: Sequence[tuple[StorageObject, RejectionReason, str]],
    counts: Counter[str] | None = None,
) -> None:
    """reject() for many objects in batched writes; counts tallies them by reason."""
    firsts = ctx.backends.rejections.record_many(rejected, ctx.clock())
    for (obj, reason, detail), first in zip(rejected, firsts, strict=True):
        if counts is not None:
            counts[reason.value] += 1
        log_rejection(obj, reason, detail, first)
