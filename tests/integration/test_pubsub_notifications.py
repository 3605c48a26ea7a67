"""adapters/pubsub.py against the official Pub/Sub emulator: publish, pull, check the message.

The stack starts the emulator (devstack/stack.py) and points this process at it with
PUBSUB_EMULATOR_HOST; each test makes its own topic and subscription.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.stack import PROJECT, Stack
from registration.adapters.pubsub import PubSubNotifications
from registration.domain.notification import RegisteredUrl, job_finished
from registration.domain.submission import EncordJobResult, EncordUnitError
from registration.exceptions import NotificationRefusedError
from tests.support.pubsub_channel import Channel, open_channel

A = "https://storage.cloud.google.com/site/cam%201/a.jpg"
BAD = "https://storage.cloud.google.com/site/cam%201/bad.jpg"


@pytest.fixture
def channel(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    assert stack.pubsub_host is not None, "the stack starts the Pub/Sub emulator"
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.pubsub_host)
    with open_channel() as opened:
        yield opened


def finished(status: str = "DONE") -> EncordJobResult:
    return EncordJobResult(
        status=status,  # type: ignore[arg-type]
        units_pending=0,
        units_done=1,
        units_error=1,
        units_cancelled=0,
        unit_errors=(EncordUnitError((BAD,), "Failed to read the file"),),
    )


def notification(job_id: str, folder: str = "cam 1", status: str = "DONE") -> Any:
    return job_finished(
        bucket="site",
        folder=folder,
        key="images",
        manifest_path=f"gs://site/encord-manifests/{folder}/images/000001-{job_id}.json",
        job_id=job_id,
        result=finished(status),
        registered=[RegisteredUrl(A, "0b9c3d4e-1111-4222-8333-944455556666")],
        finished_at=datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
    )


def test_a_published_job_message_arrives_with_its_data_and_attributes(channel: Channel) -> None:
    notifications = PubSubNotifications(channel.topic, timeout_seconds=20)

    message_id = notifications.publish(notification("job-1"))

    (message,) = channel.pull(1)
    assert message.message_id == message_id
    data = json.loads(message.data)
    assert data["job_id"] == "job-1" and data["status"] == "DONE"
    assert data["manifest"] == "gs://site/encord-manifests/cam 1/images/000001-job-1.json"
    assert data["registered"] == [{"url": A, "item_uuid": "0b9c3d4e-1111-4222-8333-944455556666"}]
    assert data["refused"] == [{"url": BAD, "error": "Failed to read the file"}]
    assert dict(message.attributes) == {
        "bucket": "site",
        "folder": "cam 1",
        "key": "images",
        "status": "DONE",
        "job_id": "job-1",
    }


def test_a_root_folder_and_a_non_latin_folder_are_attributes_as_they_are(
    channel: Channel,
) -> None:
    notifications = PubSubNotifications(channel.topic, timeout_seconds=20)
    notifications.publish(notification("job-root", folder=""))
    notifications.publish(notification("job-jp", folder="写真/2026 #1"))

    folders = {m.attributes["job_id"]: m.attributes["folder"] for m in channel.pull(2)}

    assert folders == {"job-root": "", "job-jp": "写真/2026 #1"}


def test_a_message_published_twice_is_told_apart_by_its_job_id(channel: Channel) -> None:
    # Delivery is at least once, and a publish whose answer was lost is published again:
    # the consumer's dedup key is the job_id attribute, not the message id.
    notifications = PubSubNotifications(channel.topic, timeout_seconds=20)
    first = notifications.publish(notification("job-7"))
    second = notifications.publish(notification("job-7"))

    messages = channel.pull(2)

    assert first != second
    assert [m.attributes["job_id"] for m in messages] == ["job-7", "job-7"]
    assert len({m.attributes["job_id"] for m in messages}) == 1


def test_publishing_to_a_topic_that_does_not_exist_is_refused_naming_it(
    channel: Channel,
) -> None:
    missing = f"projects/{PROJECT}/topics/no-such-topic-{uuid.uuid4().hex[:6]}"
    notifications = PubSubNotifications(missing, timeout_seconds=10)

    with pytest.raises(NotificationRefusedError, match="NotFound") as raised:
        notifications.publish(notification("job-x"))

    assert missing in str(raised.value)


def test_a_topic_must_be_given_by_its_full_name() -> None:
    with pytest.raises(ValueError, match="full topic name"):
        PubSubNotifications("job-ends")
