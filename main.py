"""Cloud Function entry points. Parse, call one use case, decide retry or drop.

THE RULE: a problem with the event itself (not JSON, no bucket or name, wrong types) is
logged and acknowledged by returning normally, because redelivering the same bytes can never
succeed and a 5xx would make the platform retry it for 24 hours. Anything else, above all a
Firestore or Cloud Storage failure, is raised: functions-framework answers 500 and the
platform redelivers, and every step below is idempotent, so the retry converges.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import functions_framework
from cloudevents import exceptions as cloud_exceptions
from cloudevents.http import CloudEvent

from registration import bootstrap, logs
from registration.domain.events import DELETED, FINALIZED, named_object, parse_storage_object
from registration.exceptions import MalformedEventError
from registration.presenters import wire
from registration.presenters.display import Filters
from registration.services import intake, invocation
from registration.services.malformed import drop_malformed
from registration.services.reconcile import reconcile_recent
from registration.services.status import buffer_detail
from registration.services.status import status as status_view
from registration.services.sweep import sweep as run_sweep
from registration.web import status_page

# Validate REGISTRATION_* (and the Encord key, if a target is set) at cold start: a bad
# value stops the instance, naming the variable.
bootstrap.startup()


@functions_framework.cloud_event
def on_storage_event(event: CloudEvent) -> None:
    event_id = event.get("id")
    event_type = event.get("type")
    if event_type not in (FINALIZED, DELETED):
        logs.info("event type not handled; acknowledged", event_id=event_id, type=event_type)
        return
    try:
        # The subject ("objects/NAME") must name the object the data describes.
        obj = parse_storage_object(event.get_data(), event_id, subject=event.get("subject"))
    except MalformedEventError as error:
        drop_malformed(bootstrap.context(), error, named_object(event.get_data()))
        return
    # This event's own hold on Encord: it waits out one request timeout at most.
    ctx = invocation.begin(bootstrap.context())
    if event_type == FINALIZED:
        intake.register(ctx, obj, bootstrap.gate())
    else:
        intake.withdraw(ctx, obj)


@functions_framework.errorhandler(cloud_exceptions.DataUnmarshallerError)  # type: ignore[untyped-decorator]
def _undecodable_event(error: cloud_exceptions.DataUnmarshallerError) -> tuple[str, int]:
    # The CloudEvents SDK could not even decode the body (a 5,000-digit number, nesting
    # deeper than the JSON parser allows): as malformed as an event gets, so acknowledged
    # and counted; it names no object that could be recorded.
    problem = f"the body is not usable JSON: {str(error)[:200]}"
    malformed = MalformedEventError(flask.request.headers.get("ce-id"), problem)
    drop_malformed(bootstrap.context(), malformed, None)
    return "", 200


def _json(body: dict[str, Any], status: int = 200) -> flask.Response:
    return flask.Response(
        json.dumps(body, default=str, ensure_ascii=False),
        status=status,
        mimetype="application/json",
    )


@functions_framework.http
def sweep(request: flask.Request) -> flask.Response:
    if request.method != "POST":
        return _json({"error": "sweep takes POST"}, 405)
    report = run_sweep(bootstrap.context())
    # A 500 with the same summary makes Cloud Scheduler record the failed run.
    return _json(report.as_dict(), 500 if report.errors else 200)


@functions_framework.http
def status(request: flask.Request) -> flask.Response:
    """JSON by default; HTML for browsers. ?buffer=ID is one buffer; ?asset= the page's files.

    The overview reads prefix, type, state, sort, cursor and all from the query string
    (registration/presenters/display.Filters), so its filter form works without JavaScript.
    """
    if request.method not in ("GET", "HEAD"):
        return _json({"error": "status takes GET"}, 405)
    args = request.args
    if "asset" in args:
        found = status_page.asset(args["asset"])
        if found is None:
            return _json({"error": "no such asset"}, 404)
        content, mimetype = found
        response = flask.Response(content, content_type=mimetype)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "public, max-age=300"
        return response
    accept = request.accept_mimetypes
    # JSON unless the client prefers HTML outright (a browser does; curl's */* does not).
    wants_html = accept["text/html"] > accept["application/json"]
    ctx = bootstrap.context()
    if "buffer" in args:
        detail = buffer_detail(ctx, args["buffer"])
        if detail is None:
            if wants_html:
                return _html(status_page.render_not_found(args["buffer"]), 404)
            return _json({"error": "no such buffer", "buffer": args["buffer"]}, 404)
        if wants_html:
            page = status_page.render_detail(detail, ctx.clock(), ctx.settings.max_age_seconds)
            return _html(page)
        return _json(wire.detail_json(detail))
    filters = Filters.from_query(args)
    view = status_view(
        ctx,
        cursor=filters.cursor,
        everything=filters.everything,
        query=filters.buffer_query(),
        state=filters.buffer_state(),
    )
    if wants_html:
        return _html(status_page.render_overview(view, filters))
    return _json(wire.status_json(view))


def _html(page: str, status: int = 200) -> flask.Response:
    response = flask.Response(page, status=status, mimetype="text/html")
    response.headers.update(status_page.SECURITY_HEADERS)
    response.headers["Vary"] = "Accept"
    return response


@functions_framework.http
def reconcile(request: flask.Request) -> flask.Response:
    """Scheduled repair of what events missed under the recent prefixes (Eventarc drops an
    event after 24 hours of retries): docs/operations.md, "After the platform gives up"."""
    if request.method != "POST":
        return _json({"error": "reconcile takes POST"}, 405)
    result = reconcile_recent(invocation.begin(bootstrap.context()))
    return _json(result.as_dict(), 500 if result.errors else 200)
