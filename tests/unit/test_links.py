"""domain/links.py: one link state per dataset, decided purely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from registration.domain.links import (
    DatasetLink,
    Linked,
    LinkEvent,
    LinkRefused,
    LinkRetry,
    LinkState,
    due,
    due_at,
    needs_person,
    new_links,
    on_link,
)

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_a_jobs_end_makes_one_pending_link_per_dataset_due_at_once() -> None:
    links = new_links(["a", "b", "a"], NOW)
    assert [(k.dataset, k.state, k.next_attempt_at) for k in links] == [
        ("a", LinkState.PENDING, NOW),
        ("b", LinkState.PENDING, NOW),
    ]
    assert due_at(links) == NOW
    assert due(links, NOW) == links
    assert new_links([], NOW) == () and due_at(()) is None


def test_a_retry_waits_and_a_refusal_asks_a_person() -> None:
    links = new_links(["a", "b"], NOW)
    later = NOW + timedelta(seconds=30)
    after = on_link(links, LinkRetry("a", 0, later, "503"))
    assert after is not None
    assert due(after, NOW) == (links[1],)
    refused = on_link(after, LinkRefused("b", 0, "no access"))
    assert refused is not None
    assert due_at(refused) == later  # the refused link is never due again
    assert needs_person(refused, None) and not needs_person(after, None)
    assert needs_person((), "topic deleted")


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["linked", "retry", "refused"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=3),
    ),
    max_size=15,
)


def event(kind: str, dataset: str, attempt: int) -> LinkEvent:
    if kind == "linked":
        return Linked(dataset, attempt, 1, 0)
    if kind == "retry":
        return LinkRetry(dataset, attempt, NOW + timedelta(seconds=30), "503")
    return LinkRefused(dataset, attempt, "refused")


@given(EVENTS)
def test_a_link_ends_once_and_is_never_reopened_whatever_results_arrive(
    events: list[tuple[str, str, int]],
) -> None:
    links: tuple[DatasetLink, ...] = new_links(["a", "b"], NOW)
    ended: dict[str, DatasetLink] = {}
    for kind, dataset, attempt in events:
        before = {k.dataset: k for k in links}
        after = on_link(links, event(kind, dataset, attempt))
        if after is None:
            # Declined: no such dataset, the link ended, or another attempt was recorded.
            assert (
                dataset not in before
                or before[dataset].state is not LinkState.PENDING
                or before[dataset].attempts != attempt
            )
            continue
        links = after
        changed = {k.dataset: k for k in links}[dataset]
        assert changed.attempts == before[dataset].attempts + 1
        if changed.state is not LinkState.PENDING:
            ended[dataset] = changed
    for link in links:
        if link.dataset in ended:
            assert link == ended[link.dataset]  # an ended link never changed again
    assert {k.dataset for k in links} == {"a", "b"}
