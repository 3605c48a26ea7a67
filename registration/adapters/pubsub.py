"""Job notifications through the official Pub/Sub client: the only module that imports
google.cloud.pubsub.

It publishes what domain/notification.py built and decides nothing about its content. The
client honours PUBSUB_EMULATOR_HOST (the local stack's emulator). Publishing waits for the
server's acknowledgement, so a message id returned here is stored by Pub/Sub; a publish that
times out may still have been stored, which is why consumers deduplicate by job_id.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeoutError

from google.api_core import exceptions as api_errors
from google.api_core import retry as api_retry
from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.pubsub_v1.types import BatchSettings

from registration.domain.notification import JobNotification
from registration.exceptions import BackendUnavailableError, NotificationRefusedError

# Errors retrying cannot fix: a missing topic, no publish right, a message Pub/Sub rejects.
_REFUSALS: tuple[type[Exception], ...] = (
    api_errors.NotFound,
    api_errors.PermissionDenied,
    api_errors.Unauthenticated,
    api_errors.InvalidArgument,
    api_errors.FailedPrecondition,
)


class PubSubNotifications:
    """Publishes each finished job's message to one topic (`projects/P/topics/T`)."""

    def __init__(
        self,
        topic_path: str,
        *,
        timeout_seconds: float = 30.0,
        publisher: PublisherClient | None = None,
    ) -> None:
        if not topic_path.startswith("projects/") or "/topics/" not in topic_path:
            raise ValueError(f"not a full topic name: {topic_path!r}")
        self._topic = topic_path
        self._timeout = timeout_seconds
        # One message per call, sent at once: a function instance publishes rarely and must
        # not hold a message back in a batch that an idle instance may never flush.
        self._client = publisher or PublisherClient(
            batch_settings=BatchSettings(max_messages=1, max_latency=0.0)
        )
        # The client's own retry of transient errors, bounded by our timeout.
        self._retry = api_retry.Retry(initial=0.25, maximum=5.0, timeout=timeout_seconds)

    @property
    def topic(self) -> str:
        return self._topic

    def publish(self, notification: JobNotification) -> str:
        """Publish one message and wait for Pub/Sub to store it; returns its message id.

        Raises NotificationRefusedError (never retry as is) or BackendUnavailableError.
        """
        job = notification.attributes.get("job_id", "?")
        try:
            future = self._client.publish(
                self._topic,
                notification.data,
                retry=self._retry,
                timeout=self._timeout,
                **dict(notification.attributes),
            )
            message_id: str = future.result(timeout=self._timeout)
        except _REFUSALS as error:
            raise NotificationRefusedError(
                self._topic, f"{type(error).__name__}: {error}"
            ) from error
        except (api_errors.GoogleAPICallError, api_errors.RetryError, FutureTimeoutError) as error:
            raise BackendUnavailableError(
                "Pub/Sub", f"publishing job {job}'s notification to {self._topic}", error
            ) from error
        return message_id
