"""The composition root: builds settings, the adapters and the use-case context once per
instance, lazily.

Settings are validated eagerly (main.py calls settings() at import), so a bad variable stops
the cold start with a message naming it; clients are built on first use, so importing the
module never touches the network. Tests and benches that wrap the adapters (fault
injection, operation counting) pass their own wrap function to build_context.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from registration.clock import utc_now
from registration.config import Settings, load_settings
from registration.domain.lifecycle import Policy
from registration.exceptions import ConfigurationError
from registration.services.ports import (
    Backends,
    Context,
    EncordCalls,
    JobNotifications,
    LegacyLayout,
)
from registration.services.threshold import ThresholdGate

LOCAL_PROJECT = "local-project"

BackendsWrapper = Callable[[Backends], Backends]

_lock = threading.Lock()
_settings: Settings | None = None
_context: Context | None = None
_gate = ThresholdGate()
_wrapper: BackendsWrapper | None = None


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def startup() -> Settings:
    """Cold-start checks: every REGISTRATION_* variable, and the Encord key when a target
    is set; a problem stops the instance with an error naming the variable."""
    config = settings()
    if config.encord_target is not None:
        _require_encord_key()
    return config


def _require_encord_key() -> None:
    if not (os.environ.get("ENCORD_SSH_KEY") or os.environ.get("ENCORD_SSH_KEY_FILE")):
        raise ConfigurationError(
            "ENCORD_SSH_KEY",
            "required when REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET is set "
            "(mount it from Secret Manager)",
        )


def _project() -> str | None:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    if project:
        return project
    emulated = os.environ.get("FIRESTORE_EMULATOR_HOST") or os.environ.get("STORAGE_EMULATOR_HOST")
    return LOCAL_PROJECT if emulated else None  # None: let the client library discover it


def build_backends(config: Settings | None = None) -> Backends:
    # Imported here so that the pure core, the CLI's --help and the unit tests never pay
    # for (or need) the Google client libraries.
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from registration.adapters.firestore.batches import FirestoreBatches
    from registration.adapters.firestore.buffers import FirestoreBuffers
    from registration.adapters.firestore.checkpoints import FirestoreCheckpoints
    from registration.adapters.firestore.documents import Documents
    from registration.adapters.firestore.records import FirestoreObjectRecords
    from registration.adapters.firestore.rejections import (
        FirestoreRejections,
        FirestoreRejectionSummaries,
    )
    from registration.adapters.firestore.submissions import FirestoreSubmissions
    from registration.adapters.gcs import CloudStorage

    config = config or settings()
    project = _project()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        storage_client = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
    else:
        storage_client = storage.Client(project=project)
    documents = Documents(firestore.Client(project=project))
    policy = policy_of(config)
    records = FirestoreObjectRecords(documents, policy)
    batches = FirestoreBatches(documents, submits=config.encord_target is not None)
    bucket = CloudStorage(storage_client)
    encord = _encord(config)
    return Backends(
        encord_items=encord,
        deletes=encord if config.encord_folder else None,
        links=encord if config.encord_datasets else None,
        notifications=_notifications(config, project),
        outcomes=records,
        follow_ups=records,
        policy=policy,
        records=records,
        bulk=records,
        batches=batches,
        submissions=FirestoreSubmissions(documents),
        buffers=FirestoreBuffers(documents),
        rejections=FirestoreRejections(documents),
        summaries=FirestoreRejectionSummaries(documents),
        checkpoints=FirestoreCheckpoints(documents),
        source=bucket,
        manifests=bucket,
        encord=encord,
    )


def policy_of(config: Settings) -> Policy:
    """REGISTRATION_ENCORD_ON_DELETE / ON_OVERWRITE as the decision table takes them."""
    return Policy(
        delete=config.encord_on_delete == "delete",
        replace=config.encord_on_overwrite == "replace",
    )


def build_legacy_layout() -> LegacyLayout:
    """The documents of the layout before the redesign (`python -m registration migrate`)."""
    from google.cloud import firestore

    from registration.adapters.firestore.documents import Documents
    from registration.adapters.firestore.legacy import FirestoreLegacyLayout

    return FirestoreLegacyLayout(Documents(firestore.Client(project=_project())))


def _notifications(config: Settings, project: str | None) -> JobNotifications | None:
    """The Pub/Sub publisher when REGISTRATION_NOTIFY_TOPIC is set."""
    if not config.notify_topic:
        return None
    from registration.adapters.pubsub import PubSubNotifications

    if project is None:
        import google.auth

        project = google.auth.default()[1]  # the function's own project, as the clients find it
    path = config.notify_topic_path(project or "")
    assert path is not None  # notify_topic is set
    return PubSubNotifications(path)


def _encord(config: Settings) -> EncordCalls | None:
    """The Encord gateway when a target is configured. The SDK reads its key from
    ENCORD_SSH_KEY (a Secret Manager secret in production); a missing key stops the cold
    start here, naming the variable, rather than failing every submission later."""
    if config.encord_target is None:
        return None
    _require_encord_key()
    from registration.adapters.encord_gateway import EncordGateway

    assert config.encord_integration is not None  # the settings check guarantees it
    return EncordGateway(
        integration=config.encord_integration,
        folder=config.encord_folder,
        dataset=config.encord_dataset,
        domain=config.encord_domain,
        ignore_errors=config.encord_ignore_errors,
        request_timeout_seconds=config.encord_timeout_seconds,
    )


def build_context(config: Settings | None = None, wrap: BackendsWrapper | None = None) -> Context:
    config = config or settings()
    backends = build_backends(config)
    if wrap is not None:
        backends = wrap(backends)
    return Context(settings=config, backends=backends, clock=utc_now)


def install_wrapper(wrap: BackendsWrapper) -> None:
    """Make this instance's context wrap its adapters (fault injection, counting)."""
    global _context, _wrapper
    with _lock:
        _context = None
        _wrapper = wrap


def context() -> Context:
    global _context
    if _context is None:
        built = build_context(wrap=_wrapper)
        with _lock:
            if _context is None:
                _context = built
    assert _context is not None
    return _context


def gate() -> ThresholdGate:
    """This instance's memory of which threshold checks it may skip."""
    return _gate
