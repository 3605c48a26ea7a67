"""What the in-memory fake does differently from Firestore, each difference as listed in
tests/support/memory.py's docstring, pinned here so that the list stays true."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.model import LeaseOutcome, StorageObject
from tests.contract.conftest import BUFFER, LEASE, NOW, image
from tests.support.clock import FakeClock
from tests.support.memory import MemoryStore


def fake() -> tuple[MemoryStore, FakeClock]:
    clock = FakeClock(NOW)
    store = MemoryStore(clock=clock)
    store.ensure(BUFFER, NOW)
    return store, clock


def test_the_fake_breaks_created_at_ties_by_name_where_firestore_uses_the_document_id() -> None:
    store, _ = fake()
    names = ["site-a/cam 1/zz.jpg", "site-a/cam 1/aa.jpg", "site-a/cam 1/mm.jpg"]
    for name in names:
        store.add_pending(BUFFER, StorageObject("bkt", name, 1), NOW)
    store.acquire_lease(BUFFER, 1, LEASE)
    claimed = store.claim(
        BUFFER, 1, limit=2, minimum=1, now=NOW, manifest_bucket="bkt", manifest_path="m/1.json"
    )
    assert claimed is not None
    assert [obj.name for obj in claimed.members] == sorted(names)[:2]


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
