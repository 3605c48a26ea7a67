"""Listings and stats that fail during backfill and reconcile (real emulators).

The source bucket's listing breaks off mid-iteration (ServiceUnavailable between two items),
a stat fails, and commits apply and then time out. Each run that dies is simply run again,
as an operator (or the scheduled job) would: a backfill resumes from its checkpoint and
registers every object exactly once; a reconcile whose repair died half-way finds the rest
on the next run and never undoes or doubles the half that was done.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import google.cloud.storage as storage
import pytest
from google.api_core.exceptions import DeadlineExceeded, GoogleAPICallError, ServiceUnavailable
from google.auth.credentials import AnonymousCredentials

from devstack.stack import PROJECT, Stack
from registration.bootstrap import build_backends
from registration.clock import utc_now
from registration.config import Settings
from registration.manifest.urls import parse_object_url
from registration.services.backfill import BackfillReport, backfill
from registration.services.ports import Context
from registration.services.reconcile import ReconcileReport, reconcile
from registration.services.sweep import sweep
from tests.support.faults import FaultPlan, with_faults

BATCH = 25
PREFIX = "bf/"
# Every run that dies is run again; this bounds the reruns so a livelock fails the test.
MAX_RUNS = 60

LISTING_FAULTS = (
    "source.list_objects=unavailable:0.04,"  # the listing breaks off before an item
    "source.list_objects=timeout_after:0.02,"  # ... or after one
    "bulk.add_pending_many=timeout_after:0.15,"  # a chunk's commit applied, then timed out
    "checkpoints.save=timeout_after:0.05"  # the checkpoint written, then timed out
)
RECONCILE_FAULTS = (
    "source.list_objects=unavailable:0.01,"
    # Every run stats each recorded object that is gone (15 here), so keep these low enough
    # for a run to get through.
    "source.stat=unavailable:0.06,"
    "source.stat=read_timeout_after:0.03,"
    "bulk.object_records=unavailable:0.05,"
    "bulk.add_pending_many=timeout_after:0.3,"  # the repair's registration half done
    "records.withdraw=timeout_after:0.2,"  # a replayed delete applied, then timed out
    "rejections.record_many=unavailable:0.2"
)
Failure = (GoogleAPICallError, OSError)  # ServiceUnavailable, DeadlineExceeded, ReadTimeout


def faulty_context(spec: str, seed: int) -> tuple[Context, FaultPlan]:
    plan = FaultPlan(spec, seed=seed)
    settings = Settings(batch_images=BATCH, max_age_seconds=1, lease_seconds=1)
    return Context(settings, with_faults(build_backends(), plan), utc_now), plan


def until_it_succeeds(run: Any) -> tuple[Any, int]:
    for failures in range(MAX_RUNS):
        try:
            return run(), failures
        except Failure:
            continue
    raise AssertionError(f"still failing after {MAX_RUNS} runs")


def upload(gcs: storage.Client, bucket: str, names: list[str]) -> None:
    for name in names:
        gcs.bucket(bucket).blob(name).upload_from_string(b"\xff\xd8", content_type="image/jpeg")


def registered(gcs: storage.Client, bucket: str) -> Counter[str]:
    names: Counter[str] = Counter()
    for blob in gcs.list_blobs(bucket, prefix="encord-manifests/"):
        for item in json.loads(blob.download_as_bytes())["images"]:
            names[parse_object_url(item["objectUrl"])[1]] += 1
    return names


def sweep_until_clean(ctx: Context) -> None:
    time.sleep(1.2)  # max age and lease (1 s) pass
    for _ in range(5):
        report = sweep(ctx)
        if report.errors == [] and report.manifests_written == [] == report.batches_completed:
            return
        time.sleep(1.2)
    raise AssertionError(f"the sweep did not converge: {report.as_dict()}")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_backfill_whose_listing_breaks_off_resumes_and_registers_each_object_once(
    seed: int, emulators: Stack, bucket: str
) -> None:
    gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    names = [f"{PREFIX}cam{index % 3}/img_{index:04d}.jpg" for index in range(160)]
    upload(gcs, bucket, names)
    ctx, plan = faulty_context(LISTING_FAULTS, seed)

    report, failures = until_it_succeeds(lambda: backfill(ctx, bucket, PREFIX, chunk_size=10))
    assert isinstance(report, BackfillReport) and report.finished
    assert failures >= 3, plan.counts()  # it did break off, more than once
    assert any(fired.startswith("source.list_objects") for fired in plan.fired)

    plan.configure("")
    sweep_until_clean(ctx)
    counts = registered(gcs, bucket)
    assert set(counts.values()) == {1}, "an object is in two manifests"
    assert sorted(counts) == sorted(names), "an object was lost"


def test_a_reconcile_whose_stats_and_repairs_fail_converges_without_loss_or_doubles(
    emulators: Stack, bucket: str
) -> None:
    gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    old = [f"{PREFIX}old/img_{index:04d}.jpg" for index in range(60)]
    upload(gcs, bucket, old)
    clean, _ = faulty_context("", 0)
    assert backfill(clean, bucket, PREFIX).finished
    sweep_until_clean(clean)  # every old object is in a manifest now

    # Missed events: 40 new objects whose finalize never came, 5 registered ones deleted.
    new = [f"{PREFIX}new/img_{index:04d}.jpg" for index in range(40)]
    upload(gcs, bucket, new)
    for name in old[:5]:
        gcs.bucket(bucket).blob(name).delete()
    ctx, plan = faulty_context("source.stat=unavailable", 7)
    with pytest.raises(ServiceUnavailable):  # the stat of a gone object fails: run again
        reconcile(ctx, bucket, PREFIX, repair=True)
    plan.configure("bulk.add_pending_many=timeout_after")
    with pytest.raises(DeadlineExceeded):  # the repair registered the missed ones, then died
        reconcile(ctx, bucket, PREFIX, repair=True)
    plan.configure(RECONCILE_FAULTS)
    first, _ = until_it_succeeds(lambda: reconcile(ctx, bucket, PREFIX, repair=True))
    assert isinstance(first, ReconcileReport)
    assert first.missed == [], "a rerun after a half-done repair finds nothing missed"

    # More missed deletes, now of objects whose records are pending (repaired above, their
    # batch not full): a replayed delete must withdraw them, once, whatever dies half-way.
    gone_pending = new[-10:]
    for name in gone_pending:
        gcs.bucket(bucket).blob(name).delete()
    plan.configure("records.withdraw=timeout_after")
    with pytest.raises(DeadlineExceeded):  # the first replayed delete applied, then died
        reconcile(ctx, bucket, PREFIX, repair=True)
    plan.configure(RECONCILE_FAULTS)
    until_it_succeeds(lambda: reconcile(ctx, bucket, PREFIX, repair=True))

    plan.configure("")
    final = reconcile(ctx, bucket, PREFIX, repair=True)
    assert final.missed == [] and final.pending_gone == [], final.as_dict()
    assert sorted(record.obj.name for record in final.registered_gone) == sorted(old[:5])
    sweep_until_clean(ctx)
    counts = registered(gcs, bucket)
    assert set(counts.values()) == {1}, "an object is in two manifests"
    assert sorted(counts) == sorted(old + new[:-10]), "lost, or a deleted object registered"
