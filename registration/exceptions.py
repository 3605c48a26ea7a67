"""The package's errors. main.py maps them to 'drop' (log, 2xx) or 'retry' (raise, 5xx)."""

from __future__ import annotations


class RegistrationError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigurationError(RegistrationError):
    """A REGISTRATION_* variable is invalid. Raised at start-up; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class MalformedEventError(RegistrationError):
    """The event cannot be understood. Retrying would not help, so it is logged and dropped."""

    def __init__(self, event_id: str | None, problem: str) -> None:
        self.event_id = event_id
        self.problem = problem
        super().__init__(f"event {event_id or '<no id>'}: {problem}")


class ManifestValidationError(RegistrationError):
    """A manifest would break one of Encord's limits."""

    def __init__(self, manifest: str, problem: str) -> None:
        self.manifest = manifest
        self.problem = problem
        super().__init__(f"manifest {manifest}: {problem}")


class BackendUnavailableError(RegistrationError):
    """Firestore or Cloud Storage failed transiently; the platform should retry the event."""

    def __init__(self, backend: str, operation: str, cause: Exception | None = None) -> None:
        self.backend = backend
        self.operation = operation
        super().__init__(f"{backend} failed during {operation}: {cause!r}")


class EncordRateLimitedError(RegistrationError):
    """Encord answered 429: nothing was created; retry after `retry_after_seconds` if given."""

    def __init__(self, subject: str, retry_after_seconds: int | None = None) -> None:
        self.subject = subject
        self.retry_after_seconds = retry_after_seconds
        wait = f"; retry after {retry_after_seconds} s" if retry_after_seconds else ""
        super().__init__(f"{subject}: rate limited by Encord{wait}")


class EncordUnavailableError(RegistrationError):
    """Encord failed transiently (5xx, timeout, lost connection); a later attempt may succeed.

    `job_may_exist` is True when a start request reached Encord but its answer did not come back:
    the job may have been created, and only resubmitting with `skip_duplicate_urls` is safe.
    """

    def __init__(self, subject: str, cause: BaseException | None, job_may_exist: bool) -> None:
        self.subject = subject
        self.job_may_exist = job_may_exist
        maybe = "; the job may have been created" if job_may_exist else ""
        super().__init__(f"{subject}: Encord unavailable ({cause!r}){maybe}")


class EncordRefusedError(RegistrationError):
    """Encord refused the request for a reason that retrying cannot fix (bad key, no access,
    unknown folder, dataset, integration or job, payload too large, invalid manifest)."""

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject}: refused by Encord: {problem}")


class RecordRefusedError(RegistrationError):
    """Firestore refused an object's record as invalid (not a transient failure): retrying
    the same object can never succeed, so it is rejected with this reason instead."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"record of {name!r} refused by Firestore: {problem}")


class NotificationRefusedError(RegistrationError):
    """Pub/Sub refused a job notification for a reason retrying cannot fix: the topic does not
    exist, the runtime account may not publish to it, or the message is invalid."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"topic {topic}: notification refused by Pub/Sub: {problem}")
