"""Fault injection by wrapping the adapters: die or raise right after a named adapter call.

Nothing in registration/ knows about it. Each point sits right after one port call, which
is exactly where an instance killed between two lines of a use case would leave things:

    register.after_ensure_buffer   buffers.ensure
    register.after_add_pending     records.add_pending
    register.before_flush          records.count_pending (the threshold check)
    flush.after_lease              batches.acquire_lease, when it acquired the lease
    flush.after_release            batches.release_lease
    flush.after_claim              batches.claim, when it claimed a batch
    flush.after_manifest_write     manifests.write
    flush.after_mark_written       batches.mark_written

A plan reads like "flush.after_claim=kill:0.05,register.after_add_pending=raise": kill the
process (os._exit, skipping every cleanup, as a killed instance) or raise InjectedFaultError,
with an optional probability. tests/support/faulty_main.py serves main.py with the plan in
the TEST_FAULTS variable.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
from collections.abc import Callable
from typing import Any

from registration.domain.model import LeaseOutcome
from registration.services.ports import Backends

ENV_VAR = "TEST_FAULTS"
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


def parse(spec: str) -> dict[str, tuple[str, float]]:
    plan: dict[str, tuple[str, float]] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        point, _, action = part.partition("=")
        kind, _, probability = action.partition(":")
        if point not in POINTS:
            raise ValueError(f"{ENV_VAR}: unknown fault point {point!r}")
        if kind not in ("raise", "kill"):
            raise ValueError(f"{ENV_VAR}: unknown fault {kind!r} at {point!r}")
        plan[point] = (kind, float(probability or 1.0))
    return plan


class FaultPlan:
    """The armed points; re-armable by a test (configure), thread-safe."""

    def __init__(self, spec: str = "") -> None:
        self._lock = threading.Lock()
        self._plan = parse(spec)
        self.fired: list[str] = []

    def configure(self, spec: str) -> None:
        with self._lock:
            self._plan = parse(spec)

    def passed(self, point: str) -> None:
        with self._lock:
            fault = self._plan.get(point)
        if fault is None:
            return
        kind, probability = fault
        if random.random() >= probability:
            return
        self.fired.append(point)
        if kind == "kill":
            os._exit(KILL_EXIT_CODE)
        raise InjectedFaultError(point)


class _Faulty:
    """A port whose listed methods pass their fault points after they return."""

    def __init__(
        self,
        inner: Any,
        points: dict[str, list[tuple[str, Callable[[Any], bool]]]],
        plan: FaultPlan,
    ) -> None:
        self._inner = inner
        self._points = points
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        checks = self._points.get(name)
        if checks is None:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            for point, reached in checks:
                if reached(result):
                    self._plan.passed(point)
            return result

        return call


def with_faults(backends: Backends, plan: FaultPlan) -> Backends:
    """The same backends, each port wrapped so that armed points fire."""
    by_port: dict[str, dict[str, list[tuple[str, Callable[[Any], bool]]]]] = {}
    for point, (port, method, reached) in POINTS.items():
        by_port.setdefault(port, {}).setdefault(method, []).append((point, reached))
    wrapped = {
        port: _Faulty(getattr(backends, port), methods, plan) for port, methods in by_port.items()
    }
    return dataclasses.replace(backends, **wrapped)
