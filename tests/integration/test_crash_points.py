"""Dying at any fault point loses nothing and registers nothing twice (real emulators).

Each test arms one point, drives the service until that point fires (the request dies there:
nothing after it runs, exactly as if the instance were killed), disarms it, redelivers every
event as the platform would, and lets the sweep finish. The manifests alone must then hold
every object exactly once, in batches no larger than the batch size.
"""

from __future__ import annotations

import json
import time

import google.cloud.storage as storage
import pytest
from google.auth.credentials import AnonymousCredentials

from devstack.stack import PROJECT, Stack
from registration.bootstrap import build_backends
from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.manifest.urls import parse_object_url
from registration.services.ports import Context
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.faults import POINTS, FaultPlan, InjectedFaultError, with_faults

BATCH = 3
# Leases are judged by Firestore's clock, so the test waits this long in real time.
LEASE_SECONDS = 1


def manifest_names(client: storage.Client, bucket: str) -> tuple[list[str], list[int]]:
    names: list[str] = []
    sizes: list[int] = []
    for blob in client.list_blobs(bucket, prefix="encord-manifests/"):
        items = json.loads(blob.download_as_bytes())["images"]
        sizes.append(len(items))
        names.extend(parse_object_url(item["objectUrl"])[1] for item in items)
    return names, sizes


@pytest.mark.parametrize("point", list(POINTS))
def test_dying_at_a_fault_point_loses_nothing_and_registers_nothing_twice(
    point: str, emulators: Stack, bucket: str
) -> None:
    gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    clock = FakeClock()
    settings = Settings(batch_images=BATCH, max_age_seconds=60, lease_seconds=LEASE_SECONDS)
    plan = FaultPlan()
    service = App(Context(settings, with_faults(build_backends(), plan), clock))
    objects = [StorageObject(bucket, f"crash/f{i}.jpg", 1, size=1) for i in range(BATCH + 1)]
    buffer = BufferRef(bucket, "crash", ManifestKey.IMAGES)
    plan.configure(f"{point}=raise")
    fired = []

    def attempt(step: str, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except InjectedFaultError as error:
            fired.append((step, error.point))
            plan.configure("")  # the instance died; the next one is healthy

    for obj in objects:
        attempt(f"register {obj.name}", lambda obj=obj: service.register(obj))
        clock.advance(1)
    # With one object pending, a threshold flush finds too little and releases its lease.
    attempt("flush", lambda: service.flush(buffer, full_only=True))
    assert fired, f"{point} never fired: the scenario does not reach it"

    # At-least-once delivery: every event comes again, then the sweep runs after the lease
    # and max age have run out, twice, as Cloud Scheduler would.
    for obj in objects:
        service.register(obj)
    clock.advance(120)
    time.sleep(LEASE_SECONDS + 0.5)
    first = service.sweep()
    second = service.sweep()
    assert first.errors == [] and second.errors == []
    assert second.manifests_written == [] and second.batches_completed == []

    names, sizes = manifest_names(gcs, bucket)
    assert sorted(names) == sorted(obj.name for obj in objects)
    assert all(size <= BATCH for size in sizes)
    assert service.store.records.count_pending(buffer) == 0
    assert service.store.batches.unfinished(buffer) == []
