"""One invocation's hold on Encord: a fresh budget and circuit breaker per request.

The gateway is built once per instance and shared by the requests it serves; what one
invocation has learnt (Encord is hanging, its time is spent) must not outlive it. Each entry
point (main.py) and each sweep begins one, and the use cases it calls see an `EncordJobs`
whose calls are bounded by it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from registration.services.ports import Context, EncordSessions


def begin(ctx: Context, budget_seconds: float | None = None) -> Context:
    """The context with Encord bound to a new invocation of budget_seconds (None: each
    call by its own request timeout); unchanged when there is no Encord or it is a fake
    that has no sessions."""
    backends = ctx.backends
    # Any: the gateway behind `encord` may serve the other Encord ports too (compared below).
    encord: Any = backends.encord
    # Checked first: a runtime Protocol isinstance walks its members, on every event.
    if encord is None or not isinstance(encord, EncordSessions):
        return ctx
    # The gateway's session serves every Encord port (jobs, items, deletes, links).
    session: Any = encord.session(budget_seconds)
    # The after-registration ports are the same gateway: bound to the same session, so one
    # breaker and one budget cover every Encord call of the invocation.
    bound = replace(
        backends,
        encord=session,
        encord_items=session if backends.encord_items is encord else backends.encord_items,
        deletes=session if backends.deletes is encord else backends.deletes,
        links=session if backends.links is encord else backends.links,
    )
    return replace(ctx, backends=bound)
