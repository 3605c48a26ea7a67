"""Encord follows the bucket, end to end: served functions (functions-framework), real objects
in the Storage emulator, the real SDK against the local Encord stub, messages through the
Pub/Sub emulator.

- a drop ends with its items linked to a dataset and one message per job;
- under ON_DELETE=delete, deleting a registered object deletes its item;
- under ON_OVERWRITE=replace, an overwrite leaves exactly one item for the URL, the new one's;
- a file Encord refused, uploaded again, is registered;
- a stale delete that arrives after a newer generation removes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import google.cloud.storage as storage
import pytest
import requests

from devstack import cloudevents
from devstack.stack import Process, Stack
from registration.manifest.urls import object_url
from tests.e2e.conftest import Serve
from tests.support.encord_stub import StubItem
from tests.support.encord_target import EncordTarget, app_with_encord
from tests.support.pubsub_channel import Channel, open_channel

BATCH = 2
MAX_AGE = 1  # a lone re-upload is flushed by the next sweep a second later


@pytest.fixture
def channel(emulators: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    assert emulators.pubsub_host is not None
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulators.pubsub_host)
    with open_channel() as opened:
        yield opened


@dataclass
class Site:
    """A bucket with its functions served under one configuration."""

    bucket: str
    gcs: storage.Client
    events: Process
    sweeper: Process
    target: EncordTarget

    def upload(self, name: str, data: bytes = b"\xff\xd8 jpeg") -> dict[str, Any]:
        """Write the object, send its finalize event as GCS would; returns the event data."""
        blob = self.gcs.bucket(self.bucket).blob(name)
        blob.upload_from_string(data, content_type="image/jpeg")
        event = cloudevents.object_data(
            self.bucket, name, int(blob.generation or 0), size=len(data), content_type="image/jpeg"
        )
        assert cloudevents.finalize(self.events.url, event).status_code == 200
        return event

    def remove(self, name: str) -> None:
        self.gcs.bucket(self.bucket).blob(name).delete()

    def deliver_delete(self, event: dict[str, Any]) -> None:
        assert cloudevents.delete(self.events.url, event).status_code == 200

    def sweep(self) -> dict[str, Any]:
        answer: dict[str, Any] = requests.post(self.sweeper.url, timeout=120).json()
        assert answer["errors"] == [], answer
        return answer

    def items_for(self, name: str) -> list[StubItem]:
        url = object_url(self.bucket, name)
        return self.target.stub.items_for_url(self.target.target, url)

    def record(self, name: str) -> Any:
        app = app_with_encord(self.target.settings())
        [found] = app.store.bulk.object_records([(self.bucket, name)])
        return found


def site(serve: Serve, target: EncordTarget, bucket: str, **settings: Any) -> Site:
    values = {
        "batch_images": BATCH,
        "max_age_seconds": MAX_AGE,
        **target.setting_values(),
        **settings,
    }
    gcs = storage.Client(project="local-project", credentials=_anonymous())
    return Site(bucket, gcs, serve("on_storage_event", **values), serve("sweep", **values), target)


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def drop(place: Site, names: list[str]) -> list[dict[str, Any]]:
    """Upload a full batch (the last event writes and submits it), then sweep its job's end."""
    uploaded = [place.upload(name) for name in names]
    place.sweep()
    return uploaded


def settle(place: Site, rounds: int = 4) -> None:
    """Sweeps until the re-buffered generation is flushed, submitted and its job ended."""
    for _ in range(rounds):
        time.sleep(MAX_AGE + 0.2)
        place.sweep()


def test_a_drop_ends_with_its_items_linked_to_a_dataset_and_one_message_per_job(
    target: EncordTarget, serve: Serve, bucket: str, channel: Channel
) -> None:
    dataset = target.stub.add_dataset()
    place = site(serve, target, bucket, encord_datasets=dataset, notify_topic=channel.topic)
    names = [f"drop/f{i}.jpg" for i in range(BATCH * 2)]

    drop(place, names[:BATCH])
    drop(place, names[BATCH:])
    place.sweep()  # a later sweep announces and links nothing twice

    items = [item for name in names for item in place.items_for(name)]
    assert len(items) == len(names)
    assert sorted(target.stub.linked_items(dataset)) == sorted(item.uuid for item in items)
    messages = channel.pull(expected=3, rounds=3)
    jobs = {job.id for job in target.jobs()}
    assert len(jobs) == 2
    assert sorted(m.attributes["job_id"] for m in messages) == sorted(jobs)  # one per job
    registered = {e["url"] for m in messages for e in json.loads(m.data)["registered"]}
    assert registered == {object_url(bucket, name) for name in names}
    assert place.record(names[0]).item_uuid == place.items_for(names[0])[0].uuid


def test_a_delete_under_the_delete_policy_removes_the_item(
    target: EncordTarget, serve: Serve, bucket: str
) -> None:
    place = site(serve, target, bucket, encord_on_delete="delete")
    names = ["gone/f0.jpg", "gone/f1.jpg"]
    uploaded = drop(place, names)
    [item] = place.items_for(names[0])

    place.remove(names[0])
    place.deliver_delete(uploaded[0])
    answer = place.sweep()

    assert answer["follow_ups"] == [f"gs://{bucket}/{names[0]}: delete_item"]
    assert place.items_for(names[0]) == []
    assert [d.item_uuids for d in target.stub.deletions()] == [(item.uuid,)]
    assert len(place.items_for(names[1])) == 1  # its neighbour stays
    assert place.record(names[0]).state == "deleted"


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-first", "finalize-first"])
def test_an_overwrite_under_replace_leaves_exactly_one_item_for_the_url_the_new_generations(
    delete_first: bool, target: EncordTarget, serve: Serve, bucket: str
) -> None:
    place = site(serve, target, bucket, encord_on_overwrite="replace", encord_on_delete="delete")
    names = ["over/f0.jpg", "over/f1.jpg"]
    uploaded = drop(place, names)
    [old] = place.items_for(names[0])

    # A bucket without versioning sends finalize(g2) and delete(g1), in either order.
    blob = place.gcs.bucket(bucket).blob(names[0])
    blob.upload_from_string(b"\xff\xd8 new", content_type="image/jpeg")
    newer = cloudevents.object_data(
        bucket, names[0], int(blob.generation or 0), size=9, content_type="image/jpeg"
    )
    if delete_first:
        place.deliver_delete(uploaded[0])
    assert cloudevents.finalize(place.events.url, newer).status_code == 200
    if not delete_first:
        place.deliver_delete(uploaded[0])
    settle(place)

    [new] = place.items_for(names[0])
    assert new.uuid != old.uuid
    assert target.stub.item(old.uuid) is None
    record = place.record(names[0])
    assert (record.obj.generation, record.item_uuid) == (int(newer["generation"]), new.uuid)


def test_a_refused_file_uploaded_again_is_registered(
    target: EncordTarget, serve: Serve, bucket: str
) -> None:
    target.stub.fail_urls_matching(r"refused/f0\.jpg")
    place = site(serve, target, bucket)
    names = ["refused/f0.jpg", "refused/f1.jpg"]
    drop(place, names)
    assert place.items_for(names[0]) == []
    assert place.record(names[0]).encord == "refused"

    target.stub.clear_failures()  # the file is fixed, and uploaded again
    again = place.upload(names[0], b"\xff\xd8 fixed")
    settle(place)

    [item] = place.items_for(names[0])
    record = place.record(names[0])
    assert (record.obj.generation, record.item_uuid) == (int(again["generation"]), item.uuid)
    app = app_with_encord(target.settings())
    reasons = [r.reason for r in app.store.rejections.of_object(bucket, names[0])]
    assert "encord_refused" in reasons  # the refusal stays


def test_a_stale_delete_after_a_newer_generation_removes_nothing(
    target: EncordTarget, serve: Serve, bucket: str
) -> None:
    place = site(serve, target, bucket, encord_on_overwrite="replace", encord_on_delete="delete")
    names = ["stale/f0.jpg", "stale/f1.jpg"]
    uploaded = drop(place, names)
    blob = place.gcs.bucket(bucket).blob(names[0])
    blob.upload_from_string(b"\xff\xd8 newer", content_type="image/jpeg")
    newer = cloudevents.object_data(
        bucket, names[0], int(blob.generation or 0), size=11, content_type="image/jpeg"
    )
    assert cloudevents.finalize(place.events.url, newer).status_code == 200
    settle(place)
    [current] = place.items_for(names[0])
    deletions = len(target.stub.deletions())

    place.deliver_delete(uploaded[0])  # the old generation's delete, redelivered late
    place.deliver_delete(uploaded[0])
    assert place.sweep()["follow_ups"] == []

    assert place.items_for(names[0]) == [current]
    assert len(target.stub.deletions()) == deletions
    record = place.record(names[0])
    assert (record.obj.generation, record.item_uuid) == (int(newer["generation"]), current.uuid)
