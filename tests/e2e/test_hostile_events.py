"""Hostile payloads posted to a real functions-framework server (issue 13).

Each one is answered 2xx or 4xx (never a 5xx, which the platform would redeliver for a day),
leaves a log line that names the problem, registers nothing, and is counted (and recorded as
a malformed_event rejection where it still names an object) so that ops see it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from google.cloud import firestore

from devstack import cloudevents
from devstack.stack import PROJECT, Process
from registration.domain.events import FINALIZED
from tests.e2e.conftest import Serve

INT64_MAX = 2**63 - 1


def _payload(bucket: str, **fields: Any) -> dict[str, Any]:
    return {**cloudevents.object_data(bucket, "hostile/x.jpg", 7), **fields}


def _post(server: Process, body: bytes, subject: str = "objects/hostile/x.jpg") -> tuple[str, int]:
    event_id = uuid.uuid4().hex
    headers = cloudevents.headers(FINALIZED, {"bucket": "b", "name": "x"}, event_id)
    headers["ce-subject"] = subject
    response = requests.post(server.url, data=body, headers=headers, timeout=120)
    return event_id, response.status_code


def _dropped_problem(server: Process, event_id: str) -> str | None:
    for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and event_id in line:
            entry = json.loads(line)
            if entry.get("event_id") == event_id and entry["message"] == "malformed event dropped":
                return str(entry["problem"])
    return None


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode("utf-8")


def _cases(bucket: str) -> list[tuple[str, bytes, str, str]]:
    """(id, body, subject, words the logged problem must hold)."""
    ok_subject = "objects/hostile/x.jpg"
    return [
        (
            "generation-5000-digits",
            _json(_payload(bucket, generation="9" * 5000)),
            ok_subject,
            "int64",
        ),
        (
            "generation-over-int64",
            _json(_payload(bucket, generation=str(INT64_MAX + 1))),
            ok_subject,
            "int64",
        ),
        ("size-over-int64", _json(_payload(bucket, size=str(INT64_MAX + 1))), ok_subject, "int64"),
        ("generation-abc", _json(_payload(bucket, generation="abc")), ok_subject, "generation"),
        (
            "generation-leading-space",
            _json(_payload(bucket, generation=" 12")),
            ok_subject,
            "generation",
        ),
        ("size-negative", _json(_payload(bucket, size="-5")), ok_subject, "'size'"),
        # json.dumps writes the lone surrogate as the escape \ud800, as a hostile sender would.
        (
            "name-lone-surrogate",
            _json(_payload(bucket, name="hostile/\ud800.jpg")),
            "objects/hostile/%ED%A0%80.jpg",
            "lone surrogate",
        ),
        (
            "name-carriage-return",
            _json(_payload(bucket, name="hostile/\r.jpg")),
            "objects/hostile/%0D.jpg",
            "U+000D",
        ),
        (
            "name-1025-bytes",
            _json(_payload(bucket, name="h/" + "x" * 1019 + ".jpg")),
            "objects/h/" + "x" * 1019 + ".jpg",
            "1025 bytes",
        ),
        (
            "metadata-not-an-object",
            _json(_payload(bucket, metadata=["a"])),
            ok_subject,
            "'metadata'",
        ),
        (
            "metadata-nested",
            _json(_payload(bucket, metadata={"a": {"b": {"c": {}}}})),
            ok_subject,
            "must be strings",
        ),
        (
            "metadata-5-mb",
            _json(_payload(bucket, metadata={"big": "x" * 5_000_000})),
            ok_subject,
            "8192",
        ),
        (
            "content-type-10-kb",
            _json(_payload(bucket, contentType="image/" + "x" * 10_000)),
            ok_subject,
            "1024",
        ),
        (
            "subject-disagrees",
            _json(_payload(bucket)),
            "objects/hostile/other.jpg",
            "does not name the object",
        ),
        (
            "body-20-mb",
            _json(_payload(bucket, name="hostile/" + "y" * 20_000_000)),
            ok_subject,
            "Cloud Storage allows at most 1024",
        ),
        (
            "body-not-utf8",
            b'{"bucket": "' + bucket.encode() + b'", "name": "\xff\xfe"}',
            ok_subject,
            "not UTF-8",
        ),
    ]


CASE_IDS = [case[0] for case in _cases("b")]


@pytest.mark.parametrize("case", CASE_IDS)
def test_a_hostile_payload_is_answered_below_500_logged_with_its_problem_and_not_recorded(
    case: str, serve: Serve, bucket: str
) -> None:
    server = serve("on_storage_event", batch_images=1)
    [(_, body, subject, words)] = [c for c in _cases(bucket) if c[0] == case]

    event_id, status = _post(server, body, subject)

    assert status < 500, f"{case}: answered {status}; log:\n{server.log_tail()}"
    problem = _dropped_problem(server, event_id)
    assert problem is not None, f"{case}: no 'malformed event dropped' line:\n{server.log_tail()}"
    assert words in problem
    assert len(problem) < 1000
    client = firestore.Client(project=PROJECT)
    # Nothing registered; the event is counted for the day, and recorded as a malformed_event
    # rejection where it still names a recordable object (tests/e2e/test_legal_names_e2e.py).
    assert {collection.id for collection in client.collections()} <= {
        "malformed_events",
        "rejections",
    }
    counted = [snapshot.get("count") for snapshot in client.collection("malformed_events").get()]
    assert sum(counted) == 1
    reasons = {snapshot.get("reason") for snapshot in client.collection("rejections").get()}
    assert reasons <= {"malformed_event"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"bucket": "b", "name": "x.jpg", "generation": ' + b"9" * 5000 + b"}",
            id="json-number-of-5000-digits",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="json-nested-100000-deep"),
    ],
)
def test_a_body_the_cloudevents_sdk_cannot_decode_is_answered_below_500(
    body: bytes, serve: Serve, bucket: str
) -> None:
    # functions-framework decodes the JSON body before on_storage_event runs
    # (cloudevents.conversion._json_or_string catches only JSONDecodeError): main.py's
    # error handler acknowledges what the SDK cannot decode.
    server = serve("on_storage_event")
    _, status = _post(server, body)
    assert status == 200
    client = firestore.Client(project=PROJECT)
    assert [collection.id for collection in client.collections()] == ["malformed_events"]


def test_a_well_formed_event_after_the_hostile_ones_is_still_registered(
    serve: Serve, bucket: str
) -> None:
    server = serve("on_storage_event", batch_images=1)
    for _, body, subject, _ in _cases(bucket)[:5]:
        assert _post(server, body, subject)[1] < 500
    response = cloudevents.finalize(server.url, _payload(bucket))
    assert response.status_code == 200
    client = firestore.Client(project=PROJECT)
    assert [collection.id for collection in client.collections()] != []
