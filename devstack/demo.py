"""`make demo`: the function against the local emulators, a sample drop, and what it did.

Starts the Firestore emulator, gcp-storage-emulator and functions-framework (one server per
entry point), uploads a generated drop, posts one binary CloudEvent per object from 16
threads, then prints the manifests written and the buffers still pending. Finally it waits
past a short REGISTRATION_MAX_AGE_SECONDS and calls sweep, to show partial batches flushing.

Submission to Encord is on: a local Encord stub (tests/support/encord_stub.py, in this
process) stands in for Encord's API, and the functions reach it through the real `encord`
SDK with a key generated for the run. One file's URL is refused by a stub rule. Each manifest
is submitted as a job when it is written; the demo calls sweep until every job is DONE, and
prints each job with the latency from the drop (the file's finalize event) to job DONE.

What follows a job (issue 20) is on too: each job's items are linked to one dataset, one
message per job goes to a topic on the Pub/Sub emulator (the demo subscribes and counts
them), and REGISTRATION_ENCORD_ON_DELETE=delete: the demo deletes one registered file from
the bucket, sends its delete event, and shows the sweep deleting its Encord item.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.cloud.storage as storage
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from google.auth.credentials import AnonymousCredentials

from devstack import cloudevents
from devstack.samples import Sample, demo_drop
from devstack.stack import PROJECT, local_stack
from registration.manifest.urls import object_url, parse_object_url
from tests.support.encord_stub import EncordStub
from tests.support.pubsub_channel import Channel, open_channel

BUCKET = "demo-bucket"
MAX_AGE_SECONDS = 20
# The one file Encord is told to refuse (a stub rule on its URL).
REFUSED = "site-a/cam 1/frame_00007.png"
REFUSED_ERROR = "Failed to read the file: 403 Forbidden (the integration cannot read it)"
# Sweeps run until every job is finished, at most this long.
FOLLOW_SECONDS = 60


@dataclass
class Encord:
    """The local Encord: the stub, its folder and integration, and the function's settings."""

    stub: EncordStub
    folder: str
    env: dict[str, str]
    dataset: str = ""
    done_at: dict[str, float] = field(default_factory=dict)  # manifest path -> time DONE


def start_encord(stub: EncordStub) -> Encord:
    key = Ed25519PrivateKey.generate()
    stub.add_public_key(key.public_key())
    integration = stub.add_integration(f"gcs {BUCKET}")
    folder = stub.add_folder(name="demo drop")
    dataset = stub.add_dataset(title="ready to annotate")
    stub.set_polls_until_done(1)  # each job answers PENDING once, then its end
    stub.fail_urls_matching(re.escape(object_url(BUCKET, REFUSED)) + "$", REFUSED_ERROR)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    env = {
        "REGISTRATION_ENCORD_FOLDER": folder,
        "REGISTRATION_ENCORD_INTEGRATION": integration,
        "REGISTRATION_ENCORD_DOMAIN": stub.url,
        "REGISTRATION_ENCORD_DATASETS": dataset,
        "REGISTRATION_ENCORD_ON_DELETE": "delete",
        "ENCORD_SSH_KEY": private,
    }
    return Encord(stub, folder, env, dataset)


# The registered file the demo deletes from the bucket, to show the delete carried over.
DELETED = "site-a/cam 1/frame_00001.png"


def show_follow_up(
    encord: Encord,
    channel: Channel,
    client: storage.Client,
    events: list[dict[str, object]],
    on_event_url: str,
    sweep_url: str,
) -> bool:
    """One dataset link, one notification per job, and one propagated delete; True if all hold."""
    folder_items = encord.stub.items(encord.folder)
    linked = encord.stub.linked_items(encord.dataset)
    print(
        f"  Dataset {encord.dataset[:8]}...: {len(linked)} of the {len(folder_items)} items "
        "the jobs created are linked (duplicates skipped; ready to annotate)"
    )
    jobs = encord.stub.jobs(encord.folder)
    messages = channel.pull(expected=len(jobs) + 1, rounds=3)
    by_job = {m.attributes["job_id"] for m in messages}
    print(
        f"  Pub/Sub: {len(messages)} messages for {len(jobs)} jobs "
        f"({'one per job' if len(messages) == len(jobs) == len(by_job) else 'NOT one per job'})"
    )
    if messages:
        first = json.loads(messages[0].data)
        print(
            f"    e.g. job {first['job_id'][:8]} {first['status']}: "
            f"{first['counts']['urls_registered']} registered, "
            f"{first['counts']['urls_refused']} refused, manifest {first['manifest'][-40:]}"
        )
    url = object_url(BUCKET, DELETED)
    before = encord.stub.items_for_url(encord.folder, url)
    client.bucket(BUCKET).blob(DELETED).delete()
    data = next(e for e in events if e["name"] == DELETED)
    cloudevents.delete(on_event_url, data)
    summary = requests.post(sweep_url, timeout=300).json()
    after = encord.stub.items_for_url(encord.folder, url)
    print(
        f"  Deleted gs://{BUCKET}/{DELETED} from the bucket: sweep says {summary['follow_ups']}; "
        f"Encord items for its URL: {len(before)} before, {len(after)} after"
    )
    return (
        len(linked) == len(folder_items) > 0
        and len(messages) == len(jobs) == len(by_job)
        and len(before) == 1
        and not after
    )


def follow_jobs(sweep_url: str, encord: Encord) -> int:
    """POST sweep until no submission is unfinished; returns how many sweeps it took."""
    deadline = time.monotonic() + FOLLOW_SECONDS
    sweeps = 0
    while time.monotonic() < deadline:
        summary = requests.post(sweep_url, timeout=300).json()
        sweeps += 1
        now = time.time()
        for path in summary.get("jobs_finished", []):
            encord.done_at.setdefault(path, now)
        jobs = encord.stub.jobs(encord.folder)
        if jobs and all(job.status != "PENDING" for job in jobs) and not summary["submitted"]:
            return sweeps
        time.sleep(0.2)
    return sweeps


def print_jobs(encord: Encord, posted_at: dict[str, float], status: dict[str, Any]) -> None:
    """One line per manifest's job: how long after the batch's last file was dropped (its
    finalize event) Encord had the job, and had it DONE (seen by a sweep's poll)."""
    started: list[float] = []
    done: list[float] = []
    print(f"  {'manifest':<52} {'job':<8} {'status':<6} {'done':>5} {'refused':>7}  drop -> job")
    for job in encord.stub.jobs(encord.folder):
        path = next((p for p in encord.done_at if p.endswith("/" + (job.file_name or ""))), None)
        names = [parse_object_url(url)[1] for unit in job.units for url in unit.urls]
        dropped = max((posted_at[name] for name in names if name in posted_at), default=None)
        latency = "-"
        if path is not None and dropped is not None:
            started.append(job.created_at - dropped)
            done.append(encord.done_at[path] - dropped)
            latency = f"started {started[-1]:.1f} s, DONE {done[-1]:.1f} s"
        counts = job.counts()
        shown = (path or job.file_name or "?").removeprefix("encord-manifests/")
        print(
            f"  {shown[-52:]:<52} {job.id[:8]:<8} {job.status:<6} "
            f"{counts['done']:>5} {counts['error']:>7}  {latency}"
        )
    if done:
        print(
            f"  Latency from the drop of a batch's last file: job started in median "
            f"{statistics.median(started):.1f} s (max {max(started):.1f} s), job DONE in median "
            f"{statistics.median(done):.1f} s (max {max(done):.1f} s) over {len(done)} jobs"
        )
    registered = encord.stub.registered_urls(encord.folder)
    print(
        f"  Encord registered {len(registered)} URLs, each "
        f"{'once' if set(registered.values()) == {1} else 'MORE THAN ONCE'}; "
        f"submissions unfinished: {status['totals'].get('submissions_by_state') or 'none'}"
    )


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
        detail = f" ({item['detail'][:90]})" if item["reason"] == "encord_refused" else ""
        print(f"    {item['name'][:60]!r}: {item['reason']}{detail}")


def main() -> int:
    log_dir = Path(".cache/demo-logs")
    print("Starting Firestore emulator, Storage emulator, the Encord stub and functions-framework")
    with local_stack(log_dir) as stack, EncordStub() as stub:
        encord = start_encord(stub)
        assert stack.pubsub_host is not None, "the stack starts the Pub/Sub emulator"
        os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
        channel_context = open_channel()
        channel = channel_context.__enter__()
        env = {
            "REGISTRATION_NOTIFY_TOPIC": channel.topic,
            "REGISTRATION_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS),
            "REGISTRATION_GROUP_QUIET_SECONDS": str(MAX_AGE_SECONDS),
            **encord.env,
        }
        on_event = stack.serve("on_storage_event", env)
        sweep = stack.serve("sweep", env)
        status = stack.serve("status", env)
        print(f"  Encord stub at {stub.url}: folder {encord.folder}; refuses {REFUSED!r}")
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
        posted_at: dict[str, float] = {}

        def post(data: dict[str, object], session: requests.Session) -> int:
            posted_at[str(data["name"])] = time.time()
            return cloudevents.finalize(on_event.url, data, session=session).status_code

        started = time.perf_counter()
        with requests.Session() as session, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda data: post(data, session), events))
        elapsed = time.perf_counter() - started
        failed = [code for code in codes if code >= 300]
        print(
            f"  {len(codes)} events in {elapsed:.1f} s ({len(codes) / elapsed:.0f}/s), "
            f"{len(failed)} not acknowledged"
        )
        seen: set[str] = set()
        print("\nManifests written at threshold (each submitted to Encord in the same event):")
        print_manifests(client, seen)
        print(f"  Encord jobs started: {len(stub.jobs(encord.folder))}")
        print("\nPOST sweep until their Encord jobs are finished (it also flushes old buffers) ...")
        print(f"  {follow_jobs(sweep.url, encord)} sweeps")
        print("\nBuffers (GET status):")
        print_buffers(status.url)
        print(f"\nWaiting {MAX_AGE_SECONDS} s (REGISTRATION_MAX_AGE_SECONDS), then POST sweep ...")
        time.sleep(MAX_AGE_SECONDS + 1)
        summary = requests.post(sweep.url, timeout=300).json()
        print(
            f"  sweep: {summary['buffers_flushed']} buffers flushed, "
            f"{len(summary['manifests_written'])} manifests, errors: {summary['errors']}; "
            f"Encord jobs started so far: {len(stub.jobs(encord.folder))}"
        )
        print("\nManifests written by the sweep:")
        print_manifests(client, seen)
        print("\nPOST sweep until every Encord job is finished ...")
        print(f"  {follow_jobs(sweep.url, encord)} sweeps")
        report = requests.get(status.url, timeout=60).json()
        print("\nEncord jobs (one per manifest):")
        print_jobs(encord, posted_at, report)
        print("\nBuffers after the sweep (the refused file is among the rejections):")
        print_buffers(status.url)
        print("\nWhat followed each job's end (a dataset link, a message, a delete carried over):")
        followed = show_follow_up(encord, channel, client, events, on_event.url, sweep.url)
        channel_context.__exit__(None, None, None)
        print(f"\nLogs of every process: {log_dir}/")
        unfinished = [job for job in stub.jobs(encord.folder) if job.status == "PENDING"]
        return 1 if failed or unfinished or not followed else 0


if __name__ == "__main__":
    sys.exit(main())
