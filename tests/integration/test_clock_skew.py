"""Clock skew: leases and claims are judged by Firestore's clock, not the instance's.

Two instances share one buffer on the emulators. The holder runs on the real clock; the
other one's clock (its Context clock, which stamps everything the use cases decide by
"now") runs five minutes fast or five minutes slow.

Why these would fail on the old code: the lease document stored `leased_at` from the
instance's clock and `claimed_at` likewise, and staleness was `clock() - leased_at >=
lease_seconds` (and `clock() - claimed_at` for a claimed batch), computed with the clock of
whoever looked. An instance five minutes fast therefore saw every live lease and claim as
300 s old: it stole the holder's lease (flush -> ACQUIRED instead of HELD) and its sweep
finished a claimed batch that its writer was still writing. An instance five minutes slow
saw a dead lease as -300 s old, so it left the dead lease and the abandoned claimed batch
alone for five minutes more than the lease, and the objects waited. Now idleness is
`snapshot.read_time - snapshot.update_time`, both Firestore's, so no instance clock enters.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import google.cloud.storage as storage
import pytest
from google.auth.credentials import AnonymousCredentials

from devstack.stack import PROJECT, Stack
from registration.bootstrap import build_backends
from registration.clock import Clock, utc_now
from registration.config import Settings
from registration.domain.model import (
    BatchState,
    BufferRef,
    LeaseOutcome,
    ManifestKey,
    StorageObject,
)
from registration.manifest.urls import parse_object_url
from registration.services.ports import Context
from tests.support.app import App, app_on_emulators
from tests.support.faults import FaultPlan, InjectedFaultError, with_faults

BATCH = 3
SKEW = timedelta(minutes=5)
LIVE_LEASE_SECONDS = 60  # far shorter than the skew: the old check would call it dead
DEAD_LEASE_SECONDS = 1


def skewed(offset: timedelta) -> Clock:
    return lambda: utc_now() + offset


def settings(lease_seconds: int) -> Settings:
    # max_age 1 s: every sweep wants to flush the buffer by age, so only the lease stops it.
    return Settings(batch_images=BATCH, max_age_seconds=1, lease_seconds=lease_seconds)


def manifest_names(bucket: str) -> list[str]:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    names: list[str] = []
    for blob in client.list_blobs(bucket, prefix="encord-manifests/"):
        items = json.loads(blob.download_as_bytes())["images"]
        names.extend(parse_object_url(item["objectUrl"])[1] for item in items)
    return names


def holder_that_dies_after_claim(lease_seconds: int) -> App:
    """The real-clock instance; its flush claims a batch and then dies before writing."""
    plan = FaultPlan("flush.after_claim=raise")
    return App(Context(settings(lease_seconds), with_faults(build_backends(), plan), utc_now))


def pending_objects(app: App, bucket: str, count: int) -> tuple[BufferRef, list[StorageObject]]:
    objects = [StorageObject(bucket, f"skew/img_{i}.jpg", 1, size=1) for i in range(count)]
    for obj in objects:
        app.register(obj)
    return BufferRef(bucket, "skew", ManifestKey.IMAGES), objects


def test_a_fast_instance_neither_steals_a_live_lease_nor_flushes_past_it(
    emulators: Stack, bucket: str
) -> None:
    holder = app_on_emulators(settings(LIVE_LEASE_SECONDS))
    fast = app_on_emulators(settings(LIVE_LEASE_SECONDS), clock=skewed(SKEW))
    buffer, objects = pending_objects(holder, bucket, BATCH - 1)  # not full: nothing flushed
    seq = holder.store.batches.next_seq(buffer)
    assert holder.store.batches.acquire_lease(buffer, seq, LIVE_LEASE_SECONDS) is (
        LeaseOutcome.ACQUIRED
    )

    # Directly, through a flush, and through the sweep (which wants an age flush: by the fast
    # clock the oldest pending object is five minutes old).
    assert fast.store.batches.acquire_lease(buffer, seq, LIVE_LEASE_SECONDS) is LeaseOutcome.HELD
    assert fast.flush(buffer, full_only=False).manifests == []
    report = fast.sweep()
    assert report.errors == [] and report.manifests_written == []
    assert report.batches_completed == []

    lease = fast.store.batches.get(buffer, seq)
    assert lease is not None and lease.state is BatchState.CLAIMING
    assert fast.store.records.count_pending(buffer) == len(objects)
    assert manifest_names(bucket) == []


def test_a_fast_instance_does_not_finish_a_live_claimed_batch_early(
    emulators: Stack, bucket: str
) -> None:
    holder = holder_that_dies_after_claim(LIVE_LEASE_SECONDS)
    fast = app_on_emulators(settings(LIVE_LEASE_SECONDS), clock=skewed(SKEW))
    buffer, objects = pending_objects(fast, bucket, BATCH - 1)
    with pytest.raises(InjectedFaultError):
        holder.flush(buffer, full_only=False)  # claims, then "is still writing"
    [claimed] = holder.store.batches.unfinished(buffer)
    assert claimed.state is BatchState.CLAIMED

    report = fast.sweep()
    assert report.errors == [] and report.batches_completed == []
    assert report.manifests_written == []
    assert fast.flush(buffer, full_only=False).completed == []
    again = fast.store.batches.get(buffer, claimed.seq)
    assert again is not None and again.state is BatchState.CLAIMED
    assert not again.abandoned(LIVE_LEASE_SECONDS)
    assert manifest_names(bucket) == []
    # The writer comes back (or is redelivered) and finishes it itself, exactly once.
    assert holder.finish(again)
    assert sorted(manifest_names(bucket)) == sorted(obj.name for obj in objects)


def test_a_slow_instance_takes_over_a_dead_lease_once_it_expired_in_server_time(
    emulators: Stack, bucket: str
) -> None:
    holder = app_on_emulators(settings(DEAD_LEASE_SECONDS))
    slow = app_on_emulators(settings(DEAD_LEASE_SECONDS), clock=skewed(-SKEW))
    buffer, objects = pending_objects(holder, bucket, BATCH - 1)
    seq = holder.store.batches.next_seq(buffer)
    assert holder.store.batches.acquire_lease(buffer, seq, DEAD_LEASE_SECONDS) is (
        LeaseOutcome.ACQUIRED
    )  # ... and the holder dies here
    assert slow.flush(buffer, full_only=False).manifests == []  # still live: held
    time.sleep(DEAD_LEASE_SECONDS + 0.5)

    report = slow.flush(buffer, full_only=False)
    assert len(report.manifests) == 1
    assert sorted(manifest_names(bucket)) == sorted(obj.name for obj in objects)
    assert slow.store.records.count_pending(buffer) == 0
    assert slow.store.batches.unfinished(buffer) == []


def test_a_slow_instance_finishes_an_abandoned_claimed_batch_once_the_lease_passed(
    emulators: Stack, bucket: str
) -> None:
    holder = holder_that_dies_after_claim(DEAD_LEASE_SECONDS)
    slow = app_on_emulators(settings(DEAD_LEASE_SECONDS), clock=skewed(-SKEW))
    buffer, objects = pending_objects(holder, bucket, BATCH - 1)
    with pytest.raises(InjectedFaultError):  # the holder dies between claim and write
        holder.flush(buffer, full_only=False)
    [claimed] = holder.store.batches.unfinished(buffer)
    assert slow.sweep().batches_completed == []  # not yet a lease old
    time.sleep(DEAD_LEASE_SECONDS + 0.5)

    report = slow.sweep()
    assert report.errors == []
    assert report.batches_completed == [claimed.manifest_path]
    assert sorted(manifest_names(bucket)) == sorted(obj.name for obj in objects)
    assert slow.store.batches.unfinished(buffer) == []
    assert slow.sweep().batches_completed == []  # finished once
