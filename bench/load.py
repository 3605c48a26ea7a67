"""The event load: 2,000 finalize CloudEvents over 8 folders, posted by 16 concurrent senders.

Each sender thread has its own requests.Session (keep-alive) and takes the next event from a
shared queue, so the 16 stay busy until the last event. A request's latency is the wall time
the sender waited for the answer: what Eventarc would see. Bodies and headers are built
before the clock starts, so the load measures the server, not the JSON encoder.
"""

from __future__ import annotations

import json
import math
import queue
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from devstack import cloudevents
from registration.domain.events import FINALIZED

EVENTS = 2_000
FOLDERS = 8
SENDERS = 16


@dataclass(frozen=True)
class Event:
    name: str
    body: bytes
    headers: dict[str, str]


def make_events(bucket: str, count: int = EVENTS, folders: int = FOLDERS) -> list[Event]:
    """Finalize events for images spread round-robin over `folders` folders."""
    events = []
    for index in range(count):
        name = f"site/cam {index % folders}/frame_{index:06d}.jpg"
        data: dict[str, Any] = cloudevents.object_data(
            bucket, name, 1_700_000_000_000_000 + index, size=180_000, content_type="image/jpeg"
        )
        events.append(Event(name, json.dumps(data).encode(), cloudevents.headers(FINALIZED, data)))
    return events


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 2,000 values is the 1,980th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    events: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    failures: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    def line(self) -> str:
        return (
            f"{self.events} events in {self.seconds:.2f} s = {self.events_per_s:.1f}/s, "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
            + (f", {len(self.failures)} FAILED" if self.failures else "")
        )


def send(url: str, events: list[Event], senders: int = SENDERS) -> LoadResult:
    """Post every event once from `senders` threads; time from first send to last answer."""
    work: queue.SimpleQueue[Event] = queue.SimpleQueue()
    for event in events:
        work.put(event)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(senders + 1)

    def sender() -> None:
        mine: list[float] = []
        bad: list[str] = []
        with requests.Session() as session:
            start.wait()
            while True:
                try:
                    event = work.get_nowait()
                except queue.Empty:
                    break
                began = time.perf_counter()
                try:
                    response = session.post(
                        url, data=event.body, headers=event.headers, timeout=300
                    )
                    status = response.status_code
                except requests.RequestException as error:
                    status = 0
                    bad.append(f"{event.name}: {error!r}")
                mine.append((time.perf_counter() - began) * 1000)
                if status and status >= 300:
                    bad.append(f"{event.name}: HTTP {status}")
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in range(senders)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return LoadResult(len(events), seconds, latencies, failures)
