"""Backfill of N objects that already exist: objects/s and billed Firestore operations per object.

    .venv/bin/python -m bench.backfill_scale            # 20,000 objects
    .venv/bin/python -m bench.backfill_scale 2000       # another size

Method. tests/support/bulk_storage.py seeds a disk-backed Storage emulator with N tiny JPEGs spread
over 8 folders (so 8 image buffers at the default batch of 1,000), and devstack.stack starts
the Firestore emulator. bench/firestore_ops.py counts billed operations on the wire. The
backfill runs in this process through services.backfill.backfill (exactly what `python -m
registration backfill` calls), timed with perf_counter from the first listing to the last
checkpoint; full batches are flushed as it goes. Then the sweep (max age 1 s) writes the
partial batches. Operations are reported for the backfill alone and including that sweep,
divided by N. Last, every manifest is read back: each object must be in exactly one, or the
bench fails.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

FOLDERS = 8
BUCKET = "backfill-bench"


def names(count: int) -> list[str]:
    return [f"site/cam {index % FOLDERS}/frame_{index:06d}.jpg" for index in range(count)]


def _ops(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    keys = ("reads", "writes", "deletes", "failed_writes", "commits", "queries", "aggregations")
    return {key: int(after[key]) - int(before[key]) for key in keys}


def _per_object(ops: dict[str, int], count: int) -> dict[str, float]:
    billed = ops["reads"] + ops["writes"] + ops["deletes"]
    return {
        "billed_per_object": round(billed / count, 4),
        "billed_and_failed_per_object": round((billed + ops["failed_writes"]) / count, 4),
        "reads_per_object": round(ops["reads"] / count, 4),
        "writes_per_object": round(ops["writes"] / count, 4),
    }


def run(count: int) -> dict[str, Any]:
    import os

    from bench import firestore_ops

    firestore_ops.install()  # before the first Firestore client opens its channel
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from devstack.stack import PROJECT, local_stack
    from registration.bootstrap import build_context
    from registration.config import Settings
    from registration.manifest.urls import parse_object_url
    from registration.services.backfill import backfill
    from registration.services.sweep import sweep as run_sweep
    from tests.support.bulk_storage import seeded_storage

    log_dir = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    expected = names(count)
    with local_stack(log_dir) as stack, seeded_storage(log_dir, BUCKET, expected) as gcs:
        os.environ.update(
            {
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "FIRESTORE_EMULATOR_HOST": stack.firestore_host,
                "STORAGE_EMULATOR_HOST": gcs.url,
            }
        )
        ctx = build_context(Settings(max_age_seconds=1))
        counter = firestore_ops.COUNTER
        start_ops = counter.snapshot()
        started = time.perf_counter()
        report = backfill(ctx, BUCKET, "")
        seconds = time.perf_counter() - started
        backfill_ops = _ops(start_ops, counter.snapshot())
        time.sleep(1.1)  # let the partial batches reach the max age
        sweep = run_sweep(ctx)
        total_ops = _ops(start_ops, counter.snapshot())
        client = storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": gcs.url},
        )
        seen: Counter[str] = Counter()
        manifests = 0
        for blob in client.list_blobs(BUCKET, prefix="encord-manifests/"):
            manifests += 1
            for item in json.loads(blob.download_as_bytes())["images"]:
                seen[parse_object_url(item["objectUrl"])[1]] += 1
    if sorted(seen) != sorted(expected) or set(seen.values()) != {1}:
        raise RuntimeError("the backfill did not register every object exactly once")
    return {
        "objects": count,
        "backfill_seconds": round(seconds, 2),
        "objects_per_second": round(count / seconds, 1),
        "manifests_during_backfill": len(report.manifests),
        "manifests_by_sweep": len(sweep.manifests_written),
        "manifests_total": manifests,
        "backfill_ops": backfill_ops,
        "backfill_ops_per_object": _per_object(backfill_ops, count),
        "with_sweep_ops": total_ops,
        "with_sweep_ops_per_object": _per_object(total_ops, count),
    }


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 20_000
    log_path = Path(tempfile.mkdtemp(prefix="bench-backfill-logs-")) / "decisions.jsonl"
    # The service's JSON log lines (one per object) go to a file; the result to stdout.
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        result = run(count)
    result["log"] = str(log_path)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
