"""Every name Cloud Storage accepts, end to end: functions-framework, Firestore and Storage.

One row per character class (tests/support/legal_names.py): each event goes over HTTP as
Eventarc sends it, and each name must end in a manifest (read back and decoded through
parse_object_url) or in a rejection record with the reason the row names, shown by status.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import google.cloud.storage as storage
import pytest
import requests
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from devstack import cloudevents
from devstack.stack import PROJECT
from registration.manifest.urls import parse_object_url
from tests.e2e.conftest import Serve, read_manifests, registered_names
from tests.support.legal_names import NAME_CASES, REGISTERED


def _post_every_case(url: str, bucket: str) -> None:
    with requests.Session() as session:
        for generation, case in enumerate(NAME_CASES, start=1):
            data = cloudevents.object_data(bucket, case.name, generation)
            response = cloudevents.finalize(url, data, session=session)
            assert response.status_code == 200, f"{case.ident}: {response.status_code}"


def _rejection_reasons(bucket: str, name: str) -> list[str]:
    client = firestore.Client(project=PROJECT)
    query = (
        client.collection("rejections")
        .where(filter=FieldFilter("bucket", "==", bucket))
        .where(filter=FieldFilter("name", "==", name))
    )
    return [str((snapshot.to_dict() or {}).get("reason")) for snapshot in query.stream()]


def test_every_character_class_cloud_storage_accepts_is_registered_or_rejected_with_its_reason(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=1)
    status_server = serve("status")

    _post_every_case(server.url, bucket)

    registered = registered_names(read_manifests(gcs, bucket))
    view: dict[str, Any] = requests.get(status_server.url, timeout=120).json()
    shown = {(item["name"], item["reason"]) for item in view["rejected"]}
    for case in NAME_CASES:
        if case.fate == REGISTERED:
            assert registered.count(case.name) == 1, f"{case.ident}: {case.name!a} not registered"
            assert _rejection_reasons(bucket, case.name) == [], case.ident
        else:
            assert case.name not in registered, case.ident
            assert _rejection_reasons(bucket, case.name) == [case.fate], case.ident
            assert (case.name, case.fate) in shown, f"{case.ident}: not on the status view"
    expected = sorted(case.name for case in NAME_CASES if case.fate == REGISTERED)
    assert sorted(registered) == expected


def test_every_registrable_character_class_round_trips_through_a_csv_manifest(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=1, manifest_format="csv")

    _post_every_case(server.url, bucket)

    names = []
    for blob in gcs.list_blobs(bucket, prefix="encord-manifests/"):
        assert blob.name.endswith(".csv")
        rows = list(csv.reader(io.StringIO(blob.download_as_bytes().decode("utf-8"), newline="")))
        assert rows[0][0] == "ObjectUrl"
        names += [parse_object_url(row[0])[1] for row in rows[1:]]
        # Encord's CSV form: no whitespace in a URL.
        assert not any(char.isspace() for row in rows[1:] for char in row[0])
    assert sorted(names) == sorted(case.name for case in NAME_CASES if case.fate == REGISTERED)


@pytest.mark.parametrize(
    ("name", "generation"),
    [
        pytest.param("malformed/a\rb.jpg", "3", id="carriage-return"),
        pytest.param("malformed/a\nb.jpg", "x", id="line-feed-and-a-bad-generation"),
        pytest.param(".well-known/acme-challenge/token", "3", id="acme-challenge"),
    ],
)
def test_a_malformed_event_naming_an_object_is_acknowledged_and_shown_as_a_rejection(
    serve: Serve, bucket: str, name: str, generation: str
) -> None:
    server = serve("on_storage_event", batch_images=1)
    status_server = serve("status")
    data = {**cloudevents.object_data(bucket, name, 1), "generation": generation}

    response = cloudevents.finalize(server.url, data)

    assert response.status_code == 200
    assert _rejection_reasons(bucket, name) == ["malformed_event"]
    view = requests.get(status_server.url, timeout=120).json()
    assert [item["reason"] for item in view["rejected"] if item["name"] == name] == [
        "malformed_event"
    ]
    assert sum(view["totals"]["malformed_events_by_day"].values()) == 1
