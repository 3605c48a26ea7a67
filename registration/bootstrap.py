"""The composition root: builds the real clients and the service once per instance, lazily.

Settings are validated eagerly (main.py calls settings() at import), so a bad variable stops
the cold start with a message naming it; clients are built on first use, so importing the
module never touches the network.
"""

from __future__ import annotations

import os
import threading

from registration.config import Settings, load_settings
from registration.service import RegistrationService

LOCAL_PROJECT = "local-project"

_lock = threading.Lock()
_settings: Settings | None = None
_service: RegistrationService | None = None


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def _project() -> str | None:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    if project:
        return project
    emulated = os.environ.get("FIRESTORE_EMULATOR_HOST") or os.environ.get("STORAGE_EMULATOR_HOST")
    return LOCAL_PROJECT if emulated else None  # None: let the client library discover it


def build_service(config: Settings | None = None) -> RegistrationService:
    # Imported here so that the pure core, the CLI's --help and the unit tests never pay
    # for (or need) the Google client libraries.
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from registration.adapters.firestore_store import FirestoreStore
    from registration.adapters.gcs_sink import GcsSink

    project = _project()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        storage_client = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
    else:
        storage_client = storage.Client(project=project)
    return RegistrationService(
        config or settings(),
        FirestoreStore(firestore.Client(project=project)),
        GcsSink(storage_client),
    )


def service() -> RegistrationService:
    global _service
    if _service is None:
        built = build_service()
        with _lock:
            if _service is None:
                _service = built
    assert _service is not None
    return _service


def reset() -> None:
    """Forget the cached settings and service (tests that change the environment)."""
    global _settings, _service
    with _lock:
        _settings = None
        _service = None
