"""Test-only fault injection: raise or kill the process at named points.

Off unless REGISTRATION_TEST_FAULTS is set, e.g. "after_claim=raise,before_mark_written=kill:0.1"
(kill with probability 0.1). The crash tests use it to prove that every point is safe to die at.
"""

from __future__ import annotations

import os
import random

from registration.exceptions import InjectedFaultError

ENV_VAR = "REGISTRATION_TEST_FAULTS"
KILL_EXIT_CODE = 86

# Every point the service passes, in order; the crash tests iterate over this list.
POINTS = (
    "register.after_ensure_buffer",
    "register.after_add_pending",
    "register.before_flush",
    "flush.after_lease",
    "flush.after_release",
    "flush.after_claim",
    "flush.after_manifest_write",
    "flush.after_mark_written",
)

_faults: dict[str, tuple[str, float]] | None = None


def parse(spec: str) -> dict[str, tuple[str, float]]:
    faults: dict[str, tuple[str, float]] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        point, _, action = part.partition("=")
        kind, _, probability = action.partition(":")
        if kind not in ("raise", "kill"):
            raise ValueError(f"{ENV_VAR}: unknown fault {kind!r} at {point!r}")
        faults[point] = (kind, float(probability or 1.0))
    return faults


def configure(spec: str | None) -> None:
    """Set the faults for this process (tests); None re-reads the environment."""
    global _faults
    _faults = parse(spec if spec is not None else os.environ.get(ENV_VAR, ""))


def fault_point(point: str) -> None:
    if _faults is None:
        configure(None)
    assert _faults is not None
    assert point in POINTS, f"unlisted fault point {point!r}"
    fault = _faults.get(point)
    if fault is None:
        return
    kind, probability = fault
    if random.random() >= probability:
        return
    if kind == "kill":
        # os._exit skips every cleanup, like a killed instance.
        os._exit(KILL_EXIT_CODE)
    raise InjectedFaultError(point)
