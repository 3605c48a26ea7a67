"""Housekeeping at scale: the sweep and the status page over thousands of idle buffers, the
due-work sweep among idle buffers, and the memory of flushing the largest group allowed.

    .venv/bin/python -m bench.housekeeping              # own local stack, about 3-5 minutes
    .venv/bin/python -m bench.housekeeping --idle 2000 --skip-group

`python -m bench` runs it against its own stack (`--firestore-host`, `--storage-url`). The
report goes to stderr as it runs; the last line of stdout is one JSON object.

Method. Everything runs in this process through registration.bootstrap.build_context, with
bench/firestore_ops.py installed before the first Firestore client exists, so billed
operations are counted on the wire (snapshots of firestore_ops.COUNTER around each call).
Each scenario starts from a wiped Firestore. Idle buffers are written straight into
Firestore, as a bucket's history looks: a buffer document, one written batch and one
claimed object record each, flushed 30 days ago (the idea of
tests/support/seeding.py, shared with tests/integration/test_due_work_sweep.py).

1. sweep_idle_buffers: sweep(ctx) over 20 and over 10,000 idle buffers (20 again after
   the 10,000, so the small figure is taken on both sides of the large one). The first
   sweep of a database (no scan checkpoint, no rejection watermark yet) and then
   STEADY_REPEATS more ("steady state"): reads, writes, seconds (median of the repeats).
   Goals: steady state at most 2x the 20-buffer sweep's seconds, at most 50 reads.
2. status_idle_buffers: registration.services.status.status(ctx), the default page, over
   the same databases: reads and seconds, first call and median of the repeats.
3. due_work: 10 buffers with one overdue pending object each (registered through the real
   adapters, buffers.ensure + records.add_pending, with a clock one hour back), swept alone
   and among 1,000 idle buffers; DUE_REPEATS rounds of 10 new overdue buffers each;
   reads, writes and seconds of the sweep that flushes them, medians, and the ratio.
4. burst_sweep: a burst of new folders (1,000, against 20), each made through the event
   path (intake.register, as an event does) with one image and a batch size of 1, so each
   folder becomes a buffer whose manifest is written at once, with no rejection; a sweep
   before the burst (the deployment's watermark and scan cursor exist), then the sweep right
   after it, the sweep once the open marks' closing margin has passed (a real wait of about
   77 s: Firestore's clock must pass; it closes the folders), and the sweep after that (with
   a clock 6 minutes ahead, so no folder is overdue): reads, counts, seconds. Goal: the last
   at most 3x the 20 folders'. The first two check every new folder by design (an instance
   may still hold its open mark): a cost of the burst's own work, for a minute and a half.
5. status_all_paging: `status?all=1` paged through 2,000 idle buffers (seeded as in 1),
   100 per page, every page read through to the last: reads, queries and seconds of each
   page. Goal: reads per page flat from the first page to the last.
6. group_flush_peak_mb: MAX_GROUP_MEMBERS (flush.py) image-group members with about 2 KB of
   custom metadata each, registered through records.add_pending_many; then a fresh process
   builds its context, makes one Firestore call (channels open), reads ru_maxrss, runs the
   real flush (claim against the emulator, build + render, manifest written to the storage
   emulator, mark written) and reads ru_maxrss again. Peak = the rise, and the whole process.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from registration.adapters.firestore.queue import CLOSE_AFTER_IDLE_SECONDS
from tests.support.seeding import seed_idle_buffers

ROOT = Path(__file__).resolve().parent.parent
IDLE_SMALL = 20
IDLE_LARGE = 10_000
DUE_IDLE = 1_000
DUE_BUFFERS = 10
DUE_REPEATS = 3
STEADY_REPEATS = 5
METADATA_BYTES = 2_048
# The largest group whose claim commit fits the emulator's 4 MiB gRPC message limit
# (about 250 bytes per member update).
EMULATOR_GROUP = 16_000
IDLE_BUCKET = "bench-idle"
DUE_BUCKET = "bench-due"
GROUP_BUCKET = "bench-group"
GROUP_FOLDER = "groups/shoot-1"
BURST = 1_000
PAGING = 2_000
BURST_LATER = timedelta(minutes=6)
GOALS = {"steady_time_ratio": 2.0, "steady_reads": 50, "due_ratio": 1.5, "burst_ratio": 3.0}
OPS_KEYS = ("reads", "writes", "deletes", "failed_writes", "queries", "aggregations")


def say(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


# -- seeding ------------------------------------------------------------------------------------


def seed_overdue(ctx: Any, bucket: str, round_: int, count: int) -> None:
    """count buffers with one pending object each, registered an hour ago (real adapters)."""
    from registration.domain.model import BufferRef, ManifestKey, StorageObject

    past = datetime.now(UTC) - timedelta(hours=1)
    for index in range(count):
        buffer = BufferRef(bucket, f"due-{round_}/cam-{index:02d}", ManifestKey.IMAGES)
        obj = StorageObject(bucket, f"{buffer.folder}/frame.jpg", 1, size=1000)
        ctx.backends.buffers.ensure(buffer, past)
        ctx.backends.records.add_pending(buffer, obj, past)


def group_metadata(index: int, size: int = METADATA_BYTES) -> dict[str, str]:
    """About `size` bytes of custom metadata (as JSON), different for every object."""
    digest = hashlib.sha256(str(index).encode()).hexdigest()  # 64 characters
    fields: dict[str, str] = {}
    key = 0
    while len(json.dumps(fields)) < size - 80:
        fields[f"field_{key:02d}"] = digest
        key += 1
    return fields


def seed_group(ctx: Any, members: int, metadata_bytes: int) -> None:
    from registration.domain.model import BufferRef, ManifestKey, StorageObject

    buffer = BufferRef(GROUP_BUCKET, GROUP_FOLDER, ManifestKey.IMAGE_GROUPS)
    past = datetime.now(UTC) - timedelta(hours=1)
    ctx.backends.buffers.ensure(buffer, past)
    for start in range(0, members, 2_000):
        items = [
            (
                buffer,
                StorageObject(
                    GROUP_BUCKET,
                    f"{GROUP_FOLDER}/img_{index:05d}.jpg",
                    1_700_000_000_000_000 + index,
                    size=180_000,
                    content_type="image/jpeg",
                    custom_metadata=group_metadata(index, metadata_bytes),
                ),
            )
            for index in range(start, min(members, start + 2_000))
        ]
        ctx.backends.bulk.add_pending_many(items, past)


def storage_client() -> Any:
    """A client of the storage emulator named by STORAGE_EMULATOR_HOST."""
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    from devstack.stack import PROJECT

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


# -- measuring ----------------------------------------------------------------------------------


def measured(action: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    from bench import firestore_ops

    before = firestore_ops.COUNTER.snapshot()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    after = firestore_ops.COUNTER.snapshot()
    ops: dict[str, Any] = {key: int(after[key]) - int(before[key]) for key in OPS_KEYS}
    ops["seconds"] = round(seconds, 4)
    return result, ops


def warm(ctx: Any) -> Any:
    """Open the context's Firestore channel, so that no figure includes connecting."""
    ctx.backends.checkpoints.load("bench-warm-up")
    return ctx


def summarise_calls(first: dict[str, Any], repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The first call, and the repeats: median seconds, the last repeat's operations."""
    steady = dict(repeats[-1])
    steady["seconds"] = round(statistics.median(r["seconds"] for r in repeats), 4)
    steady["seconds_runs"] = [r["seconds"] for r in repeats]
    steady["reads_runs"] = sorted({r["reads"] for r in repeats})
    return {"first": first, "steady": steady}


def describe(ops: dict[str, Any]) -> str:
    return (
        f"{ops['reads']} reads, {ops['writes']} writes, {ops['queries']} queries, "
        f"{ops['aggregations']} counts, {1000 * ops['seconds']:.0f} ms"
    )


def idle_round(
    stack_wipe: Callable[[], None], client: Any, ctx_of: Callable[[], Any], size: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    from registration.services.status import status
    from registration.services.sweep import sweep

    stack_wipe()
    started = time.perf_counter()
    seed_idle_buffers(client, IDLE_BUCKET, size)
    seeded = time.perf_counter() - started
    ctx = warm(ctx_of())
    first_report, first = measured(lambda: sweep(ctx))
    if first_report.buffers_checked or first_report.errors:
        raise RuntimeError(f"the idle sweep visited buffers: {first_report.as_dict()}")
    repeats = [measured(lambda: sweep(ctx))[1] for _ in range(STEADY_REPEATS)]
    sweep_figures = summarise_calls(first, repeats)
    view, status_first = measured(lambda: status(ctx))
    status_repeats = [measured(lambda: status(ctx))[1] for _ in range(STEADY_REPEATS)]
    status_figures = summarise_calls(status_first, status_repeats)
    say(
        f"  {size:>6} idle buffers (seeded in {seeded:.1f} s; status shows "
        f"{len(view.buffers)} of {view.totals.buffers}):"
    )
    say(f"    sweep  first  {describe(sweep_figures['first'])}")
    say(f"    sweep  steady {describe(sweep_figures['steady'])} (median of {STEADY_REPEATS})")
    say(f"    status first  {describe(status_figures['first'])}")
    say(f"    status steady {describe(status_figures['steady'])} (median of {STEADY_REPEATS})")
    return sweep_figures, status_figures


def idle_scenarios(
    wipe: Callable[[], None], client: Any, ctx_of: Callable[[], Any], large: int
) -> dict[str, Any]:
    say(f"Sweep and status over idle buffers ({IDLE_SMALL}, {large}, {IDLE_SMALL} again):")
    results: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = {IDLE_SMALL: [], large: []}
    for size in (IDLE_SMALL, large, IDLE_SMALL):
        results[size].append(idle_round(wipe, client, ctx_of, size))

    def pick(which: int, size: int, phase: str) -> dict[str, Any]:
        rounds = [r[which][phase] for r in results[size]]
        chosen = dict(rounds[-1])
        chosen["seconds"] = round(statistics.median(r["seconds"] for r in rounds), 4)
        if len(rounds) > 1:
            chosen["seconds_rounds"] = [r["seconds"] for r in rounds]
        return chosen

    out: dict[str, Any] = {}
    for which, name in ((0, "sweep_idle_buffers"), (1, "status_idle_buffers")):
        small = {phase: pick(which, IDLE_SMALL, phase) for phase in ("first", "steady")}
        big = {phase: pick(which, large, phase) for phase in ("first", "steady")}
        ratio = {
            phase: {
                "seconds": round(big[phase]["seconds"] / small[phase]["seconds"], 2),
                "reads": round(big[phase]["reads"] / max(1, small[phase]["reads"]), 2),
            }
            for phase in ("first", "steady")
        }
        out[name] = {"buffers": {"small": IDLE_SMALL, "large": large}}
        out[name].update({"small": small, "large": big, "ratio_large_to_small": ratio})
    sweep_fig = out["sweep_idle_buffers"]
    sweep_fig["goal"] = "steady state <= 2x the 20-buffer sweep's seconds and <= 50 reads"
    sweep_fig["met"] = (
        sweep_fig["ratio_large_to_small"]["steady"]["seconds"] <= GOALS["steady_time_ratio"]
        and sweep_fig["large"]["steady"]["reads"] <= GOALS["steady_reads"]
    )
    return out


def due_scenarios(
    wipe: Callable[[], None], client: Any, ctx_of: Callable[[], Any], idle: int
) -> dict[str, Any]:
    from registration.services.sweep import sweep

    say(f"Due-work sweep: {DUE_BUFFERS} overdue buffers alone, then among {idle} idle buffers:")
    out: dict[str, Any] = {}
    for label, idle_count in (("alone", 0), ("among_idle", idle)):
        wipe()
        if idle_count:
            seed_idle_buffers(client, DUE_BUCKET, idle_count)
        ctx = warm(ctx_of())
        rounds = []
        for round_ in range(DUE_REPEATS):
            seed_overdue(ctx, DUE_BUCKET, round_, DUE_BUFFERS)
            report, ops = measured(functools.partial(sweep, ctx))
            if len(report.manifests_written) != DUE_BUFFERS or report.errors:
                raise RuntimeError(f"the due-work sweep missed work: {report.as_dict()}")
            ops["buffers_checked"] = report.buffers_checked
            rounds.append(ops)
            say(f"    {label:>10} round {round_ + 1}: {describe(ops)}")
        out[label] = {
            "idle_buffers": idle_count,
            "reads": int(statistics.median(r["reads"] for r in rounds)),
            "writes": int(statistics.median(r["writes"] for r in rounds)),
            "seconds": round(statistics.median(r["seconds"] for r in rounds), 4),
            "rounds": rounds,
        }
    ratio = {
        key: round(out["among_idle"][key] / max(out["alone"][key], 1e-9), 2)
        for key in ("reads", "writes", "seconds")
    }
    out["ratio_among_idle_to_alone"] = ratio
    out["goal"] = "close to 1 (reads and writes equal; seconds within noise)"
    out["met"] = (
        ratio["reads"] <= 1.05
        and ratio["writes"] <= 1.05
        and ratio["seconds"] <= GOALS["due_ratio"]
    )
    say(
        f"  among {idle} idle / alone: reads x{ratio['reads']}, writes x{ratio['writes']}, "
        f"seconds x{ratio['seconds']} (medians of {DUE_REPEATS} rounds)"
    )
    return out


def burst_round(ctx_of: Callable[[], Any], folders: int) -> dict[str, Any]:
    """One burst of new folders through the event path, and the two sweeps after it."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    from registration.clock import utc_now
    from registration.domain.model import StorageObject
    from registration.services.intake import register
    from registration.services.sweep import sweep
    from registration.services.threshold import ThresholdGate

    ctx = warm(ctx_of())
    sweep(ctx)  # a deployment that has swept before: its watermark and cursor exist
    gate = ThresholdGate()
    objects = [
        StorageObject(DUE_BUCKET, f"burst/cam-{index:04d}/frame.jpg", 1, size=1000)
        for index in range(folders)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda obj: register(ctx, obj, gate), objects))
    made = time.perf_counter() - started
    out: dict[str, Any] = {"folders": folders, "burst_seconds": round(made, 1)}
    # Right after: every folder is still marked open (an instance may hold its mark), so the
    # sweep checks each. After the closing margin (queue.py; a real wait, since it is
    # Firestore's clock that must pass) that sweep closes them; the next costs nothing.
    later = dataclasses.replace(ctx, clock=lambda: utc_now() + BURST_LATER)
    phases = (
        ("right_after", ctx, 0.0),
        ("closing", later, CLOSE_AFTER_IDLE_SECONDS + 2),
        ("after_closing", later, 0.0),
    )
    ended = time.perf_counter()
    for label, context, wait in phases:
        time.sleep(max(0.0, wait - (time.perf_counter() - ended)))  # from the burst's end
        report, ops = measured(functools.partial(sweep, context))
        if report.errors:
            raise RuntimeError(f"the sweep after the burst failed: {report.as_dict()}")
        out[label] = ops
        say(f"    {folders:>5} new folders, sweep {label:>13}: {describe(ops)}")
    return out


def burst_scenarios(
    wipe: Callable[[], None], ctx_of: Callable[[], Any], burst: int
) -> dict[str, Any]:
    say(f"Sweeps after a burst of new folders made by events ({IDLE_SMALL}, then {burst}):")
    out: dict[str, Any] = {}
    for label, size in (("small", IDLE_SMALL), ("burst", burst)):
        wipe()
        out[label] = burst_round(ctx_of, size)
    ratio = {
        phase: {
            key: round(out["burst"][phase][key] / max(out["small"][phase][key], 1e-9), 2)
            for key in ("reads", "seconds")
        }
        for phase in ("right_after", "closing", "after_closing")
    }
    out["ratio_burst_to_small"] = ratio
    out["goal"] = (
        f"once the folders are closed, a sweep after {burst} new folders <= 3x the one after "
        f"{IDLE_SMALL} (right after the burst, and in the sweep that closes them, it checks "
        "each: a cost of the burst's own work, for about a minute and a half)"
    )
    out["met"] = ratio["after_closing"]["seconds"] <= GOALS["burst_ratio"]
    say(f"  burst / small: {ratio}")
    return out


def paging_scenario(
    wipe: Callable[[], None], client: Any, ctx_of: Callable[[], Any], buffers: int
) -> dict[str, Any]:
    from registration.services.status import status

    say(f"status?all=1 paged through {buffers} idle buffers, 100 per page:")
    wipe()
    seed_idle_buffers(client, IDLE_BUCKET, buffers)
    ctx = warm(ctx_of())
    pages: list[dict[str, Any]] = []
    cursor = None
    shown = 0
    while True:
        view, ops = measured(functools.partial(status, ctx, cursor=cursor, everything=True))
        shown += len(view.buffers)
        pages.append(ops)
        cursor = view.next_cursor
        if cursor is None or len(pages) > buffers:
            break
    reads = [page["reads"] for page in pages]
    say(f"  {len(pages)} pages, {shown} rows; reads per page: {reads}")
    say(f"  seconds per page: {[page['seconds'] for page in pages]}")
    full = [page for page in pages if page is not pages[-1]] or pages
    return {
        "buffers": buffers,
        "rows": shown,
        "pages": len(pages),
        "reads_per_page": reads,
        "seconds_per_page": [page["seconds"] for page in pages],
        "queries_per_page": [page["queries"] for page in pages],
        "reads_last_full_to_first": round(full[-1]["reads"] / max(1, full[0]["reads"]), 2),
        "goal": "reads per page flat from the first page to the last",
        "met": shown == buffers and max(p["reads"] for p in full) <= 1.1 * full[0]["reads"],
    }


# -- the group flush's memory (a fresh process) ------------------------------------------------


def group_settings() -> Any:
    from registration.config import Settings

    return Settings(image_group_prefixes=("groups/",), max_age_seconds=900)


def group_flush_child() -> dict[str, Any]:
    import resource

    from bench import firestore_ops

    firestore_ops.install()
    from registration.bootstrap import build_context
    from registration.domain.model import BufferRef, ManifestKey
    from registration.services.flush import flush

    ctx = build_context(group_settings())
    buffer = BufferRef(GROUP_BUCKET, GROUP_FOLDER, ManifestKey.IMAGE_GROUPS)
    pending = ctx.backends.records.count_pending(buffer)  # opens the Firestore channel
    ctx.backends.manifests.write(GROUP_BUCKET, "bench/warm-up.txt", b"warm", "text/plain")
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report, ops = measured(lambda: flush(ctx, buffer, full_only=False))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if len(report.manifests) != 1:
        raise RuntimeError(f"the group flush wrote {report.manifests}")
    return {
        "members": pending,
        "peak_mb": round((peak_kb - baseline_kb) / 1024, 1),
        "process_peak_mb": round(peak_kb / 1024, 1),
        "baseline_mb": round(baseline_kb / 1024, 1),
        "seconds": ops["seconds"],
        "ops": ops,
        "manifest": report.manifests[0],
    }


class GroupFlushError(RuntimeError):
    pass


def group_flush(
    wipe: Callable[[], None], ctx_of: Callable[[], Any], members: int, metadata_bytes: int
) -> dict[str, Any]:

    say(
        f"Group flush: {members} image-group members with {metadata_bytes} bytes of custom "
        "metadata each (real flush against the emulators, fresh process):"
    )
    wipe()
    with contextlib.suppress(Exception):  # an earlier, larger attempt created it
        storage_client().create_bucket(GROUP_BUCKET)
    started = time.perf_counter()
    seed_group(ctx_of(), members, metadata_bytes)
    say(f"    seeded in {time.perf_counter() - started:.1f} s")
    log = Path(tempfile.gettempdir()) / "bench-group-flush.log"
    with log.open("w") as log_file:
        done = subprocess.run(
            [sys.executable, "-m", "bench.housekeeping", "--group-flush-child"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    if done.returncode != 0:
        lines = [line for line in log.read_text().splitlines() if line and line[0] != "{"]
        problem = lines[-1][:300] if lines else f"exit {done.returncode}"
        say(f"    FAILED: {problem}")
        raise GroupFlushError(problem)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["members"] != members:
        raise RuntimeError(f"{result['members']} members pending, expected {members}")
    manifest_bytes = (
        storage_client()
        .bucket(GROUP_BUCKET)
        .blob(result["manifest"].removeprefix(f"gs://{GROUP_BUCKET}/"))
    )
    manifest_bytes.reload()
    result["manifest_mb"] = round((manifest_bytes.size or 0) / 1024 / 1024, 2)
    result["metadata_bytes_per_member"] = len(json.dumps(group_metadata(0, metadata_bytes)))
    say(
        f"    flush {result['seconds']:.1f} s, +{result['peak_mb']:.0f} MB peak over the "
        f"process before the flush ({result['baseline_mb']:.0f} MB); whole process "
        f"{result['process_peak_mb']:.0f} MB; manifest {result['manifest_mb']} MB; "
        f"{result['ops']['reads']} reads, {result['ops']['writes']} writes"
    )
    return result


# -- running ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, firestore_host: str, storage_url: str) -> dict[str, Any]:
    from bench import firestore_ops

    firestore_ops.install()  # before the first Firestore client opens its channel
    import requests
    from google.cloud import firestore

    from devstack.stack import PROJECT
    from registration.bootstrap import build_context
    from registration.config import Settings

    os.environ.update(
        {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": firestore_host,
            "STORAGE_EMULATOR_HOST": storage_url,
        }
    )

    def wipe() -> None:
        url = (
            f"http://{firestore_host}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
        )
        requests.delete(url, timeout=120).raise_for_status()

    client = firestore.Client(project=PROJECT)
    with contextlib.suppress(Exception):  # the bench's own stack may already have it
        storage_client().create_bucket(DUE_BUCKET)
    figures: dict[str, Any] = {}
    if not args.skip_idle:
        figures.update(idle_scenarios(wipe, client, lambda: build_context(Settings()), args.idle))
    if not args.skip_due:
        due_ctx: Callable[[], Any] = lambda: build_context(Settings(max_age_seconds=900))  # noqa: E731
        figures["due_work_sweep"] = due_scenarios(wipe, client, due_ctx, args.due_idle)
    if not args.skip_burst:
        burst_ctx: Callable[[], Any] = lambda: build_context(Settings(batch_images=1))  # noqa: E731
        figures["burst_sweep"] = burst_scenarios(wipe, burst_ctx, args.burst)
    if not args.skip_paging:
        figures["status_all_paging"] = paging_scenario(
            wipe, client, lambda: build_context(Settings()), args.paging
        )
    if not args.skip_group:
        from registration.services.flush import MAX_GROUP_MEMBERS

        failures: list[dict[str, Any]] = []
        # The emulator refuses gRPC messages over 4 MiB (Firestore itself takes 10 MiB), and
        # the claim commits every member in one message: the largest group may not fit it.
        for members in dict.fromkeys([args.group_members or MAX_GROUP_MEMBERS, EMULATOR_GROUP]):
            try:
                group = group_flush(
                    wipe, lambda: build_context(group_settings()), members, args.metadata_bytes
                )
            except GroupFlushError as error:
                failures.append({"members": members, "problem": str(error)})
                continue
            figures["group_flush_peak_mb"] = group["peak_mb"]
            figures["group_flush"] = {**group, "failed_larger": failures}
            break
        else:
            figures["group_flush"] = {"failed": failures}
    wipe()
    return figures


def flat(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers, for the bench's one-line JSON."""
    out: dict[str, Any] = {}
    sweep_fig = figures.get("sweep_idle_buffers")
    if sweep_fig:
        out["sweep_idle_steady_reads"] = sweep_fig["large"]["steady"]["reads"]
        out["sweep_idle_steady_time_ratio"] = sweep_fig["ratio_large_to_small"]["steady"]["seconds"]
        out["sweep_idle_met"] = sweep_fig["met"]
    status_fig = figures.get("status_idle_buffers")
    if status_fig:
        out["status_idle_steady_reads"] = status_fig["large"]["steady"]["reads"]
        out["status_idle_steady_time_ratio"] = status_fig["ratio_large_to_small"]["steady"][
            "seconds"
        ]
    due = figures.get("due_work_sweep")
    if due:
        out["due_work_ratio"] = due["ratio_among_idle_to_alone"]
        out["due_work_met"] = due["met"]
    paging = figures.get("status_all_paging")
    if paging:
        out["status_all_reads_last_to_first_page"] = paging["reads_last_full_to_first"]
        out["status_all_paging_met"] = paging["met"]
    burst = figures.get("burst_sweep")
    if burst:
        out["burst_sweep_ratio"] = burst["ratio_burst_to_small"]
        out["burst_sweep_met"] = burst["met"]
    if "group_flush_peak_mb" in figures:
        out["group_flush_peak_mb"] = figures["group_flush_peak_mb"]
        out["group_flush_process_peak_mb"] = figures["group_flush"]["process_peak_mb"]
        out["group_flush_members"] = figures["group_flush"]["members"]
    failed = (figures.get("group_flush") or {}).get("failed_larger") or (
        figures.get("group_flush") or {}
    ).get("failed")
    if failed:
        out["group_flush_failed"] = failed
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.housekeeping")
    parser.add_argument("--firestore-host", help="use this emulator (it is wiped!)")
    parser.add_argument("--storage-url", help="its storage emulator (with --firestore-host)")
    parser.add_argument("--idle", type=int, default=IDLE_LARGE)
    parser.add_argument("--due-idle", type=int, default=DUE_IDLE)
    parser.add_argument("--group-members", type=int, default=0, help="0: MAX_GROUP_MEMBERS")
    parser.add_argument("--metadata-bytes", type=int, default=METADATA_BYTES)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-due", action="store_true")
    parser.add_argument("--skip-group", action="store_true")
    parser.add_argument("--burst", type=int, default=BURST, help="new folders in the burst")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--paging", type=int, default=PAGING, help="buffers to page through")
    parser.add_argument("--skip-paging", action="store_true")
    parser.add_argument("--group-flush-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.group_flush_child:
        with contextlib.redirect_stdout(sys.stderr):  # the service's log lines
            result = group_flush_child()
        print(json.dumps(result))
        return 0
    out: TextIO = sys.stdout
    log_path = Path(tempfile.gettempdir()) / "bench-housekeeping.log"
    with log_path.open("w") as log, contextlib.redirect_stdout(log):  # the service's log lines
        if args.firestore_host:
            figures = run(args, args.firestore_host, args.storage_url)
        else:
            from devstack.stack import local_stack

            with local_stack(Path(tempfile.mkdtemp(prefix="bench-housekeeping-"))) as stack:
                figures = run(args, stack.firestore_host, stack.storage.url)
    say(f"  (service log lines: {log_path})")
    print(json.dumps(figures, separators=(",", ":")), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
