"""An object whose record Firestore refuses as invalid is rejected with its reason, and
never fails its event for ever nor a whole backfill page (real emulators).

No object name or metadata that Cloud Storage accepts makes Firestore refuse a record any
more (metadata is stored as one JSON string), so the refusal is injected: a wrapper of the
Firestore client's commit answers InvalidArgument for writes that carry one poisoned name,
as Firestore would for a value it cannot store.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import google.cloud.storage as storage
import pytest
from google.api_core.exceptions import InvalidArgument
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from devstack.stack import PROJECT, Stack
from registration.adapters.firestore.documents import Documents
from registration.adapters.firestore.records import FirestoreObjectRecords
from registration.bootstrap import build_backends
from registration.config import Settings
from registration.domain.lifecycle import FinalizeAction
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.services.backfill import backfill
from registration.services.intake import register
from registration.services.ports import Context
from registration.services.threshold import ThresholdGate
from tests.support.clock import FakeClock

POISON = "drop/poisoned.jpg"


class RefusingWrites:
    """Wraps a Firestore client: a write of the poisoned name fails as invalid, alone or in
    a commit of many, as Firestore answers for a value it cannot store."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch(self) -> Any:
        return _RefusingBatch(self._client.batch())

    def collection(self, *path: str) -> Any:
        return _RefusingCollection(self._client.collection(*path))


class _RefusingCollection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def document(self, *path: str) -> Any:
        return _RefusingRef(self._collection.document(*path))


class _RefusingRef:
    def __init__(self, ref: Any) -> None:
        self._ref = ref

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ref, name)

    def create(self, fields: dict[str, Any]) -> Any:
        if fields.get("name") == POISON:
            raise InvalidArgument("a value in this document cannot be stored")
        return self._ref.create(fields)


class _RefusingBatch:
    def __init__(self, batch: Any) -> None:
        self._batch = batch
        self._poisoned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def create(self, ref: Any, fields: dict[str, Any]) -> Any:
        self._poisoned |= fields.get("name") == POISON
        return self._batch.create(getattr(ref, "_ref", ref), fields)

    def commit(self) -> Any:
        if self._poisoned:
            raise InvalidArgument("a value in this document cannot be stored")
        return self._batch.commit()


def refusing_context() -> Context:
    """The real adapters, but object records go through a client that refuses the poison."""
    backends = build_backends(Settings())
    client: Any = RefusingWrites(firestore.Client(project=PROJECT))
    documents = Documents(client)
    records = FirestoreObjectRecords(documents)
    wrapped = dataclasses.replace(backends, records=records, bulk=records)
    return Context(Settings(batch_images=1000), wrapped, FakeClock())


@pytest.fixture
def seeded(emulators: Stack, bucket: str) -> str:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    for name in ("drop/a.jpg", POISON, "drop/b.jpg"):
        client.bucket(bucket).blob(name).upload_from_string(b"x", content_type="image/jpeg")
    return bucket


def test_an_event_whose_record_is_refused_is_rejected_and_acknowledged(
    seeded: str,
) -> None:
    ctx = refusing_context()
    action = register(ctx, StorageObject(seeded, POISON, 1, size=1), ThresholdGate())
    assert action is FinalizeAction.REFUSED
    [record] = ctx.backends.rejections.of_object(seeded, POISON)
    assert record.reason == "record_refused" and "cannot be stored" in record.detail


def test_a_backfill_isolates_the_refused_object_and_registers_the_rest_of_its_page(
    seeded: str,
) -> None:
    ctx = refusing_context()
    report = backfill(ctx, seeded, "drop/")
    assert report.finished
    assert report.actions == {"buffer": 2, "refused": 1}
    assert report.rejected == {"record_refused": 1}
    buffer = BufferRef(seeded, "drop", ManifestKey.IMAGES)
    assert ctx.backends.records.count_pending(buffer) == 2
