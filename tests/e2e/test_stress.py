"""Stress: thousands of events, duplicates, deletes, overwrites and killed servers.

Drives the real stack (functions-framework + both emulators) the way Eventarc does: 16
concurrent senders, every event that did not get a 2xx is delivered again, 30% of events are
sent twice under new ids, all in shuffled order. The server is SIGKILLed on a timer and also
dies by itself at random flush points (REGISTRATION_TEST_FAULTS kill mode). At the end the
sweep runs and the invariant is checked from the manifests alone.

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
from dataclasses import dataclass, field
from typing import Any

import google.cloud.storage as storage
import pytest
import requests

from devstack import cloudevents
from devstack.stack import Process, Stack, StackError, free_port, start_function
from registration.domain.events import DELETED, FINALIZED
from tests.e2e.conftest import Serve, read_manifests, registered_names
from tests.support.faults import ENV_VAR as FAULTS_VAR
from tests.support.faults import KILL_EXIT_CODE

SEED = int(os.environ.get("STRESS_SEED", "1"))
SENDERS = 16
BATCH_IMAGES = 50
FLUSHING_FOLDERS = 8
NAMES_PER_FOLDER = 200
HELD_NAMES = 200  # videos, batch 1000: never flushed before the final sweep
DUPLICATE_SHARE = 0.30
DEADLINE_SECONDS = 900
TIMED_KILLS = 4
MAX_SWEEPS = 10

EVENT_SETTINGS = {
    "REGISTRATION_BATCH_IMAGES": str(BATCH_IMAGES),
    "REGISTRATION_BATCH_VIDEOS": "1000",
    "REGISTRATION_LEASE_SECONDS": "3",
    FAULTS_VAR: (
        "register.after_add_pending=kill:0.002,flush.after_claim=kill:0.03,"
        "flush.after_manifest_write=kill:0.03,flush.after_lease=kill:0.02"
    ),
}


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
            life(f"stress/f{folder}/img_{index:04d}.jpg", "image/jpeg", deletable=True, held=False)
    for index in range(HELD_NAMES):
        life(f"stress/held/clip_{index:04d}.mp4", "video/mp4", deletable=True, held=True)
    duplicates = [event for event in events if rng.random() < DUPLICATE_SHARE]
    events += duplicates
    rng.shuffle(events)
    return Scenario(events, once, never, at_most_once)


class Supervisor:
    """Keeps one on_storage_event server alive on a fixed port, and kills it on request."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
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
                    self.stack.env(EVENT_SETTINGS),
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


def deliver(supervisor: Supervisor, events: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
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
        kills_at = sorted(random.Random(SEED).uniform(2, 25) for _ in range(TIMED_KILLS))
        started = time.monotonic()
        while any(thread.is_alive() for thread in threads):
            if kills_at and time.monotonic() - started >= kills_at[0]:
                kills_at.pop(0)
                supervisor.kill()
                outcomes["timed kill"] += 1
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


@pytest.mark.stress
def test_every_live_object_lands_in_exactly_one_manifest_through_duplicates_deletes_and_kills(
    emulators: Stack, bucket: str, serve: Serve, gcs: storage.Client
) -> None:
    scenario = build_scenario(bucket, random.Random(SEED))
    assert len(scenario.events) >= 2000
    supervisor = Supervisor(emulators)
    try:
        started = time.perf_counter()
        outcomes = deliver(supervisor, scenario.events)
        elapsed = time.perf_counter() - started
    finally:
        supervisor.stop()
    crashes = supervisor.restarts
    # A fault-point kill ends the gunicorn worker handling the request (os._exit); gunicorn
    # then starts a new one, which its log records.
    worker_kills = supervisor.process.log_path.read_text(errors="replace").count(
        f"exited with code {KILL_EXIT_CODE}"
    )
    print(
        f"\nseed {SEED}: {len(scenario.events)} events in {elapsed:.1f} s, "
        f"{crashes} server restarts, {worker_kills} workers killed at fault points, "
        f"outcomes {dict(outcomes)}"
    )
    assert crashes >= TIMED_KILLS

    sweeper = serve(
        "sweep", batch_images=BATCH_IMAGES, batch_videos=1000, max_age_seconds=1, lease_seconds=1
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
        # Cloud Scheduler records). Nothing else is acceptable, and it must converge: keep
        # sweeping, as the scheduler would, until a run finds nothing left and no error.
        for _ in range(MAX_SWEEPS):
            final = session.post(sweeper.url, timeout=300).json()
            results.append(final)
            if final["errors"] == [] and final["manifests_written"] == []:
                break
            time.sleep(2)
    problems = [error["error"] for result in results for error in result["errors"]]
    transient = ("Aborted", "Failed to commit transaction")
    assert all(any(mark in problem for mark in transient) for problem in problems), problems
    assert results[-1]["errors"] == [] and results[-1]["manifests_written"] == [], results

    manifests = read_manifests(gcs, bucket)
    counts = Counter(registered_names(manifests))
    assert {name for name, n in counts.items() if n > 1} == set(), "registered twice"
    assert scenario.must_appear_once - set(counts) == set(), "lost objects"
    assert scenario.must_never_appear & set(counts) == set(), "deleted objects registered"
    assert set(counts) <= scenario.must_appear_once | scenario.may_appear_once
    for body in manifests.values():
        if "images" in body:
            assert len(body["images"]) <= BATCH_IMAGES
        else:
            assert len(body["videos"]) <= 1000
