"""CPU seconds used by a process tree, from /proc (Linux; no psutil needed).

The bench samples the Firestore emulator, the storage emulator, the function server and
itself around each load, to show where the machine's two cores went: on this machine the
emulator's Java process, not the function, is usually the bottleneck.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    except OSError:
        pass
    return found


def _own(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces; the fields after ')' are fixed.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def tree_seconds(pid: int) -> float:
    """User + system CPU seconds of the process and all its live descendants."""
    total = 0.0
    pending = [pid]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _own(current)
        pending.extend(_children(current))
    return total


def own_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), without children."""
    return _own(pid)


class CpuMeter:
    """CPU seconds per named reading (e.g. a process tree) between start() and stop()."""

    def __init__(self, readings: dict[str, Callable[[], float]]) -> None:
        self.readings = readings
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: read() for name, read in self.readings.items()}

    def stop(self) -> dict[str, float]:
        return {
            name: round(read() - self._before.get(name, 0.0), 2)
            for name, read in self.readings.items()
        }
