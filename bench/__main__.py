"""`make bench`: throughput, latency, Firestore cost, manifest scale, backfill speed and
housekeeping at scale.

Everything runs against the local stack (devstack/stack.py: the Firestore emulator,
gcp-storage-emulator and functions-framework servers on 127.0.0.1). The report is printed
as it goes; the last line is one JSON object with every figure (BENCHMARKS.md explains each
one and records the results).

    .venv/bin/python -m bench                    # everything (about 8-10 minutes)
    .venv/bin/python -m bench --runs 1 --skip-manifest --skip-backfill --skip-housekeeping

Method, in short:
1. Events. main.py's on_storage_event and the floor (bench/floor_main.py: one idempotent
   create() per event) are served by functions-framework exactly as deployed code is, with
   REGISTRATION_BATCH_IMAGES=100. Each gets the same load: 2,000 finalize events for images
   in 8 folders (250 each: two threshold flushes per folder inside the timed window),
   posted by 16 sender threads. Each run starts from an emptied Firestore and fresh
   servers (warmed with 100 events), then times the floor and the function back to back,
   alternating which goes first; a first run warms the emulator up and is discarded. The
   ratio is taken per run and its median reported. After every run the bench calls sweep
   and checks that the manifests hold each of the 2,000 objects exactly once.
2. Cost. On a wiped Firestore, the same load goes to bench/instrumented_main.py (the same
   entry points behind a gRPC interceptor that counts billed operations: see
   bench/firestore_ops.py), then sweep flushes the 8 remainders of 50; operations of the
   events and of the sweep are added up and divided by the objects found in manifests.
   The floor is counted the same way, as a check of the counter (it must be exactly 1).
3. The 500,000-item manifest: bench/manifest_scale.py (fresh process per run, median of 3).
4. Backfill: 5,000 objects seeded into their own storage emulator
   (tests/support/bulk_storage.py), registered by `python -m registration backfill`, timed
   from the command's start to its exit, then counted for Firestore operations in a second
   run on a wiped Firestore.
5. Housekeeping (bench/housekeeping.py, in a child process on the same emulators): the sweep
   and the status page over 20 and 10,000 idle buffers, the due-work sweep among 1,000 idle
   buffers, and the peak memory of flushing the largest image group allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google.cloud.storage as storage
import requests
from google.auth.credentials import AnonymousCredentials

from bench import launcher, load
from bench.cpu import CpuMeter, own_seconds, tree_seconds
from bench.housekeeping import flat as flat_housekeeping
from bench.manifest_scale import run_samples, summarise
from devstack.stack import PROJECT, ROOT, Process, Stack, local_stack

LOG_DIR = ROOT / ".cache" / "bench-logs"
SETTINGS = {
    "REGISTRATION_BATCH_IMAGES": "100",
    # The final sweep must flush the 50-object remainders without a long wait.
    "REGISTRATION_MAX_AGE_SECONDS": "1",
}
WARMUP_EVENTS = 100
BACKFILL_OBJECTS = 5_000
# Issue 22's bar: ops per object at batch 100 (the event load) and at the default 1,000
# (OPS_DEFAULT_BATCH), events/s against the floor, CPU per event against the floor's.
TARGETS = {
    "ratio_to_floor": 0.8,
    "ops_per_object": 2.3,
    "ops_per_object_default_batch": 2.1,
    "cpu_ratio": 1.2,
    "manifest_s": 2.0,
    "manifest_mb": 512,
}
# The cost run at the default batch size: 2 folders of exactly one batch each.
OPS_DEFAULT_BATCH = {"REGISTRATION_BATCH_IMAGES": "1000", "REGISTRATION_MAX_AGE_SECONDS": "1"}
OPS_DEFAULT_FOLDERS = 2
# Object records of earlier drops, written before each event run (--preexisting): the
# emulator scans a collection for every query, so how throughput follows them is measured.
HISTORY_BUCKET = "bench-history"
HISTORY_FOLDERS = 8


def say(text: str = "") -> None:
    print(text, flush=True)


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    commit, dirty = "unknown", ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": (commit or "unknown") + ("+uncommitted" if dirty else ""),
    }


# -- helpers ------------------------------------------------------------------------------------


def storage_client(stack: Stack) -> storage.Client:
    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": stack.storage.url},
    )


def registered(client: storage.Client, bucket: str) -> dict[str, int]:
    """Manifests in the bucket, the items they hold, and how many distinct URLs."""
    urls: list[str] = []
    manifests = 0
    for blob in client.list_blobs(bucket, prefix="encord-manifests/"):
        manifests += 1
        body = json.loads(blob.download_as_bytes())
        urls.extend(item["objectUrl"] for item in body.get("images", []))
    return {"manifests": manifests, "items": len(urls), "distinct": len(set(urls))}


def call_sweep(process: Process) -> dict[str, Any]:
    time.sleep(float(SETTINGS["REGISTRATION_MAX_AGE_SECONDS"]) + 0.5)
    response = requests.post(process.url, timeout=600)
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"errors": [response.text[:200]]}
    body["status_code"] = response.status_code
    return body


def read_ops(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def add_ops(*parts: dict[str, Any]) -> dict[str, Any]:
    total: dict[str, Any] = {"by_method": {}}
    for part in parts:
        for key, value in part.items():
            if key == "by_method":
                for method, count in value.items():
                    total["by_method"][method] = total["by_method"].get(method, 0) + count
            else:
                total[key] = total.get(key, 0) + value
    return total


def billed(ops: dict[str, Any], *, with_failed: bool = True) -> int:
    count = int(ops.get("reads", 0) + ops.get("writes", 0) + ops.get("deletes", 0))
    return count + (int(ops.get("failed_writes", 0)) if with_failed else 0)


def timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    say(f"  ({label}: {time.perf_counter() - started:.1f} s)")
    return result


# -- 1. events per second, latency, ratio to the floor ----------------------------------------


def cpu_meter(stack: Stack, server: Process) -> CpuMeter:
    """Where the cores go during one load: emulators, the server under test, the senders."""
    bench_pid = os.getpid()
    raw_storage = stack.storage_emulator or stack.storage
    return CpuMeter(
        {
            "firestore_emulator": lambda: tree_seconds(stack.firestore.popen.pid),
            # stack.storage is the name-limits proxy in front of the raw emulator.
            "storage_emulator": lambda: tree_seconds(raw_storage.popen.pid),
            **(
                {"storage_proxy": lambda: tree_seconds(stack.storage.popen.pid)}
                if stack.storage_emulator is not None
                else {}
            ),
            "server": lambda: tree_seconds(server.popen.pid),
            "senders": lambda: own_seconds(bench_pid),
        }
    )


def send_measured(
    stack: Stack, server: Process, events: list[load.Event]
) -> tuple[load.LoadResult, dict[str, float]]:
    meter = cpu_meter(stack, server)
    meter.start()
    result = load.send(server.url, events)
    return result, meter.stop()


def cpu_line(cpu: dict[str, float], result: load.LoadResult) -> str:
    per_k = {name: 1000 * seconds / result.events for name, seconds in cpu.items()}
    used = sum(cpu.values()) / (result.seconds * (os.cpu_count() or 1))
    return (
        "CPU s per 1,000 events: "
        + ", ".join(f"{name} {value:.2f}" for name, value in per_k.items())
        + f" (cores {100 * used:.0f}% busy with these)"
    )


def seed_history(stack: Stack, count: int) -> None:
    """count registered object records of an earlier drop, written straight into Firestore
    (a claimed record in a written batch each, in HISTORY_FOLDERS folders)."""
    if count <= 0:
        return
    from google.cloud import firestore

    from registration.adapters.firestore.documents import batch_key, object_id
    from registration.domain.model import BufferRef, ManifestKey

    os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
    db = firestore.Client(project=PROJECT)
    moment = datetime.now(UTC)
    for start in range(0, count, 500):
        batch = db.batch()
        for index in range(start, min(count, start + 500)):
            buffer = BufferRef(HISTORY_BUCKET, f"day-{index % HISTORY_FOLDERS}", ManifestKey.IMAGES)
            name = f"{buffer.folder}/{index:07d}.jpg"
            batch.set(
                db.collection("objects").document(object_id(HISTORY_BUCKET, name)),
                {
                    "bucket": HISTORY_BUCKET, "name": name, "generation": 1, "state": "claimed",
                    "created_at": moment, "batch": 1 + index // 1000,
                    "batch_key": batch_key(buffer, 1 + index // 1000), "buffer": buffer.ident,
                    "key": "images", "create_video": False, "size": 1000,
                    "content_type": "image/jpeg", "metadata": None,
                },
            )  # fmt: skip
        batch.commit()


def event_run(
    stack: Stack, client: storage.Client, run: int, preexisting: int = 0
) -> dict[str, Any]:
    """One pair of loads (floor and function) on an emptied Firestore and fresh servers.

    The emulator evaluates count() and queries by scanning, so a Firestore that keeps every
    earlier run's documents would slow each later run of the function (not of the floor).
    Wiping it means the servers must restart too (main.py caches which buffers exist).
    """
    stack.wipe_firestore()
    seed_history(stack, preexisting)
    env = stack.env(SETTINGS)
    function = launcher.serve("main.py", "on_storage_event", env, stack.log_dir)
    sweeper = launcher.serve("main.py", "sweep", env, stack.log_dir)
    floor = launcher.serve("bench/floor_main.py", "floor_event", env, stack.log_dir)
    try:
        # A fresh instance's first requests build its clients: not what is measured.
        warmup_floor, warmup = f"bench-warmup-floor-{run}", f"bench-warmup-{run}"
        for bucket in (warmup_floor, warmup):
            client.create_bucket(bucket)
        load.send(floor.url, load.make_events(warmup_floor, WARMUP_EVENTS))
        load.send(function.url, load.make_events(warmup, WARMUP_EVENTS))
        floor_bucket, bucket = f"bench-floor-{run}", f"bench-run-{run}"
        client.create_bucket(floor_bucket)
        client.create_bucket(bucket)
        floor_events = load.make_events(floor_bucket)
        events = load.make_events(bucket)
        # Alternate which goes first, so a drift in machine load hits both alike.
        if run % 2:
            floor_result, floor_cpu = send_measured(stack, floor, floor_events)
            result, cpu = send_measured(stack, function, events)
        else:
            result, cpu = send_measured(stack, function, events)
            floor_result, floor_cpu = send_measured(stack, floor, floor_events)
        swept = call_sweep(sweeper)
    finally:
        for process in (function, sweeper, floor):
            process.stop()
    check = registered(client, bucket)
    return {
        "function": result,
        "floor": floor_result,
        "ratio": result.events_per_s / floor_result.events_per_s,
        "cpu": cpu,
        "floor_cpu": floor_cpu,
        "registered": check,
        "sweep_errors": swept.get("errors") or [],
    }


def print_pair(label: str, pair: dict[str, Any]) -> None:
    result, floor_result, check = pair["function"], pair["floor"], pair["registered"]
    say(f"{label}:")
    say(f"  floor    {floor_result.line()}")
    say(f"           {cpu_line(pair['floor_cpu'], floor_result)}")
    say(f"  function {result.line()}   ratio {pair['ratio']:.2f}")
    say(f"           {cpu_line(pair['cpu'], result)}")
    say(
        "           CPU per event against the floor's: "
        + ", ".join(
            f"{name} {cpu_ratio(pair, name):.2f}x" for name in ("server", "firestore_emulator")
        )
    )
    say(
        f"  after sweep: {check['items']} of {result.events} registered in "
        f"{check['manifests']} manifests ({check['distinct']} distinct)"
        + (f"; sweep errors: {pair['sweep_errors']}" if pair["sweep_errors"] else "")
    )
    for failure in result.failures[:3]:
        say(f"    failed: {failure}")


def event_runs(
    stack: Stack, client: storage.Client, runs: int, preexisting: int = 0
) -> dict[str, Any]:
    # Run 0 warms the emulator's JVM up (its first thousands of requests are slower).
    print_pair("Warm-up run (discarded)", event_run(stack, client, 0, preexisting))
    pairs = []
    for run in range(1, runs + 1):
        pair = event_run(stack, client, run, preexisting)
        print_pair(f"Run {run}", pair)
        pairs.append(pair)
    return summarise_runs(pairs)


def summarise_runs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    return {
        "events_per_s": median([p["function"].events_per_s for p in pairs]),
        "floor_events_per_s": median([p["floor"].events_per_s for p in pairs]),
        "ratio_to_floor": median([p["ratio"] for p in pairs]),
        "p50_ms": median([p["function"].p50_ms for p in pairs]),
        "p99_ms": median([p["function"].p99_ms for p in pairs]),
        "floor_p50_ms": median([p["floor"].p50_ms for p in pairs]),
        "floor_p99_ms": median([p["floor"].p99_ms for p in pairs]),
        "runs": len(pairs),
        "events_per_s_runs": [round(p["function"].events_per_s, 1) for p in pairs],
        "floor_events_per_s_runs": [round(p["floor"].events_per_s, 1) for p in pairs],
        "failed_events": sum(len(p["function"].failures) for p in pairs),
        "cpu_s_per_1000_events": {
            name: median([1000 * p["cpu"][name] / p["function"].events for p in pairs])
            for name in pairs[0]["cpu"]
        },
        "floor_cpu_s_per_1000_events": {
            name: median([1000 * p["floor_cpu"][name] / p["floor"].events for p in pairs])
            for name in pairs[0]["floor_cpu"]
        },
        # CPU per event of the server under test and of the Firestore emulator, each against
        # the floor's in the same run; the median of the per-run ratios.
        "cpu_ratio_to_floor": {
            name: median([cpu_ratio(p, name) for p in pairs])
            for name in ("server", "firestore_emulator")
        },
        "registered_per_run": [p["registered"]["items"] for p in pairs],
        "duplicates_in_manifests": sum(
            p["registered"]["items"] - p["registered"]["distinct"] for p in pairs
        ),
    }


def cpu_ratio(pair: dict[str, Any], name: str) -> float:
    per_event = pair["cpu"][name] / pair["function"].events
    floor_per_event = pair["floor_cpu"][name] / pair["floor"].events
    return per_event / floor_per_event if floor_per_event else float("inf")


# -- 2. billed Firestore operations per object -------------------------------------------------


def ops_run(
    stack: Stack,
    client: storage.Client,
    settings: dict[str, str] | None = None,
    folders: int = load.FOLDERS,
) -> dict[str, Any]:
    settings = settings or SETTINGS
    stack.wipe_firestore()
    ops_dir = stack.log_dir / "ops"
    shutil.rmtree(ops_dir, ignore_errors=True)
    ops_dir.mkdir(parents=True)
    source = "bench/instrumented_main.py"

    def serve(target: str) -> Process:
        env = stack.env({**settings, "BENCH_OPS_FILE": str(ops_dir / f"{target}.json")})
        return launcher.serve(source, target, env, stack.log_dir)

    function, sweeper, floor = serve("on_storage_event"), serve("sweep"), serve("floor_event")
    try:
        size = settings["REGISTRATION_BATCH_IMAGES"]
        bucket, floor_bucket = f"bench-ops-{size}", f"bench-ops-floor-{size}"
        client.create_bucket(bucket)
        client.create_bucket(floor_bucket)
        floor_result = load.send(floor.url, load.make_events(floor_bucket, folders=folders))
        result = load.send(function.url, load.make_events(bucket, folders=folders))
        events_ops = read_ops(ops_dir / "on_storage_event.json")
        swept = call_sweep(sweeper)
        sweep_ops = read_ops(ops_dir / "sweep.json")
        floor_ops = read_ops(ops_dir / "floor_event.json")
    finally:
        for process in (function, sweeper, floor):
            process.stop()
    check = registered(client, bucket)
    total = add_ops(events_ops, sweep_ops)
    objects = check["items"]
    per_object = billed(total) / objects if objects else None
    say(
        f"Firestore operations (instrumented run, wiped Firestore; {load.EVENTS} events in "
        f"{folders} folders, batch {settings['REGISTRATION_BATCH_IMAGES']}):"
    )
    say(f"  events:  {describe_ops(events_ops)}")
    say(f"  sweep:   {describe_ops(sweep_ops)}")
    say(
        f"  {objects} objects registered in {check['manifests']} manifests; "
        f"{len(result.failures)} events failed; sweep errors: {len(swept.get('errors') or [])}"
    )
    if per_object is not None:
        say(
            f"  = {per_object:.2f} billed operations per registered object "
            f"({billed(total, with_failed=False) / objects:.2f} without refused writes; "
            f"{billed(events_ops) / len(result.latencies_ms):.2f} per event on the event path)"
        )
    floor_per_event = billed(floor_ops) / len(floor_result.latencies_ms)
    say(f"  floor:   {describe_ops(floor_ops)} = {floor_per_event:.2f} per event (counter check)")
    say(f"  (instrumented run: function {result.line()}; floor {floor_result.line()})")
    return {
        "firestore_ops_per_object": round(per_object, 3) if per_object is not None else None,
        "firestore_ops_per_object_excluding_refused_writes": (
            round(billed(total, with_failed=False) / objects, 3) if objects else None
        ),
        "firestore_ops_per_event_path": round(billed(events_ops) / len(result.latencies_ms), 3),
        "firestore_ops_detail": {"events": events_ops, "sweep": sweep_ops},
        "ops_run_registered": objects,
        "ops_run_failed_events": len(result.failures),
        "floor_firestore_ops_per_event": round(floor_per_event, 3),
    }


def describe_ops(ops: dict[str, Any]) -> str:
    return (
        f"{ops.get('reads', 0)} reads, {ops.get('writes', 0)} writes, "
        f"{ops.get('deletes', 0)} deletes, {ops.get('failed_writes', 0)} refused writes "
        f"({ops.get('rpcs', 0)} RPCs: {ops.get('by_method', {})})"
    )


# -- 4. backfill ------------------------------------------------------------------------------


def backfill_available() -> bool:
    """Whether `python -m registration backfill` exists (one module per command since issue
    21: the check looked in commands.py until then, and reported the figure as null)."""
    cli = ROOT / "registration" / "cli" / "backfill.py"
    return (
        (ROOT / "registration" / "__main__.py").exists()
        and cli.exists()
        and "def backfill" in cli.read_text()
        and (ROOT / "tests" / "support" / "bulk_storage.py").exists()
    )


def backfill_run(stack: Stack) -> dict[str, Any]:
    from tests.support.bulk_storage import seeded_storage

    bucket, prefix = "bench-backfill", "drop"
    names = [f"{prefix}/cam {i % 8}/frame_{i:06d}.jpg" for i in range(BACKFILL_OBJECTS)]
    result: dict[str, Any] = {}
    with seeded_storage(stack.log_dir, bucket, names) as seeded:
        for instrumented in (False, True):
            stack.wipe_firestore()
            ops_file = stack.log_dir / "ops" / "backfill.json"
            ops_file.parent.mkdir(parents=True, exist_ok=True)
            ops_file.unlink(missing_ok=True)
            env = {
                **stack.env(SETTINGS),
                "STORAGE_EMULATOR_HOST": seeded.url,
                "BENCH_OPS_FILE": str(ops_file),
                "PYTHONPATH": str(ROOT),
            }
            module = "bench.instrumented_cli" if instrumented else "registration"
            argv = [sys.executable, "-m", module, "--log-file", str(stack.log_dir / "backfill.log")]
            argv += ["backfill", "--json", f"gs://{bucket}/{prefix}"]
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"backfill exited {done.returncode}: {done.stderr[-2000:]}")
            report = json.loads(done.stdout)
            if not instrumented:
                result.update(
                    {
                        "backfill_objects_per_s": round(BACKFILL_OBJECTS / seconds, 1),
                        "backfill_seconds": round(seconds, 2),
                        "backfill_cli_objects_per_s": report.get("objects_per_second"),
                        "backfill_buffered": report.get("buffered"),
                        "backfill_manifests": len(report.get("manifests_written") or []),
                    }
                )
                say(
                    f"Backfill: {BACKFILL_OBJECTS} objects in {seconds:.2f} s wall "
                    f"= {BACKFILL_OBJECTS / seconds:.0f}/s (the CLI's own figure, without "
                    f"start-up: {report.get('objects_per_second')}/s); buffered "
                    f"{report.get('buffered')}, {result['backfill_manifests']} full manifests"
                )
            else:
                ops = read_ops(ops_file)
                per_object = billed(ops) / BACKFILL_OBJECTS
                result["backfill_firestore_ops_per_object"] = round(per_object, 3)
                say(f"  backfill Firestore: {describe_ops(ops)} = {per_object:.2f} per object")
    return result


# -- 5. housekeeping ---------------------------------------------------------------------------


def housekeeping_run(stack: Stack) -> dict[str, Any]:
    """bench/housekeeping.py in a child process on this stack's emulators (it wipes them).

    A child, because its operation counter must be installed before its first Firestore
    client exists, and its group flush needs a fresh process of its own anyway.
    """
    argv = [sys.executable, "-m", "bench.housekeeping", "--firestore-host", stack.firestore_host]
    argv += ["--storage-url", stack.storage.url]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.housekeeping exited {done.returncode}")
    detail: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"housekeeping": detail, **flat_housekeeping(detail)}


# -- the report -------------------------------------------------------------------------------


def verdicts(figures: dict[str, Any]) -> list[str]:
    lines = []

    def check(name: str, value: float | None, ok: bool, target: str) -> None:
        shown = "n/a" if value is None else f"{value:g}"
        lines.append(f"  {'MET ' if ok else 'MISS'} {name} = {shown} (target {target})")

    ratio = figures.get("ratio_to_floor")
    if ratio is not None:
        target = TARGETS["ratio_to_floor"]
        check("ratio_to_floor", ratio, ratio >= target, f">= {target}")
    for name, value in (figures.get("cpu_ratio_to_floor") or {}).items():
        target = TARGETS["cpu_ratio"]
        check(f"cpu_per_event_{name}_to_floor", value, value <= target, f"<= {target}x")
    for key, target in (
        ("firestore_ops_per_object", TARGETS["ops_per_object"]),
        ("firestore_ops_per_object_default_batch", TARGETS["ops_per_object_default_batch"]),
    ):
        if key in figures:
            ops = figures[key]
            check(key, ops, ops is not None and ops <= target, f"<= {target}")
    seconds = figures.get("manifest_500k_seconds")
    if seconds is not None:
        check("manifest_500k_seconds", seconds, seconds <= TARGETS["manifest_s"], "<= 2")
    peak = figures.get("manifest_500k_peak_mb")
    if peak is not None:
        check("manifest_500k_peak_mb", peak, peak <= TARGETS["manifest_mb"], "<= 512")
    housekeeping = figures.get("housekeeping") or {}
    sweep_idle = housekeeping.get("sweep_idle_buffers")
    if sweep_idle:
        steady = sweep_idle["large"]["steady"]
        ratio = sweep_idle["ratio_large_to_small"]["steady"]["seconds"]
        check("sweep_idle_steady_time_ratio", ratio, ratio <= 2, "<= 2x the 20-buffer sweep")
        check("sweep_idle_steady_reads", steady["reads"], steady["reads"] <= 50, "<= 50")
    due = housekeeping.get("due_work_sweep")
    if due:
        ratio = due["ratio_among_idle_to_alone"]
        for key in ("reads", "writes", "seconds"):
            check(f"due_work_ratio_{key}", ratio[key], due["met"], "close to 1")
    for failed in figures.get("group_flush_failed") or []:
        lines.append(f"  FAIL group flush of {failed['members']} members: {failed['problem']}")
    if figures.get("group_flush_peak_mb") is not None:
        lines.append(
            f"  INFO group_flush_peak_mb = {figures['group_flush_peak_mb']:g} for "
            f"{figures.get('group_flush_members')} members (no target)"
        )
    if figures.get("housekeeping_error"):
        lines.append("  FAIL the housekeeping bench did not run: see housekeeping_error")
    for run, count in enumerate(figures.get("registered_per_run") or [], start=1):
        if count != load.EVENTS:
            lines.append(f"  FAIL run {run}: {count} of {load.EVENTS} objects in manifests")
    if figures.get("duplicates_in_manifests"):
        lines.append(f"  FAIL {figures['duplicates_in_manifests']} duplicate URLs in manifests")
    if figures.get("failed_events"):
        lines.append(f"  FAIL {figures['failed_events']} events answered an error")
    if figures.get("backfill_error"):
        lines.append("  FAIL the backfill did not run: see backfill_error")
    if figures.get("ops_run_failed_events"):
        lines.append(f"  FAIL {figures['ops_run_failed_events']} events failed in the cost run")
    if figures.get("ops_run_default_batch_failed_events"):
        failed = figures["ops_run_default_batch_failed_events"]
        lines.append(f"  FAIL {failed} events failed in the cost run at the default batch")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each load")
    parser.add_argument("--skip-events", action="store_true")
    parser.add_argument("--skip-ops", action="store_true")
    parser.add_argument("--skip-manifest", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-housekeeping", action="store_true")
    parser.add_argument(
        "--preexisting",
        type=int,
        default=0,
        help="object records of an earlier drop written before each event run",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    info = machine()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures: dict[str, Any] = {}
    say(f"Benchmark, {date}")
    say(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python "
        f"{info['python']}, load average {info['load_average_at_start']}, commit {info['commit']}"
    )
    say(
        f"Load: {load.EVENTS} finalize events, {load.FOLDERS} folders, {load.SENDERS} senders, "
        f"settings {SETTINGS}"
    )
    say()

    shutil.rmtree(LOG_DIR, ignore_errors=True)
    if not (args.skip_events and args.skip_ops and args.skip_backfill and args.skip_housekeeping):
        with local_stack(LOG_DIR) as stack:
            client = storage_client(stack)
            if not args.skip_events:
                figures.update(
                    timed("events", lambda: event_runs(stack, client, args.runs, args.preexisting))
                )
                figures["preexisting_records"] = args.preexisting
                say()
            if not args.skip_ops:
                figures.update(timed("cost", lambda: ops_run(stack, client)))
                say()
                default = timed(
                    "cost at the default batch",
                    lambda: ops_run(stack, client, OPS_DEFAULT_BATCH, OPS_DEFAULT_FOLDERS),
                )
                figures["firestore_ops_per_object_default_batch"] = default[
                    "firestore_ops_per_object"
                ]
                figures["ops_run_default_batch_failed_events"] = default["ops_run_failed_events"]
                figures["ops_run_default_batch_registered"] = default["ops_run_registered"]
                say()
            if args.skip_backfill:
                pass
            elif backfill_available():
                try:
                    figures.update(timed("backfill", lambda: backfill_run(stack)))
                except Exception as error:  # report it; the other figures still stand
                    figures["backfill_objects_per_s"] = None
                    figures["backfill_error"] = repr(error)[:500]
                    say(f"Backfill FAILED: {error!r}")
                say()
            else:
                figures["backfill_objects_per_s"] = None
                figures["backfill_note"] = "python -m registration backfill does not exist yet"
                say("Backfill: `python -m registration backfill` not found; reported as null")
                say()
            if not args.skip_housekeeping:
                try:
                    figures.update(timed("housekeeping", lambda: housekeeping_run(stack)))
                except Exception as error:  # report it; the other figures still stand
                    figures["housekeeping_error"] = repr(error)[:500]
                    say(f"Housekeeping FAILED: {error!r}")
                say()
    if not args.skip_manifest:
        say("Manifest of 500,000 images (build + validate + serialise; 3 fresh processes):")
        # measure_manifest_500k's figures, plus the inputs it leaves out of its peak.
        samples = timed("manifest", lambda: run_samples(500_000))
        manifest = summarise(samples)
        inputs_mb = statistics.median(sample["inputs_mb"] for sample in samples)
        figures.update({k: round(v, 3) for k, v in manifest.items()})
        figures["manifest_500k_process_peak_mb"] = round(
            manifest["manifest_500k_peak_mb"] + inputs_mb, 1
        )
        say(
            f"  {manifest['manifest_500k_seconds']:.2f} s, "
            f"+{manifest['manifest_500k_peak_mb']:.0f} MB peak over the 500,000 buffered "
            f"records already in memory ({inputs_mb:.0f} MB of process RSS, interpreter "
            f"included); whole process peak {figures['manifest_500k_process_peak_mb']:.0f} MB"
        )
        say()

    say("Against the targets:")
    for line in verdicts(figures):
        say(line)
    say(f"Logs: {LOG_DIR}; total time {time.perf_counter() - started:.0f} s")
    summary = {**figures, "machine": info, "date": date}
    detail = summary.pop("firestore_ops_detail", None)
    if detail is not None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        (LOG_DIR / "firestore_ops_detail.json").write_text(json.dumps(detail, indent=2))
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
