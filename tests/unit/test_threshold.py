"""threshold.py: the gate that skips needless counts, but never the one that finds a full batch.

Arrivals are simulated one by one against a counter standing in for count_pending: each
arrival adds its object, then asks the gate whether the buffer is full.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from registration.domain.model import BufferRef, ManifestKey
from registration.services.threshold import ThresholdGate

BUFFER = BufferRef("bkt", "cam", ManifestKey.IMAGES)
OTHER = BufferRef("bkt", "other", ManifestKey.IMAGES)


@dataclass
class Counter:
    """A buffer's pending objects, and how often the gate counted them."""

    pending: int = 0
    counts: int = 0

    def count(self) -> int:
        self.counts += 1
        return self.pending


def arrive(gate: ThresholdGate, buffer: Counter, size: int, ref: BufferRef = BUFFER) -> bool:
    buffer.pending += 1
    return gate.is_full(ref, size, buffer.count)


def test_the_first_arrival_at_a_buffer_counts() -> None:
    gate, buffer = ThresholdGate(), Counter()

    arrive(gate, buffer, 10)

    assert buffer.counts == 1


def test_a_buffer_already_full_is_reported_full_at_the_first_arrival() -> None:
    gate, buffer = ThresholdGate(), Counter(pending=9)

    assert arrive(gate, buffer, 10) is True


def test_after_a_count_that_finds_r_missing_the_next_r_over_2_checks_are_skipped() -> None:
    gate, buffer = ThresholdGate(), Counter(pending=19)
    arrive(gate, buffer, 100)  # counts 20: 80 missing, so 40 checks may be skipped

    skipped = 0
    while buffer.counts == 1:
        arrive(gate, buffer, 100)
        skipped += 1

    assert skipped - 1 == 80 // 2  # the last arrival of the loop is the one that counted


@given(
    size=st.integers(min_value=1, max_value=300),
    start=st.integers(min_value=0, max_value=299),
)
def test_no_count_is_followed_by_more_than_half_the_missing_skips(size: int, start: int) -> None:
    gate, buffer = ThresholdGate(), Counter(pending=min(start, size - 1))
    last_missing: int | None = None
    skipped = 0
    while buffer.pending < size:
        counts_before = buffer.counts
        arrive(gate, buffer, size)
        if buffer.counts > counts_before:
            if last_missing is not None:
                assert skipped <= last_missing // 2
            last_missing, skipped = size - buffer.pending, 0
        else:
            skipped += 1


def test_filling_a_batch_takes_about_log2_of_its_size_in_counts() -> None:
    gate, buffer = ThresholdGate(), Counter()

    while not arrive(gate, buffer, 1000):
        pass

    assert buffer.pending == 1000
    assert buffer.counts <= math.ceil(math.log2(1000)) + 1


Step = tuple[str, int]  # ("arrive", _) | ("withdraw", n) | ("flush", _)


@given(
    size=st.integers(min_value=1, max_value=40),
    start=st.integers(min_value=0, max_value=80),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("arrive"), st.just(0)),
            st.tuples(st.just("arrive"), st.just(0)),
            st.tuples(st.just("arrive"), st.just(0)),
            st.tuples(st.just("withdraw"), st.integers(min_value=1, max_value=5)),
            st.tuples(st.just("flush"), st.just(0)),
        ),
        max_size=200,
    ),
)
def test_on_one_instance_the_check_after_the_object_that_fills_the_buffer_is_never_skipped(
    size: int, start: int, steps: list[Step]
) -> None:
    """Deletes and flushes only lower the count, so they can only make a skip safer."""
    gate, buffer = ThresholdGate(), Counter(pending=start)
    for kind, amount in steps:
        if kind == "arrive":
            full = arrive(gate, buffer, size)
            # Full exactly when it is: a skip never hides a full buffer, and a skipped
            # check never claims one.
            assert full == (buffer.pending >= size), (buffer.pending, size)
            if full:
                buffer.pending -= size  # the threshold flush takes one batch
        elif kind == "withdraw":
            buffer.pending = max(0, buffer.pending - amount)
        else:
            buffer.pending %= size  # a sweep or a forced flush writes the full batches


def test_checks_that_arrive_while_a_count_is_in_flight_shorten_the_skip() -> None:
    size = 10
    gate, buffer = ThresholdGate(), Counter()

    def slow_count() -> int:
        # The count reads the buffer, then eight more objects arrive (and check) before
        # its answer gets back: the answer is eight objects out of date.
        seen = buffer.pending
        for _ in range(8):
            arrive(gate, buffer, size)
        return seen

    buffer.pending += 1
    assert gate.is_full(BUFFER, size, slow_count) is False
    assert buffer.pending == 9
    assert buffer.counts == 0  # the eight arrivals in flight did not count (slow_count did)

    assert arrive(gate, buffer, size) is True  # the tenth object: its check must happen


def test_arrivals_that_fill_the_buffer_while_it_is_counted_make_the_count_run_again() -> None:
    size = 5
    gate, buffer = ThresholdGate(), Counter()
    answers: list[bool] = []

    def slow_count() -> int:
        # The first count sees one object; four more arrive meanwhile and fill the batch.
        seen = buffer.pending
        if buffer.counts == 0:
            buffer.counts += 1
            answers.extend(arrive(gate, buffer, size) for _ in range(4))
        return seen

    buffer.pending += 1
    assert gate.is_full(BUFFER, size, slow_count) is True  # counted again, found full
    assert answers == [False] * 4  # none of them counted: the count in flight answered


def test_each_buffer_has_its_own_skips() -> None:
    gate, busy, quiet = ThresholdGate(), Counter(), Counter(pending=4)
    arrive(gate, busy, 100)  # 99 missing: the busy buffer may skip 49 checks

    assert arrive(gate, quiet, 5, ref=OTHER) is True
    assert quiet.counts == 1


class HookLock:
    """A lock that runs a step just after its next release, once armed: another event's
    check arriving in the gap between two of the gate's critical sections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.after_release: Callable[[], object] | None = None

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *_: object) -> None:
        self._lock.release()
        step, self.after_release = self.after_release, None
        if step is not None:
            step()


def test_an_arrival_just_after_a_count_has_answered_counts_for_itself() -> None:
    # The ninth object's count answers "9 of 10"; the tenth arrives the moment that answer
    # is given. It must count (and find the batch full): the count in flight no longer
    # answers for it.
    size, lock = 10, HookLock()
    gate, buffer = ThresholdGate(_lock=cast(Any, lock)), Counter(pending=8)
    tenth: list[bool] = []

    def count() -> int:
        lock.after_release = lambda: tenth.append(arrive(gate, buffer, size))
        return buffer.count()

    buffer.pending += 1
    assert gate.is_full(BUFFER, size, count) is False  # 9 of 10
    assert tenth == [True]
