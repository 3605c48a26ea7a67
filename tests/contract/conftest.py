"""One store contract, two stores: every test here runs against the Firestore adapters (on
the emulator) and against the in-memory fake (tests/support/memory.py), so the fake the
unit tests trust is checked against the real thing, behaviour by behaviour.

A Store handle gives the store ports and one way to let time pass for leases: the fake's
idle time follows its FakeClock, Firestore's follows its own server clock (so the handle
sleeps). Leases here are one second long for that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from registration.domain.lifecycle import REPORT, Policy
from registration.domain.model import BufferRef, ClaimedBatch, ManifestKey, StorageObject
from registration.services.ports import (
    Batches,
    BufferCatalog,
    BulkRecords,
    Checkpoints,
    FollowUps,
    JobOutcomes,
    ObjectRecords,
    Rejections,
    Submissions,
)
from tests.support.clock import FakeClock
from tests.support.memory import MemoryStore

BUFFER = BufferRef("bkt", "site-a/cam 1", ManifestKey.IMAGES)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
LEASE = 1


@dataclass
class Store:
    kind: str
    records: ObjectRecords
    bulk: BulkRecords
    batches: Batches
    submissions: Submissions
    buffers: BufferCatalog
    checkpoints: Checkpoints
    rejections: Rejections
    pass_time: Callable[[float], None]
    # Whatever the test needs to read beneath the ports (the fake, or Firestore's client).
    raw: object
    outcomes: JobOutcomes | None = None
    follow_ups: FollowUps | None = None

    def claim(self, seq: int, limit: int, minimum: int = 1) -> ClaimedBatch | None:
        return self.batches.claim(
            BUFFER,
            seq,
            limit=limit,
            minimum=minimum,
            now=NOW,
            manifest_bucket="bkt",
            manifest_path=f"m/{seq}.json",
        )


def image(index: int, generation: int = 1) -> StorageObject:
    return StorageObject("bkt", f"site-a/cam 1/f{index:04d}.jpg", generation, size=10)


def _memory(submits: bool, policy: Policy) -> Store:
    clock = FakeClock(NOW)
    fake = MemoryStore(clock=clock, submits=submits, policy=policy)
    return Store(
        "memory", fake, fake, fake, fake, fake, fake, fake, clock.advance, fake, fake, fake
    )


def _firestore(request: pytest.FixtureRequest, submits: bool, policy: Policy) -> Store:
    request.getfixturevalue("emulators")
    from google.cloud import firestore

    from registration.adapters.firestore.batches import FirestoreBatches
    from registration.adapters.firestore.buffers import FirestoreBuffers
    from registration.adapters.firestore.checkpoints import FirestoreCheckpoints
    from registration.adapters.firestore.documents import Documents
    from registration.adapters.firestore.records import FirestoreObjectRecords
    from registration.adapters.firestore.rejections import FirestoreRejections
    from registration.adapters.firestore.submissions import FirestoreSubmissions

    documents = Documents(firestore.Client(project="local-project"))
    records = FirestoreObjectRecords(documents, policy)
    return Store(
        "firestore",
        records,
        records,
        FirestoreBatches(documents, submits=submits),
        FirestoreSubmissions(documents),
        FirestoreBuffers(documents),
        FirestoreCheckpoints(documents),
        FirestoreRejections(documents),
        time.sleep,  # Firestore's own clock decides idleness
        documents,
        records,
        records,
    )


STORES = ["memory", pytest.param("firestore", marks=pytest.mark.emulators)]


def make_store(request: pytest.FixtureRequest, submits: bool, policy: Policy = REPORT) -> Store:
    if request.param == "memory":
        store = _memory(submits, policy)
    else:
        store = _firestore(request, submits, policy)
    store.buffers.ensure(BUFFER, NOW)
    return store


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    """A store whose written batches need no submission (no Encord target)."""
    return make_store(request, submits=False)


@pytest.fixture(params=STORES)
def submitting_store(request: pytest.FixtureRequest) -> Store:
    """A store whose written batches await their Encord submission."""
    return make_store(request, submits=True)


@pytest.fixture(params=STORES)
def following_store(request: pytest.FixtureRequest) -> Store:
    """A submitting store whose records carry deletes and overwrites over to Encord
    (REGISTRATION_ENCORD_ON_DELETE=delete, ON_OVERWRITE=replace)."""
    return make_store(request, submits=True, policy=Policy(delete=True, replace=True))


def expire_at_of(store: Store, obj: StorageObject) -> datetime | None:
    """The TTL field on an object's record, read beneath the ports."""
    if isinstance(store.raw, MemoryStore):
        return store.raw.expire_at_of(obj.bucket, obj.name)
    snapshot = store.raw.object(obj.bucket, obj.name).get()  # type: ignore[attr-defined]
    value = (snapshot.to_dict() or {}).get("expire_at") if snapshot.exists else None
    return None if value is None else datetime.fromtimestamp(value.timestamp(), UTC)
