"""Stress: thousands of events, duplicates, deletes, overwrites and killed servers.

Drives the real stack (functions-framework + both emulators) the way Eventarc does: 16
concurrent senders, every event that did not get a 2xx is delivered again, 30% of events are
sent twice under new ids, all in shuffled order. The server is SIGKILLed on a timer and also
dies by itself at random flush points (TEST_FAULTS kill mode). At the end the sweep runs and
the invariant is checked from the manifests alone.

On top of that, each run injects one kind of backend fault (FAULT_KINDS), chosen by the seed
so that `make stress SEEDS="1 2 3 4 5"` exercises every kind (STRESS_FAULTS=all, or a comma
list of kinds, overrides the rotation):

  firestore_timeout    Firestore writes and transactions that apply and then time out
                       (DeadlineExceeded after the real call), in the event servers and the sweep
  storage_unavailable  the manifest write refused with 503 before writing
  storage_timeout      the manifest written, then DeadlineExceeded or requests' ReadTimeout
  firestore_outage     the event server reaches Firestore through tests/support/tcp_proxy.py,
                       which on a timer refuses connections for a few seconds and resets open
                       streams mid-request (RST)
  listing              objects whose events never came are backfilled and reconciled through
                       listings that break off mid-iteration, failing stats and repairs that
                       die half-way; every run that fails is run again

An event answered 5xx or with a dropped connection is delivered again, and the sweep reruns
until it converges, as the platform and Cloud Scheduler would. The summary line counts the
faults that fired per kind (the servers append each to a file, $TEST_FAULTS_LOG).

STRESS_SEED picks the scenario (`make stress` runs several seeds).
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.cloud.storage as storage
import pytest
import requests
from google.api_core.exceptions import GoogleAPICallError

from devstack import cloudevents
from devstack.stack import Process, Stack, StackError, free_port, start_function
from registration.bootstrap import build_backends
from registration.clock import utc_now
from registration.domain.events import DELETED, FINALIZED
from registration.manifest.urls import parse_object_url
from registration.services.backfill import backfill
from registration.services.ports import Context
from registration.services.reconcile import reconcile
from tests.e2e.conftest import Serve, read_manifests, registered_names
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget
from tests.support.faults import ENV_VAR as FAULTS_VAR
from tests.support.faults import KILL_EXIT_CODE, LOG_ENV_VAR, FaultPlan, with_faults
from tests.support.legal_names import AWKWARD_CHARACTERS, awkward_file_stem
from tests.support.tcp_proxy import TcpProxy

SEED = int(os.environ.get("STRESS_SEED", "1"))
SENDERS = 16
BATCH_IMAGES = 50
FLUSHING_FOLDERS = 8
NAMES_PER_FOLDER = 200
HELD_NAMES = 200  # videos, batch 1000: never flushed before the final sweep
DUPLICATE_SHARE = 0.30
# Names of the flushing folders drawn from the legal alphabet (tests/support/legal_names.py).
LEGAL_ALPHABET_SHARE = 0.25
DEADLINE_SECONDS = 900
TIMED_KILLS = 4
MAX_SWEEPS = 10

KILL_FAULTS = (
    "register.after_add_pending=kill:0.002,flush.after_claim=kill:0.03,"
    "flush.after_manifest_write=kill:0.03,flush.after_lease=kill:0.02"
)
EVENT_SETTINGS = {
    "REGISTRATION_BATCH_IMAGES": str(BATCH_IMAGES),
    "REGISTRATION_BATCH_VIDEOS": "1000",
    "REGISTRATION_LEASE_SECONDS": "3",
}

# Fault plans (tests/support/faults.py) that the event servers and the sweep run with.
FAULT_KINDS: dict[str, str] = {
    "firestore_timeout": (
        "buffers.ensure=timeout_after:0.005,records.add_pending=timeout_after:0.01,"
        "records.withdraw=timeout_after:0.02,rejections.record=timeout_after:0.2,"
        "batches.acquire_lease=timeout_after:0.03,batches.claim=timeout_after:0.05,"
        "batches.release_lease=timeout_after:0.05,batches.mark_written=timeout_after:0.1"
    ),
    "storage_unavailable": "manifests.write=unavailable:0.3",
    "storage_timeout": ("manifests.write=timeout_after:0.2,manifests.write=read_timeout_after:0.1"),
    "firestore_outage": "",  # the TCP proxy, on a timer
    "listing": "",  # the backfill and reconcile phase, in this process
}
ROTATION = list(FAULT_KINDS)
OUTAGES = 3
OUTAGE_SECONDS = 3.0
RESET_EVERY = (1.0, 4.0)  # seconds between resets of the open streams
MISSED_NAMES = 120  # listing: objects whose finalize never came
MISSED_DELETES = 10  # ... of which deleted unseen after the backfill
LATE_NAMES = 10  # ... and uploaded unseen after it
LISTING_FAULTS = (
    "source.list_objects=unavailable:0.03,source.list_objects=timeout_after:0.01,"
    "bulk.add_pending_many=timeout_after:0.15,checkpoints.save=timeout_after:0.05"
)
RECONCILE_FAULTS = (
    "source.list_objects=unavailable:0.005,source.stat=unavailable:0.05,"
    "source.stat=read_timeout_after:0.03,bulk.add_pending_many=timeout_after:0.3,"
    "records.withdraw=timeout_after:0.2,rejections.record_many=unavailable:0.2"
)
MAX_RUNS = 100
# What a sweep may report while things converge: locks held by transactions of killed
# instances, and the faults injected into the sweep itself.
TRANSIENT = ("Aborted", "Failed to commit transaction", "injected fault")


def fault_kinds(seed: int) -> list[str]:
    chosen = os.environ.get("STRESS_FAULTS", "").strip()
    if chosen == "all":
        return ROTATION
    if chosen:
        kinds = [kind.strip() for kind in chosen.split(",") if kind.strip()]
        unknown = set(kinds) - set(FAULT_KINDS)
        assert not unknown, f"STRESS_FAULTS: unknown kinds {sorted(unknown)}"
        return kinds
    return [ROTATION[(seed - 1) % len(ROTATION)]]


def plan_for(kinds: list[str]) -> str:
    return ",".join(FAULT_KINDS[kind] for kind in kinds if FAULT_KINDS[kind])


@dataclass
class Scenario:
    events: list[tuple[str, dict[str, Any]]]
    must_appear_once: set[str]
    must_never_appear: set[str]
    may_appear_once: set[str] = field(default_factory=set)


def build_scenario(bucket: str, rng: random.Random) -> Scenario:
    events: list[tuple[str, dict[str, Any]]] = []
    once: set[str] = set()
    never: set[str] = set()
    at_most_once: set[str] = set()

    def life(name: str, content_type: str, *, deletable: bool, held: bool) -> None:
        generation = rng.randrange(10**6, 10**9)
        data = cloudevents.object_data(bucket, name, generation, content_type=content_type)
        events.append((FINALIZED, data))
        latest = data
        if rng.random() < 0.15:  # overwritten: GCS sends the new finalize and the old delete
            newer = dict(data, generation=str(generation + rng.randrange(1, 1000)))
            events.append((FINALIZED, newer))
            events.append((DELETED, data))
            latest = newer
        if deletable and rng.random() < (0.25 if held else 0.05):
            events.append((DELETED, latest))
            (never if held else at_most_once).add(name)
        else:
            once.add(name)

    for folder in range(FLUSHING_FOLDERS):
        for index in range(NAMES_PER_FOLDER):
            # A share of the names is drawn from Cloud Storage's legal alphabet: tabs, other
            # controls, bidi and zero-width characters, emoji (issue 18).
            stem = awkward_file_stem(rng) if rng.random() < LEGAL_ALPHABET_SHARE else "img"
            life(
                f"stress/f{folder}/{stem}_{index:04d}.jpg", "image/jpeg", deletable=True, held=False
            )
    for index in range(HELD_NAMES):
        life(f"stress/held/clip_{index:04d}.mp4", "video/mp4", deletable=True, held=True)
    duplicates = [event for event in events if rng.random() < DUPLICATE_SHARE]
    events += duplicates
    rng.shuffle(events)
    return Scenario(events, once, never, at_most_once)


class Supervisor:
    """Keeps one on_storage_event server alive on a fixed port, and kills it on request."""

    def __init__(self, stack: Stack, extra_env: dict[str, str]) -> None:
        self.stack = stack
        self.extra_env = extra_env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.process: Process = self._start()
        self.restarts = 0

    def _start(self) -> Process:
        for _ in range(10):
            try:
                return start_function(
                    "on_storage_event",
                    self.stack.env({**EVENT_SETTINGS, **self.extra_env}),
                    self.stack.log_dir,
                    port=self.port,
                    source="tests/support/faulty_main.py",
                )
            except StackError:
                time.sleep(0.5)  # a killed server may hold the port for a moment
        raise StackError("on_storage_event could not be restarted")

    def ensure_alive(self) -> None:
        with self.lock:
            if self.process.popen.poll() is not None:
                self.process = self._start()
                self.restarts += 1

    def kill(self) -> None:
        with self.lock:
            self.process.kill()

    def stop(self) -> None:
        with self.lock:
            self.process.stop()


def deliver(
    supervisor: Supervisor,
    events: list[tuple[str, dict[str, Any]]],
    proxy: TcpProxy | None = None,
) -> Counter[str]:
    """Deliver every event until it gets a 2xx, as Eventarc does with retries enabled."""
    work: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    for event in events:
        work.put(event)
    outcomes: Counter[str] = Counter()
    outcomes_lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_SECONDS
    remaining = [len(events)]

    def sender() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            try:
                event_type, data = work.get(timeout=0.2)
            except queue.Empty:
                with outcomes_lock:
                    if remaining[0] == 0:
                        return
                continue
            try:
                status = cloudevents.post(
                    supervisor.url,
                    event_type,
                    data,
                    session=session,
                    event_id=uuid.uuid4().hex,
                    timeout=60,
                ).status_code
            except requests.RequestException:
                status = 0
            with outcomes_lock:
                outcomes[str(status)] += 1
                if 200 <= status < 300:
                    remaining[0] -= 1
                    continue
            work.put((event_type, data))  # redelivered later, possibly to a new instance
            time.sleep(0.1)

    def watchdog() -> None:
        rng = random.Random(SEED)
        kills_at = sorted(rng.uniform(2, 25) for _ in range(TIMED_KILLS))
        outages_at = sorted(rng.uniform(3, 40) for _ in range(OUTAGES))
        next_reset = rng.uniform(*RESET_EVERY)
        started = time.monotonic()
        while any(thread.is_alive() for thread in threads):
            elapsed = time.monotonic() - started
            if kills_at and elapsed >= kills_at[0]:
                kills_at.pop(0)
                supervisor.kill()
                outcomes["timed kill"] += 1
            if proxy is not None and outages_at and elapsed >= outages_at[0]:
                outages_at.pop(0)
                proxy.outage(OUTAGE_SECONDS)
            elif proxy is not None and elapsed >= next_reset and not proxy.down:
                proxy.reset_open()
                next_reset = elapsed + rng.uniform(*RESET_EVERY)
            supervisor.ensure_alive()
            time.sleep(0.1)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    for thread in threads:
        thread.join()
    guard.join()
    assert remaining[0] == 0, f"{remaining[0]} events never acknowledged: {outcomes}"
    return outcomes


def until_it_succeeds(run: Any, failures: Counter[str], label: str) -> Any:
    """Run again what died of a backend fault, as an operator or a scheduled job would."""
    for _ in range(MAX_RUNS):
        try:
            return run()
        except (GoogleAPICallError, OSError):
            failures[label] += 1
    raise AssertionError(f"{label} still failing after {MAX_RUNS} runs")


def listing_phase(
    bucket: str, gcs: storage.Client, scenario: Scenario, encord: EncordTarget
) -> Counter[str]:
    """Objects whose events never came: backfilled, then some deleted and some added unseen
    and reconciled with repair, all through failing listings, stats and commits. The ops
    commands run with the deployment's settings, Encord target included."""
    names = [f"stress/missed/img_{index:04d}.jpg" for index in range(MISSED_NAMES)]
    late = [f"stress/missed/late_{index:04d}.jpg" for index in range(LATE_NAMES)]
    deleted = random.Random(SEED).sample(names, MISSED_DELETES)
    source = gcs.bucket(bucket)
    for name in names:
        source.blob(name).upload_from_string(b"\xff\xd8", content_type="image/jpeg")
    settings = encord.settings(batch_images=BATCH_IMAGES, batch_videos=1000, lease_seconds=3)
    plan = FaultPlan(LISTING_FAULTS, seed=SEED)
    ctx = Context(settings, with_faults(build_backends(settings), plan), utc_now)
    failures: Counter[str] = Counter()
    report = until_it_succeeds(
        lambda: backfill(ctx, bucket, "stress/missed/", chunk_size=20), failures, "backfill runs"
    )
    assert report.finished
    for name in deleted:
        source.blob(name).delete()
    for name in late:
        source.blob(name).upload_from_string(b"\xff\xd8", content_type="image/jpeg")
    plan.configure(RECONCILE_FAULTS)
    until_it_succeeds(
        lambda: reconcile(ctx, bucket, "stress/missed/", repair=True),
        failures,
        "reconcile runs",
    )
    plan.configure("")
    final = reconcile(ctx, bucket, "stress/missed/", repair=False)
    assert final.missed == [] and final.pending_gone == [], final.as_dict()
    scenario.must_appear_once.update(set(names) - set(deleted), late)
    # Deleted after the backfill: in a manifest if its batch was claimed first, else withdrawn.
    scenario.may_appear_once.update(deleted)
    fired = plan.counts() + Counter({f"failed {label}": n for label, n in failures.items()})
    return Counter({f"listing {label}": n for label, n in fired.items()})


def kind_of(label: str) -> str:
    """Which fault kind of the summary a fired fault belongs to."""
    target, _, fault = label.partition("=")
    if label.startswith("proxy "):
        return "firestore_outage"
    if label.startswith("listing "):
        return "listing"
    if not fault or fault == "kill":
        return "kill"
    if target.startswith("manifests."):
        return "storage_unavailable" if fault == "unavailable" else "storage_timeout"
    return "firestore_timeout"


def fault_counts(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(line for line in log.read_text().splitlines() if line)


@pytest.fixture
def encord() -> Iterator[EncordTarget]:
    # Submission is on for the whole run: every manifest is also an upload job on the stub.
    with EncordStub(polls_until_done=1) as stub:
        yield EncordTarget.on(stub)


@pytest.mark.stress
def test_every_live_object_lands_in_exactly_one_manifest_through_duplicates_deletes_and_kills(
    emulators: Stack,
    bucket: str,
    serve: Serve,
    gcs: storage.Client,
    encord: EncordTarget,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    kinds = fault_kinds(SEED)
    plan = plan_for(kinds)
    scenario = build_scenario(bucket, random.Random(SEED))
    assert len(scenario.events) >= 2000
    fault_log = tmp_path / "faults.log"
    monkeypatch.setenv(LOG_ENV_VAR, str(fault_log))  # every server of this run counts there
    monkeypatch.setenv("ENCORD_SSH_KEY", encord.private_key)  # every server signs with it
    extra = {FAULTS_VAR: ",".join(filter(None, [KILL_FAULTS, plan])), **encord.env()}
    proxy = None
    if "firestore_outage" in kinds:
        host, _, port = emulators.firestore_host.rpartition(":")
        proxy = TcpProxy(host, int(port)).start()
        extra["FIRESTORE_EMULATOR_HOST"] = proxy.address
    supervisor = Supervisor(emulators, extra)
    try:
        started = time.perf_counter()
        outcomes = deliver(supervisor, scenario.events, proxy)
        elapsed = time.perf_counter() - started
    finally:
        supervisor.stop()
        if proxy is not None:
            proxy.close()
    crashes = supervisor.restarts
    # A fault-point kill ends the gunicorn worker handling the request (os._exit); gunicorn
    # then starts a new one, which its log records.
    worker_kills = supervisor.process.log_path.read_text(errors="replace").count(
        f"exited with code {KILL_EXIT_CODE}"
    )
    print(
        f"\nseed {SEED} [{', '.join(kinds)}]: {len(scenario.events)} events in {elapsed:.1f} s, "
        f"{crashes} server restarts, {worker_kills} workers killed at fault points, "
        f"outcomes {dict(outcomes)}"
    )
    assert crashes >= TIMED_KILLS

    listing = listing_phase(bucket, gcs, scenario, encord) if "listing" in kinds else Counter()

    # The sweep runs with the same backend faults (not the kills): it must converge anyway.
    sweeper = serve(
        "sweep",
        faults=plan,
        batch_images=BATCH_IMAGES,
        batch_videos=1000,
        max_age_seconds=1,
        lease_seconds=1,
        **encord.setting_values(),
    )
    time.sleep(1.5)
    with requests.Session() as session:
        # Two sweeps at once, then one more: concurrent sweeps must be safe.
        results: list[dict[str, Any]] = []
        pair = [
            threading.Thread(
                target=lambda: results.append(session.post(sweeper.url, timeout=300).json())
            )
            for _ in range(2)
        ]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
        # Transactions of killed instances hold emulator locks until they time out, so a
        # sweep may report a transient backend error for a buffer (and answer 500, which
        # Cloud Scheduler records); so may a fault injected into the sweep. Nothing else is
        # acceptable, and it must converge: keep sweeping, as the scheduler would, until a
        # run finds nothing left and no error.
        # A sweep that failed may leave a batch it claimed: it is finished once it is a
        # lease (1 s) old, so each run waits that long and "nothing left" means nothing
        # flushed, nothing finished and no error.
        for _ in range(MAX_SWEEPS):
            time.sleep(1.5)
            final = session.post(sweeper.url, timeout=300).json()
            results.append(final)
            if final["errors"] == [] == final["manifests_written"] == final["batches_completed"]:
                break
        # Then until Encord has every job's end: the sweep submits what an outage or a kill
        # left unsubmitted (after a lease), and polls each job to DONE.
        for _ in range(MAX_SWEEPS):
            written = {path.rsplit("/", 1)[-1] for path in read_manifests(gcs, bucket)}
            done_now = {job.file_name for job in encord.jobs() if job.status == "DONE"}
            if written and written <= done_now:
                unfinished = session.post(sweeper.url, timeout=300).json()
                results.append(unfinished)
                if unfinished["submitted"] == [] == unfinished["errors"]:
                    break
            time.sleep(1.5)
            results.append(session.post(sweeper.url, timeout=300).json())
    problems = [error["error"] for result in results for error in result["errors"]]
    assert all(any(mark in problem for mark in TRANSIENT) for problem in problems), problems
    last = results[-1]
    assert last["errors"] == [] == last["manifests_written"] == last["batches_completed"], results

    manifests = read_manifests(gcs, bucket)
    counts = Counter(registered_names(manifests))
    doubled = {name for name, n in counts.items() if n > 1}
    lost = scenario.must_appear_once - set(counts)
    fired = fault_counts(fault_log) + listing
    if proxy is not None:
        fired.update({f"proxy {name}": n for name, n in proxy.stats.items()})
    by_kind: Counter[str] = Counter()
    for label, n in fired.items():
        by_kind[kind_of(label)] += n
    awkward = {name for name in counts if any(char in AWKWARD_CHARACTERS for char in name)}
    assert awkward, "the scenario drew no names from the legal alphabet"
    print(
        f"seed {SEED} summary [{', '.join(kinds)}]: lost {len(lost)}, doubled {len(doubled)}, "
        f"{len(counts)} registered in {len(manifests)} manifests "
        f"({len(awkward)} named from the legal alphabet), "
        f"{len(results)} sweeps ({len(problems)} sweep errors); faults by kind {dict(by_kind)}; "
        f"fired {dict(sorted(fired.items()))}"
    )
    assert doubled == set(), "registered twice"
    assert lost == set(), f"lost objects: {sorted(lost)[:20]}"
    # Encord's own records: every registered object is registered there exactly once, and
    # nothing else is (a resubmitted manifest registers nothing new).
    in_encord = encord.stub.registered_urls(encord.target)
    print(
        f"seed {SEED} encord: {len(encord.jobs())} jobs for {len(manifests)} manifests, "
        f"{len(in_encord)} URLs registered, max {max(in_encord.values(), default=0)} times"
    )
    assert {parse_object_url(url)[1] for url in in_encord} == set(counts)
    assert set(in_encord.values()) == {1}
    # Each manifest's job that the batch records reached DONE. A job whose id was lost (the
    # window: killed after Encord accepted it) is never polled, so it may stay PENDING; its
    # manifest was submitted again, and that job is DONE.
    done = {job.file_name for job in encord.jobs() if job.status == "DONE"}
    assert done == {path.rsplit("/", 1)[-1] for path in manifests}
    assert scenario.must_never_appear & set(counts) == set(), "deleted objects registered"
    assert set(counts) <= scenario.must_appear_once | scenario.may_appear_once
    for body in manifests.values():
        if "images" in body:
            assert len(body["images"]) <= BATCH_IMAGES
        else:
            assert len(body["videos"]) <= 1000
    # The injected kinds did fire: the proof is not vacuous.
    for kind in kinds:
        if FAULT_KINDS[kind]:
            targets = {entry.partition(":")[0] for entry in FAULT_KINDS[kind].split(",")}
            assert any(label in targets for label in fired), (kind, fired)
    if proxy is not None:
        assert proxy.stats["outages"] == OUTAGES and proxy.stats["connections reset"] > 0
    if "listing" in kinds:
        assert any(label.startswith("listing failed") for label in listing), listing
