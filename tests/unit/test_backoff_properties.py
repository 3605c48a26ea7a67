"""Retry timing stays a small, addable delay whatever the attempt count or Retry-After
(finding 3 of issue 19: 2**(attempts-1) overflowed after ~42 h of retries, and a huge
Retry-After overflowed the datetime it was added to)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from registration.domain.submission import FIRST_RETRY, LONGEST_RETRY, retry_delay

# How far Encord's Retry-After is trusted (issue 19: "capped, at 1 h say").
LONGEST_RETRY_AFTER = timedelta(hours=1)

# Late in the datetime range, so that an uncapped delay would overflow the addition.
NOW = datetime(9000, 1, 1, tzinfo=UTC)


@given(attempts=st.integers(min_value=1, max_value=10**6))
def test_the_backoff_is_between_30_s_and_an_hour_for_any_attempt_count(attempts: int) -> None:
    delay = retry_delay(attempts)
    assert FIRST_RETRY <= delay <= LONGEST_RETRY
    assert NOW + delay > NOW


@given(
    attempts=st.integers(min_value=1, max_value=10**6),
    retry_after=st.one_of(
        st.none(),
        st.integers(min_value=0, max_value=10**12),
        st.floats(min_value=0, max_value=1e12, allow_nan=False),
    ),
)
def test_retry_after_is_honoured_up_to_an_hour_and_never_overflows_the_next_attempt_time(
    attempts: int, retry_after: float | None
) -> None:
    delay = retry_delay(attempts, retry_after)
    assert delay <= max(LONGEST_RETRY, LONGEST_RETRY_AFTER)
    if retry_after is not None:
        assert delay >= min(timedelta(seconds=retry_after), LONGEST_RETRY_AFTER)
    assert NOW + delay > NOW


def test_a_batch_retried_for_weeks_still_gets_a_next_attempt_an_hour_away() -> None:
    assert retry_delay(10**6) == LONGEST_RETRY
    assert retry_delay(10**6, 10**12) == LONGEST_RETRY_AFTER
