"""An event Cloud Storage could not have sent: acknowledged, and left where ops can see it."""

from __future__ import annotations

from registration import logs
from registration.domain.model import RejectionReason, StorageObject
from registration.exceptions import MalformedEventError
from registration.services.ports import Context
from registration.services.rejecting import reject


def drop_malformed(ctx: Context, error: MalformedEventError, named: StorageObject | None) -> None:
    """Log, count per day, and record against the object the event names (if any).

    Never raises: a malformed event is answered 2xx whatever happens here, because a 5xx
    would have the platform redeliver the same bad bytes for 24 hours. A failure to record
    is logged as an error instead (the "malformed event dropped" line is already out).
    """
    logs.warning("malformed event dropped", event_id=error.event_id, problem=error.problem)
    try:
        ctx.backends.rejections.count_malformed_event(ctx.clock())
        if named is not None:
            reject(ctx, named, RejectionReason.MALFORMED_EVENT, error.problem)
    except Exception as failure:  # any failure: see the docstring, never a 5xx here
        logs.error(
            "malformed event not recorded",
            event_id=error.event_id,
            problem=error.problem,
            error=f"{type(failure).__name__}: {failure}",
        )
