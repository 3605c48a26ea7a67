"""The sweep finds each kind of due work among thousands of idle buffers (real emulators),
and a sweep cut short by its budget finishes the rest on the next run.

Idle buffers are seeded straight into Firestore as a bucket that has aged looks: a buffer
document, a written batch and its registered object records, nothing pending. The sweep
must not visit them: `buffers_checked` counts only the buffers it acted on or examined.
"""

from __future__ import annotations

import itertools
import json
import time

import google.cloud.storage as storage
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from devstack.stack import PROJECT, Stack
from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.manifest.urls import parse_object_url
from registration.services.sweep import sweep
from tests.support.app import App, app_on_emulators
from tests.support.clock import FakeClock
from tests.support.seeding import seed_idle_buffers

IDLE_BUFFERS = 2_000
BATCH = 5
MAX_AGE = 600
QUIET = 300
LEASE_SECONDS = 1


def manifest_names(bucket: str) -> dict[str, list[str]]:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    found: dict[str, list[str]] = {}
    for blob in client.list_blobs(bucket, prefix="encord-manifests/"):
        document = json.loads(blob.download_as_bytes())
        key = next(k for k in document if k != "skip_duplicate_urls")
        urls = [
            url
            for item in document[key]
            for field, url in item.items()
            if field == "objectUrl" or field.startswith("objectUrl_")
        ]
        found[blob.name] = sorted(parse_object_url(url)[1] for url in urls)
    return found


@pytest.fixture
def app(emulators: Stack, bucket: str) -> App:
    seed_idle_buffers(firestore.Client(project=PROJECT), bucket, IDLE_BUFFERS)
    settings = Settings(
        batch_images=BATCH,
        max_age_seconds=MAX_AGE,
        group_quiet_seconds=QUIET,
        lease_seconds=LEASE_SECONDS,
        image_group_prefixes=("groups/",),
    )
    return app_on_emulators(settings, FakeClock())


def test_an_idle_bucket_of_thousands_of_buffers_costs_the_sweep_no_buffer_visit(
    app: App, bucket: str
) -> None:
    report = app.sweep()
    assert report.errors == []
    assert report.buffers_checked == 0
    assert report.manifests_written == [] and report.batches_completed == []
    assert not report.work_remaining


def test_each_kind_of_due_work_is_found_among_thousands_of_idle_buffers(
    app: App, bucket: str
) -> None:
    clock = app.ctx.clock
    assert isinstance(clock, FakeClock)
    # Overdue: one image waits past the max age.
    app.register(StorageObject(bucket, "due/old/a.jpg", 1))
    # A group whose folder has gone quiet.
    for index in range(3):
        app.register(StorageObject(bucket, f"groups/scan-7/{index:03d}.jpg", 1))
    clock.advance(MAX_AGE + 1)
    # A full batch whose event never checked the threshold (records written directly).
    full = BufferRef(bucket, "due/full", ManifestKey.IMAGES)
    app.store.buffers.ensure(full, clock())
    for index in range(BATCH):
        app.store.records.add_pending(
            full, StorageObject(bucket, f"due/full/{index}.jpg", 1), clock()
        )
    # A batch whose writer died after claiming (found by Firestore's clock, a lease later).
    stuck = BufferRef(bucket, "due/stuck", ManifestKey.IMAGES)
    app.store.buffers.ensure(stuck, clock())
    for index in range(2):
        app.store.records.add_pending(
            stuck, StorageObject(bucket, f"due/stuck/{index}.jpg", 1), clock()
        )
    assert app.store.batches.acquire_lease(stuck, 1, LEASE_SECONDS).value == "acquired"
    claimed = app.store.batches.claim(
        stuck, 1, limit=BATCH, minimum=1, now=clock(), manifest_bucket=bucket,
        manifest_path="encord-manifests/due/stuck/images/000001-died.json",
    )  # fmt: skip
    assert claimed is not None
    time.sleep(LEASE_SECONDS + 0.5)

    report = app.sweep()

    assert report.errors == []
    assert report.batches_completed == ["encord-manifests/due/stuck/images/000001-died.json"]
    written = manifest_names(bucket)
    assert sorted(written.pop("encord-manifests/due/stuck/images/000001-died.json")) == [
        "due/stuck/0.jpg",
        "due/stuck/1.jpg",
    ]
    assert sorted(names for names in written.values()) == sorted(
        [
            ["due/old/a.jpg"],
            [f"due/full/{index}.jpg" for index in range(BATCH)],
            [f"groups/scan-7/{index:03d}.jpg" for index in range(3)],
        ]
    )
    # Only the buffers with pending work were examined, never the 2,000 idle ones.
    assert report.buffers_checked == 3
    assert report.overdue_buffers == 2  # the old image and the quiet group
    again = app.sweep()
    assert again.manifests_written == [] and again.batches_completed == []
    assert again.buffers_checked == 0


def test_a_sweep_cut_short_by_its_budget_finishes_the_rest_on_the_next_run_oldest_first(
    app: App, bucket: str
) -> None:
    clock = app.ctx.clock
    assert isinstance(clock, FakeClock)
    folders = [f"late/{index}" for index in range(4)]
    for folder in folders:  # the first folder's object is the oldest
        app.register(StorageObject(bucket, f"{folder}/a.jpg", 1))
        clock.advance(10)
    clock.advance(MAX_AGE)
    # A clock that runs out of the budget after two buffers (a tick per look at it).
    ticks = itertools.count()

    def monotonic() -> float:
        return float(next(ticks))

    budget = app.settings.sweep_budget_seconds
    first = sweep(app.ctx, monotonic=lambda: monotonic() * budget / 2.5)

    assert first.work_remaining
    done_first = {path.split("/")[2] for path in first.manifests_written}
    assert 0 < len(done_first) < len(folders)
    # Oldest due work first: whatever was written belongs to the oldest folders.
    assert done_first == {str(index) for index in range(len(done_first))}

    second = sweep(app.ctx)
    assert not second.work_remaining
    done = done_first | {path.split("/")[2] for path in second.manifests_written}
    assert done == {str(index) for index in range(len(folders))}
    assert sum(len(names) for names in manifest_names(bucket).values()) == len(folders)
