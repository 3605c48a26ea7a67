"""What the in-memory fake does differently from Firestore, each difference as listed in
tests/support/memory.py's docstring, pinned here so that the list stays true."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.model import BufferRef, LeaseOutcome, ManifestKey, StorageObject
from tests.contract.conftest import BUFFER, NOW, image
from tests.support.clock import FakeClock
from tests.support.memory import MemoryStore


def fake() -> tuple[MemoryStore, FakeClock]:
    clock = FakeClock(NOW)
    store = MemoryStore(clock=clock)
    store.ensure(BUFFER, NOW)
    return store, clock


def test_the_fake_finds_a_pending_record_in_a_buffer_that_nobody_marked_open() -> None:
    # Firestore's skip scan reads the buffers marked open (FirestoreBuffers.ensure); the fake
    # finds every buffer with a record after its cursor, ensured or not.
    store, _ = fake()
    unmarked = BufferRef("bkt", "site-b", ManifestKey.IMAGES)
    store.add_pending(unmarked, StorageObject("bkt", "site-b/f.jpg", 1), NOW)
    assert [item.buffer for item in store.pending_buffers(None, 10)] == [unmarked]


def test_the_fakes_idle_time_follows_its_clock_so_a_lease_passes_without_waiting() -> None:
    store, clock = fake()
    assert store.acquire_lease(BUFFER, 1, 3600) is LeaseOutcome.ACQUIRED
    clock.advance(3599)
    assert store.acquire_lease(BUFFER, 1, 3600) is LeaseOutcome.HELD
    clock.advance(1)
    assert store.acquire_lease(BUFFER, 1, 3600) is LeaseOutcome.ACQUIRED


def test_the_fake_only_stores_expire_at_until_a_test_runs_its_ttl_policy() -> None:
    store, clock = fake()
    store.withdraw(BUFFER, image(1), NOW, NOW + timedelta(days=1))
    clock.advance(2 * 24 * 3600)
    assert store.expire_at_of("bkt", image(1).name) == NOW + timedelta(days=1)  # still there
    assert store.run_ttl(clock()) == 1
    assert store.expire_at_of("bkt", image(1).name) is None
    assert store.object_records([("bkt", image(1).name)]) == [None]
