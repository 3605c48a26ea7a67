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
