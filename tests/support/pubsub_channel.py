"""A topic and a pull subscription on the Pub/Sub emulator, for tests that receive messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from devstack.stack import PROJECT


@dataclass(frozen=True)
class Channel:
    topic: str
    subscription: str
    subscriber: SubscriberClient

    def pull(self, expected: int, rounds: int = 20) -> list[Any]:
        """Pull until `expected` messages arrived or `rounds` pulls came back (the emulator
        may hand messages out in parts); acknowledges what it received."""
        received: list[Any] = []
        for _ in range(rounds):
            answer = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": 10}, timeout=10
            )
            received.extend(m.message for m in answer.received_messages)
            if answer.received_messages:
                self.subscriber.acknowledge(
                    request={
                        "subscription": self.subscription,
                        "ack_ids": [m.ack_id for m in answer.received_messages],
                    }
                )
            if len(received) >= expected:
                break
        return received


@contextmanager
def open_channel() -> Iterator[Channel]:
    """A new topic and subscription (PUBSUB_EMULATOR_HOST must be set)."""
    name = f"job-ends-{uuid.uuid4().hex[:8]}"
    topic = f"projects/{PROJECT}/topics/{name}"
    subscription = f"projects/{PROJECT}/subscriptions/{name}-sub"
    PublisherClient().create_topic(request={"name": topic})
    with SubscriberClient() as subscriber:
        subscriber.create_subscription(request={"name": subscription, "topic": topic})
        yield Channel(topic, subscription, subscriber)
