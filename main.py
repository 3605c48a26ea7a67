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
from cloudevents.http import CloudEvent

from registration import bootstrap, logs
from registration.domain.events import DELETED, FINALIZED, parse_storage_object
from registration.exceptions import MalformedEventError
from registration.services import intake
from registration.services.status import status as status_view
from registration.services.sweep import sweep as run_sweep
from registration.web.status_page import render_status

# Validate REGISTRATION_* at cold start: a bad value stops the instance, naming the variable.
bootstrap.settings()


@functions_framework.cloud_event
def on_storage_event(event: CloudEvent) -> None:
    event_id = event.get("id")
    event_type = event.get("type")
    if event_type not in (FINALIZED, DELETED):
        logs.info("event type not handled; acknowledged", event_id=event_id, type=event_type)
        return
    try:
        obj = parse_storage_object(event.get_data(), event_id)
    except MalformedEventError as error:
        logs.warning("malformed event dropped", event_id=event_id, problem=error.problem)
        return
    if event_type == FINALIZED:
        intake.register(bootstrap.context(), obj, bootstrap.gate())
    else:
        intake.withdraw(bootstrap.context(), obj)


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
    if request.method not in ("GET", "HEAD"):
        return _json({"error": "status takes GET"}, 405)
    view = status_view(bootstrap.context())
    accept = request.accept_mimetypes
    # JSON unless the client prefers HTML outright (a browser does; curl's */* does not).
    if accept["text/html"] > accept["application/json"]:
        return flask.Response(render_status(view.as_dict()), mimetype="text/html")
    return _json(view.as_dict())
