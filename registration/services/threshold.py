"""When an event should count its buffer: the per-instance count-skipping rule.

A count() bills a read, so counting after every event costs a read per object. A count
that finds r objects still missing lets this instance skip up to r // 2 of its next checks
of that buffer: about log2(batch size) counts per batch. Every object the count did not see
reaches its own check after it, so skipping fewer than r (less the checks that arrived while
the count was on the wire) leaves a check after the one that fills the buffer, on one
instance. Checks that arrive while the instance is counting that buffer do not count
again: the count in flight answers for them, and counts again itself if they may have
filled the buffer. Across instances that is not guaranteed; the sweep catches a missed threshold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from registration.domain.model import BufferRef


@dataclass
class ThresholdGate:
    """Per-instance memory of how many checks of each buffer may still be skipped."""

    _skip: dict[BufferRef, int] = field(default_factory=dict)
    _arrivals: dict[BufferRef, int] = field(default_factory=dict)
    # Buffers this instance is counting right now.
    _counting: set[BufferRef] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def is_full(self, buffer: BufferRef, size: int, count: Callable[[], int]) -> bool:
        """Whether the buffer holds a full batch; counts only when a count is due."""
        with self._lock:
            self._arrivals[buffer] = issued = self._arrivals.get(buffer, 0) + 1
            left = self._skip.get(buffer, 0)
            if left > 0:
                self._skip[buffer] = left - 1
                return False
            if buffer in self._counting:
                # A check of this buffer is counting on this instance: it answers for this
                # arrival too (below), so a crowd of concurrent events costs one count.
                return False
            self._counting.add(buffer)
        try:
            while True:
                pending = count()
                with self._lock:
                    since = self._arrivals[buffer] - issued
                    missing = size - pending
                    if pending >= size or since < missing:
                        # Decided: stop answering for later arrivals in the same lock hold,
                        # so none of them can rely on a count that has already answered.
                        self._counting.discard(buffer)
                        # Not full: even every arrival during the count cannot fill it.
                        full = pending >= size
                        skip = 0 if full else min(missing // 2, missing - since - 1)
                        self._skip[buffer] = max(0, skip)
                        return full
                    # The arrivals during the count may have filled it: count again.
                    issued = self._arrivals[buffer]
        except BaseException:
            with self._lock:
                self._counting.discard(buffer)
            raise
