"""The floor: the least a durable, idempotent event handler can do (bench only).

One Firestore create() per finalize event, of a document keyed by bucket + name +
generation, with AlreadyExists (a redelivery) ignored. No classification, no buffer, no
count, no flush. `make bench` sends it the same load as on_storage_event to show what the
emulators, functions-framework and the sender cost on their own.

Served by bench/launcher.py as `functions-framework --source=bench/floor_main.py
--target=floor_event`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent
from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

COLLECTION = "floor_events"

_lock = threading.Lock()
_client: Any = None


def _firestore() -> Any:
    global _client
    with _lock:
        if _client is None:
            project = os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project")
            _client = firestore.Client(project=project)
        return _client


def document_id(bucket: str, name: str, generation: str) -> str:
    return hashlib.sha256(f"{bucket}\n{name}\n{generation}".encode()).hexdigest()[:40]


@functions_framework.cloud_event
def floor_event(event: CloudEvent) -> None:
    data: dict[str, Any] = event.get_data() or {}
    bucket, name, generation = str(data["bucket"]), str(data["name"]), str(data["generation"])
    ref = _firestore().collection(COLLECTION).document(document_id(bucket, name, generation))
    with contextlib.suppress(AlreadyExists):
        ref.create({"bucket": bucket, "name": name, "generation": generation})
