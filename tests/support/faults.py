"""Fault injection by wrapping the adapters: die, raise or fail like a backend at a port call.

Nothing in registration/ knows about it. Two kinds of targets:

Named points, each right after one port call, which is exactly where an instance killed
between two lines of a use case would leave things:

    register.after_ensure_buffer   buffers.ensure
    register.after_add_pending     records.add_pending
    register.before_flush          records.count_pending (the threshold check)
    flush.after_lease              batches.acquire_lease, when it acquired the lease
    flush.after_release            batches.release_lease
    flush.after_claim              batches.claim, when it claimed a batch
    flush.after_manifest_write     manifests.write
    flush.after_mark_written       batches.mark_written

  and one more on the Encord port, kept apart (SUBMISSION_POINTS) because it fires only
  when a target is configured:

    encord.after_start             encord.start, once Encord accepted the job and before
                                   its id is recorded (the exactly-once window; use `kill`:
                                   submit() treats any exception from start as a failed try)

  with the faults `kill` (os._exit, skipping every cleanup, as a killed instance) and
  `raise` (InjectedFaultError: the request dies there).

Port methods, `port.method` for any port of services.ports.Backends, failing the way the
Google client libraries fail:

    unavailable          google.api_core ServiceUnavailable BEFORE the call: nothing happened
    timeout_after        the real call runs (its write applies), THEN DeadlineExceeded: the
                         caller cannot tell that it worked (a commit that applied and timed out)
    read_timeout_after   the same with requests' ReadTimeout (the Cloud Storage transport)
    raise, kill          as at a named point, after the call

  For methods that return an iterator (a listing) the faults fire per item instead:
  `unavailable` before an item is handed out, `timeout_after` after it was consumed, so a
  listing breaks off mid-iteration.

A plan reads like "flush.after_claim=kill:0.05,records.add_pending=timeout_after:0.01,
manifests.write=unavailable:0.05,manifests.write=timeout_after:0.05": each entry a fault
with an optional probability (1 by default); one target may carry several. Every fault
that fires is appended to FaultPlan.fired and, when the plan has a log path (faulty_main.py
takes it from $TEST_FAULTS_LOG), written as one line "target=kind" to that file before it
acts, so a killed process still leaves its count. tests/support/faulty_main.py serves main.py
with the plan in $TEST_FAULTS.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions

from registration.domain.model import LeaseOutcome
from registration.services.ports import Backends

ENV_VAR = "TEST_FAULTS"
LOG_ENV_VAR = "TEST_FAULTS_LOG"
KILL_EXIT_CODE = 86


class InjectedFaultError(RuntimeError):
    """Raised at an armed fault point: the request dies there."""

    def __init__(self, point: str) -> None:
        self.point = point
        super().__init__(f"injected fault at {point}")


def _always(_result: Any) -> bool:
    return True


# point -> (port, method, does this result reach the point?)
POINTS: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "register.after_ensure_buffer": ("buffers", "ensure", _always),
    "register.after_add_pending": ("records", "add_pending", _always),
    "register.before_flush": ("records", "count_pending", _always),
    "flush.after_lease": ("batches", "acquire_lease", lambda r: r is LeaseOutcome.ACQUIRED),
    "flush.after_release": ("batches", "release_lease", _always),
    "flush.after_claim": ("batches", "claim", lambda r: r is not None),
    "flush.after_manifest_write": ("manifests", "write", _always),
    "flush.after_mark_written": ("batches", "mark_written", _always),
}
# Points that need an Encord target (services/submit.py); not in POINTS, whose every entry
# the crash-point test reaches without one.
SUBMISSION_POINTS: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "encord.after_start": ("encord", "start", _always),
}
ALL_POINTS = {**POINTS, **SUBMISSION_POINTS}

POINT_FAULTS: tuple[str, ...] = ("raise", "kill")
METHOD_FAULTS: tuple[str, ...] = (
    "unavailable",
    "timeout_after",
    "read_timeout_after",
    "raise",
    "kill",
)
# Every field of Backends that is a port (the policy is a setting, not a port).
PORTS = tuple(field.name for field in dataclasses.fields(Backends) if field.name != "policy")
# Port methods that return an iterator: their faults fire per item, mid-iteration.
ITERATING = frozenset({"source.list_objects", "bulk.live_records", "buffers.all"})

Plan = dict[str, list[tuple[str, float]]]


def parse(spec: str) -> Plan:
    plan: Plan = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        target, _, action = part.partition("=")
        kind, _, probability = action.partition(":")
        if target in ALL_POINTS:
            allowed = POINT_FAULTS
        else:
            port, _, method = target.partition(".")
            if port not in PORTS or not method or method.startswith("_"):
                raise ValueError(f"{ENV_VAR}: unknown fault point {target!r}")
            allowed = METHOD_FAULTS
        if kind not in allowed:
            raise ValueError(f"{ENV_VAR}: unknown fault {kind!r} at {target!r}")
        plan.setdefault(target, []).append((kind, float(probability or 1.0)))
    return plan


class FaultPlan:
    """The armed targets; re-armable by a test (configure), thread-safe."""

    def __init__(
        self, spec: str = "", *, log_path: str | Path | None = None, seed: int | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._plan = parse(spec)
        self._random = random.Random(seed)
        if seed is None:
            # gunicorn forks its workers after the import that built this plan: without a
            # new seed each replacement of a killed worker would replay the same draws and
            # die at the same call again, forever.
            os.register_at_fork(after_in_child=self._random.seed)
        self._log_path = None if log_path is None else str(log_path)
        self.fired: list[str] = []

    def configure(self, spec: str) -> None:
        with self._lock:
            self._plan = parse(spec)

    def counts(self) -> Counter[str]:
        """How often each "target=kind" fired in this process."""
        with self._lock:
            return Counter(self.fired)

    def _roll(self, target: str, kinds: Iterable[str]) -> str | None:
        """The first armed fault of these kinds at target that fires now, if any."""
        with self._lock:
            for kind, probability in self._plan.get(target, ()):
                if kind in kinds and self._random.random() < probability:
                    label = f"{target}={kind}" if target not in ALL_POINTS else target
                    self.fired.append(label)
                    self._log(label)
                    return kind
        return None

    def _log(self, label: str) -> None:
        if self._log_path is None:
            return
        # One O_APPEND write per line: safe across the processes and workers of a run.
        fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{label}\n".encode())
        finally:
            os.close(fd)

    def passed(self, point: str) -> None:
        """A named point (or a port method's raise/kill) was reached."""
        kind = self._roll(point, POINT_FAULTS)
        if kind == "kill":
            os._exit(KILL_EXIT_CODE)
        if kind == "raise":
            raise InjectedFaultError(point)

    def before(self, target: str) -> None:
        if self._roll(target, ("unavailable",)):
            raise api_exceptions.ServiceUnavailable(f"injected fault: {target} unavailable")

    def after(self, target: str) -> None:
        kind = self._roll(target, ("timeout_after", "read_timeout_after"))
        if kind == "timeout_after":
            raise api_exceptions.DeadlineExceeded(f"injected fault: {target} timed out after")
        if kind == "read_timeout_after":
            raise requests.exceptions.ReadTimeout(f"injected fault: {target} read timed out")
        self.passed(target)

    def iterate(self, target: str, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.before(target)
            yield item
            self.after(target)


class _Faulty:
    """A port whose methods pass their fault points and method faults around each call."""

    def __init__(
        self,
        port: str,
        inner: Any,
        points: dict[str, list[tuple[str, Callable[[Any], bool]]]],
        plan: FaultPlan,
    ) -> None:
        self._port = port
        self._inner = inner
        self._points = points
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute
        target = f"{self._port}.{name}"
        checks = self._points.get(name, [])
        plan = self._plan
        if name == "session":
            # An invocation's Encord session (services/invocation.py) is the same port: its
            # calls keep their faults.
            def session(*args: Any, **kwargs: Any) -> _Faulty:
                return _Faulty(self._port, attribute(*args, **kwargs), self._points, plan)

            return session

        def call(*args: Any, **kwargs: Any) -> Any:
            if target in ITERATING:
                return plan.iterate(target, iter(attribute(*args, **kwargs)))
            plan.before(target)
            result = attribute(*args, **kwargs)
            for point, reached in checks:
                if reached(result):
                    plan.passed(point)
            plan.after(target)
            return result

        return call


def with_faults(backends: Backends, plan: FaultPlan) -> Backends:
    """The same backends, each port wrapped so that armed points and method faults fire."""
    by_port: dict[str, dict[str, list[tuple[str, Callable[[Any], bool]]]]] = {}
    for point, (port, method, reached) in ALL_POINTS.items():
        by_port.setdefault(port, {}).setdefault(method, []).append((point, reached))
    # An absent port stays absent: a wrapped None would read as a configured Encord target.
    # One object behind several ports (the Encord gateway behind encord, encord_items,
    # deletes and links) stays one wrapper, so invocation.begin still binds them together.
    wrapped: dict[str, Any] = {}
    by_object: dict[int, _Faulty] = {}
    for port in PORTS:
        target = getattr(backends, port)
        if target is None:
            continue
        shared = port in ("encord", "encord_items", "deletes", "links")
        if shared and id(target) in by_object:
            wrapped[port] = by_object[id(target)]
            continue
        wrapped[port] = _Faulty(port, target, by_port.get(port, {}), plan)
        if shared:
            by_object[id(target)] = wrapped[port]
    return dataclasses.replace(backends, **wrapped)
