"""`make demo`: the function against the local emulators, a sample drop, and what it did.

Starts the Firestore emulator, gcp-storage-emulator and functions-framework (one server per
entry point), uploads a generated drop, posts one binary CloudEvent per object from 16
threads, then prints the manifests written and the buffers still pending. Finally it waits
past a short REGISTRATION_MAX_AGE_SECONDS and calls sweep, to show partial batches flushing.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import google.cloud.storage as storage
import requests
from google.auth.credentials import AnonymousCredentials

from devstack import cloudevents
from devstack.samples import Sample, demo_drop
from devstack.stack import PROJECT, local_stack

BUCKET = "demo-bucket"
MAX_AGE_SECONDS = 20


def upload(client: storage.Client, samples: list[Sample]) -> list[dict[str, object]]:
    bucket = client.bucket(BUCKET)
    events = []
    for sample in samples:
        blob = bucket.blob(sample.name)
        if sample.metadata:
            blob.metadata = sample.metadata
        blob.upload_from_string(sample.data, content_type=sample.content_type)
        blob.reload()
        events.append(
            cloudevents.object_data(
                BUCKET,
                sample.name,
                int(blob.generation or 1),
                size=len(sample.data),
                content_type=sample.content_type,
                metadata=sample.metadata,
            )
        )
    return events


def print_manifests(client: storage.Client, seen: set[str]) -> None:
    for blob in sorted(client.list_blobs(BUCKET, prefix="encord-manifests/"), key=lambda b: b.name):
        if blob.name in seen:
            continue
        seen.add(blob.name)
        body = json.loads(blob.download_as_bytes())
        key = next(k for k in body if k != "skip_duplicate_urls")
        print(f"  gs://{BUCKET}/{blob.name}: {len(body[key])} {key}")


def print_buffers(status_url: str) -> None:
    report = requests.get(status_url, timeout=60).json()
    print(f"  {'folder':<22} {'key':<13} {'pending':>7} {'batches':>7}  oldest pending")
    for row in report["buffers"]:
        print(
            f"  {row['folder'] or '(root)':<22} {row['key']:<13} {row['pending']:>7} "
            f"{row['batches_written']:>7}  {row['oldest_pending_at'] or '-'}"
        )
    print(f"  rejected: {len(report['rejected'])}")
    for item in report["rejected"]:
        print(f"    {item['name'][:60]!r}: {item['reason']}")


def main() -> int:
    log_dir = Path(".cache/demo-logs")
    print("Starting Firestore emulator, Storage emulator and functions-framework ...")
    with local_stack(log_dir) as stack:
        env = {
            "REGISTRATION_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS),
            "REGISTRATION_GROUP_QUIET_SECONDS": str(MAX_AGE_SECONDS),
        }
        on_event = stack.serve("on_storage_event", env)
        sweep = stack.serve("sweep", env)
        status = stack.serve("status", env)
        client = storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": stack.storage.url},
        )
        client.create_bucket(BUCKET)
        samples = demo_drop()
        print(f"Uploading {len(samples)} sample objects to gs://{BUCKET} ...")
        events = upload(client, samples)
        print(f"Posting {len(events)} finalize CloudEvents from 16 threads ...")
        started = time.perf_counter()
        with requests.Session() as session, ThreadPoolExecutor(16) as pool:
            codes = list(
                pool.map(
                    lambda data: (
                        cloudevents.finalize(on_event.url, data, session=session).status_code
                    ),
                    events,
                )
            )
        elapsed = time.perf_counter() - started
        failed = [code for code in codes if code >= 300]
        print(
            f"  {len(codes)} events in {elapsed:.1f} s ({len(codes) / elapsed:.0f}/s), "
            f"{len(failed)} not acknowledged"
        )
        seen: set[str] = set()
        print("\nManifests written at threshold:")
        print_manifests(client, seen)
        print("\nBuffers (GET status):")
        print_buffers(status.url)
        print(f"\nWaiting {MAX_AGE_SECONDS} s (REGISTRATION_MAX_AGE_SECONDS), then POST sweep ...")
        time.sleep(MAX_AGE_SECONDS + 1)
        summary = requests.post(sweep.url, timeout=300).json()
        print(
            f"  sweep: {summary['buffers_flushed']} buffers flushed, "
            f"{len(summary['manifests_written'])} manifests, errors: {summary['errors']}"
        )
        print("\nManifests written by the sweep:")
        print_manifests(client, seen)
        print("\nBuffers after the sweep:")
        print_buffers(status.url)
        print(f"\nLogs of every process: {log_dir}/")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
