"""lifecycle.py: what one finalize or delete does to the record of one object name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.domain.lifecycle import (
    REPORT,
    DeleteAction,
    EncordOutcome,
    FinalizeAction,
    ObjectRecord,
    ObjectState,
    Policy,
    Resolution,
    may_follow_up,
    notes_follow_up,
    on_delete,
    on_finalize,
    on_job_end,
    resolve,
)

PENDING, CLAIMED, DELETED = (
    ObjectState.PENDING,
    ObjectState.CLAIMED,
    ObjectState.DELETED,
)
G = 5  # the generation the record holds
OLDER, SAME, NEWER = G - 1, G, G + 1


def record(state: ObjectState) -> ObjectRecord:
    return ObjectRecord(state, G)


# The record each decision leaves behind, as both stores write it (the Firestore adapter
# and tests/support/memory.py): a new generation to buffer becomes pending, a tombstone or
# a withdrawal becomes deleted, and every other decision leaves the record untouched.


def after_finalize(current: ObjectRecord | None, generation: int) -> ObjectRecord | None:
    if on_finalize(current, generation) is FinalizeAction.BUFFER:
        return ObjectRecord(PENDING, generation)
    return current


def after_delete(current: ObjectRecord | None, generation: int) -> ObjectRecord | None:
    if on_delete(current, generation) in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
        return ObjectRecord(DELETED, generation)
    return current


# -- the decision tables ----------------------------------------------------------------

FINALIZE_TABLE = [
    (None, SAME, FinalizeAction.BUFFER),
    (PENDING, OLDER, FinalizeAction.STALE),
    (PENDING, SAME, FinalizeAction.DUPLICATE),
    (PENDING, NEWER, FinalizeAction.BUFFER),
    (CLAIMED, OLDER, FinalizeAction.STALE),
    (CLAIMED, SAME, FinalizeAction.DUPLICATE),
    (CLAIMED, NEWER, FinalizeAction.OVERWRITES_REGISTERED),
    (DELETED, OLDER, FinalizeAction.STALE),
    (DELETED, SAME, FinalizeAction.ALREADY_DELETED),
    (DELETED, NEWER, FinalizeAction.BUFFER),
]

DELETE_TABLE = [
    (None, SAME, DeleteAction.TOMBSTONE),
    (PENDING, OLDER, DeleteAction.STALE),
    (PENDING, SAME, DeleteAction.WITHDRAW),
    (PENDING, NEWER, DeleteAction.TOMBSTONE),
    (CLAIMED, OLDER, DeleteAction.STALE),
    (CLAIMED, SAME, DeleteAction.DELETED_AFTER_REGISTRATION),
    (CLAIMED, NEWER, DeleteAction.DELETED_AFTER_REGISTRATION),
    (DELETED, OLDER, DeleteAction.STALE),
    (DELETED, SAME, DeleteAction.DUPLICATE),
    (DELETED, NEWER, DeleteAction.TOMBSTONE),
]


def _case_id(state: ObjectState | None, generation: int) -> str:
    relation = {OLDER: "older", SAME: "same", NEWER: "newer"}[generation]
    return "no-record" if state is None else f"{state.value}-{relation}"


@pytest.mark.parametrize(
    ("state", "generation", "action"),
    [pytest.param(*case, id=_case_id(case[0], case[1])) for case in FINALIZE_TABLE],
)
def test_a_finalize_decides_by_the_records_state_and_generation(
    state: ObjectState | None, generation: int, action: FinalizeAction
) -> None:
    assert on_finalize(None if state is None else record(state), generation) is action


@pytest.mark.parametrize(
    ("state", "generation", "action"),
    [pytest.param(*case, id=_case_id(case[0], case[1])) for case in DELETE_TABLE],
)
def test_a_delete_decides_by_the_records_state_and_generation(
    state: ObjectState | None, generation: int, action: DeleteAction
) -> None:
    assert on_delete(None if state is None else record(state), generation) is action


def test_the_tables_cover_every_state_and_every_generation_relation() -> None:
    expected = {(state, relation) for state in ObjectState for relation in (OLDER, SAME, NEWER)}
    for table in (FINALIZE_TABLE, DELETE_TABLE):
        assert {(state, generation) for state, generation, _ in table if state} == expected


@pytest.mark.parametrize(
    ("state", "generation", "after"),
    [
        (None, SAME, ObjectRecord(PENDING, SAME)),
        (PENDING, NEWER, ObjectRecord(PENDING, NEWER)),
        (DELETED, NEWER, ObjectRecord(PENDING, NEWER)),
        # Everything else leaves the record as it was.
        (PENDING, OLDER, ObjectRecord(PENDING, G)),
        (PENDING, SAME, ObjectRecord(PENDING, G)),
        (CLAIMED, NEWER, ObjectRecord(CLAIMED, G)),
        (DELETED, SAME, ObjectRecord(DELETED, G)),
    ],
)
def test_the_record_a_finalize_leaves_behind(
    state: ObjectState | None, generation: int, after: ObjectRecord
) -> None:
    assert after_finalize(None if state is None else record(state), generation) == after


@pytest.mark.parametrize(
    ("state", "generation", "after"),
    [
        (None, SAME, ObjectRecord(DELETED, SAME)),
        (PENDING, SAME, ObjectRecord(DELETED, SAME)),
        (PENDING, NEWER, ObjectRecord(DELETED, NEWER)),
        (DELETED, NEWER, ObjectRecord(DELETED, NEWER)),
        # Everything else leaves the record as it was.
        (PENDING, OLDER, ObjectRecord(PENDING, G)),
        (CLAIMED, SAME, ObjectRecord(CLAIMED, G)),
        (CLAIMED, NEWER, ObjectRecord(CLAIMED, G)),
        (DELETED, SAME, ObjectRecord(DELETED, G)),
    ],
)
def test_the_record_a_delete_leaves_behind(
    state: ObjectState | None, generation: int, after: ObjectRecord
) -> None:
    assert after_delete(None if state is None else record(state), generation) == after


def test_a_delete_that_arrives_before_its_finalize_wins() -> None:
    tombstone = after_delete(None, 7)
    assert on_finalize(tombstone, 7) is FinalizeAction.ALREADY_DELETED
    assert after_finalize(tombstone, 7) == ObjectRecord(DELETED, 7)


def test_an_overwrite_whose_finalize_overtakes_the_old_delete_keeps_the_new_generation() -> None:
    # Overwriting g1 with g2 emits finalize(g2) and delete(g1); they may arrive either way.
    overtaken = after_delete(after_finalize(after_finalize(None, 1), 2), 1)
    in_order = after_finalize(after_delete(after_finalize(None, 1), 1), 2)
    assert overtaken == in_order == ObjectRecord(PENDING, 2)


# -- properties -------------------------------------------------------------------------

Event = tuple[str, int]  # ("finalize" | "delete", generation)

EVENTS = st.lists(
    st.tuples(st.sampled_from(["finalize", "delete"]), st.integers(min_value=1, max_value=6)),
    min_size=1,
    max_size=12,
)


def apply(events: Iterable[Event], start: ObjectRecord | None = None) -> ObjectRecord | None:
    current = start
    for kind, generation in events:
        if kind == "finalize":
            current = after_finalize(current, generation)
        else:
            current = after_delete(current, generation)
    return current


def live_generation(events: Iterable[Event]) -> int | None:
    """The generation GCS still serves once every event has happened, or None."""
    events = set(events)
    finalized = [generation for kind, generation in events if kind == "finalize"]
    if not finalized:
        return None
    newest = max(finalized)
    deleted = [generation for kind, generation in events if kind == "delete"]
    return None if any(generation >= newest for generation in deleted) else newest


def registrable(current: ObjectRecord | None) -> int | None:
    return current.generation if current and current.state is PENDING else None


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """(the distinct events, the same events delivered in any order, each one or more times)."""
    events = draw(EVENTS)
    delivered = [
        event for event in events for _ in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    return events, draw(st.permutations(delivered))


@given(deliveries())
def test_any_order_and_any_duplication_leaves_the_same_live_registrable_generation(
    case: tuple[list[Event], list[Event]],
) -> None:
    """The invariant, for the events E of one object name (finalize and delete only):

    Let G be the highest generation any event in E names. Whatever the order of arrival,
    and however often each event arrives, the record ends as (G, DELETED) if E holds the
    delete of G, and as (G, PENDING) otherwise.

    So the record is PENDING with generation g exactly when g is the newest finalized
    generation and no delete in E names a generation >= g. Not just "g itself was not
    deleted": generations only grow, so a delete of some h > g proves g was replaced by h
    and h is gone too, even if h's finalize is late or was never delivered. And a delete
    of h < g is the overwrite's removal of an older generation, which must not touch g.
    """
    events, delivered = case
    in_order = apply(events)
    shuffled = apply(delivered)
    assert shuffled == in_order
    assert registrable(shuffled) == live_generation(events)
    newest = max(generation for _, generation in events)
    assert shuffled is not None
    assert shuffled.generation == newest
    assert (shuffled.state is DELETED) == (("delete", newest) in events)


@given(EVENTS, st.sampled_from(["finalize", "delete"]), st.integers(min_value=1, max_value=6))
def test_a_redelivered_event_changes_nothing(
    events: list[Event], kind: str, generation: int
) -> None:
    once = apply([*events, (kind, generation)])
    assert apply([(kind, generation)], once) == once


@given(
    st.sampled_from(list(ObjectState)),
    st.integers(min_value=2, max_value=100),
    st.data(),
)
def test_a_delete_of_an_older_generation_never_changes_any_record(
    state: ObjectState, generation: int, data: st.DataObject
) -> None:
    older = data.draw(st.integers(min_value=1, max_value=generation - 1))
    current = ObjectRecord(state, generation)
    assert on_delete(current, older) is DeleteAction.STALE
    assert after_delete(current, older) == current


@given(deliveries(), st.integers(min_value=1, max_value=6), st.data())
def test_a_delete_of_an_older_generation_never_withdraws_the_newer_one(
    case: tuple[list[Event], list[Event]], older: int, data: st.DataObject
) -> None:
    """Wherever a delete of h arrives, if some generation g > h was finalized, it is a no-op."""
    events, delivered = case
    newer = data.draw(st.integers(min_value=older + 1, max_value=older + 6))
    with_newer = [*delivered, ("finalize", newer)]
    position = data.draw(st.integers(min_value=0, max_value=len(with_newer)))
    with_delete = [*with_newer[:position], ("delete", older), *with_newer[position:]]
    assert apply(with_delete) == apply(with_newer)
    if live_generation([*events, ("finalize", newer)]) is not None:
        assert registrable(apply(with_delete)) is not None


@given(deliveries())
def test_a_finalize_of_an_older_generation_never_revives_or_replaces_anything(
    case: tuple[list[Event], list[Event]],
) -> None:
    _, delivered = case
    final = apply(delivered)
    assert final is not None
    for generation in range(1, final.generation):
        assert on_finalize(final, generation) is FinalizeAction.STALE
        assert after_finalize(final, generation) == final


@given(st.integers(min_value=1, max_value=50), deliveries())
def test_a_claimed_record_is_never_changed_by_any_event(
    generation: int, case: tuple[list[Event], list[Event]]
) -> None:
    """Once in a manifest, later deletes and overwrites are reported to ops, not undone."""
    claimed = ObjectRecord(CLAIMED, generation)
    assert apply(case[1], claimed) == claimed
    for kind, event_generation in case[1]:
        if kind == "delete" and event_generation >= generation:
            assert on_delete(claimed, event_generation) is DeleteAction.DELETED_AFTER_REGISTRATION
        if kind == "finalize" and event_generation > generation:
            assert on_finalize(claimed, event_generation) is FinalizeAction.OVERWRITES_REGISTERED


# -- after a job's end (issue 20) -----------------------------------------------------------

REGISTERED, REFUSED = EncordOutcome.REGISTERED, EncordOutcome.REFUSED


def after_job_end(
    current: ObjectRecord | None, generation: int, outcome: EncordOutcome
) -> ObjectRecord | None:
    """The record a job's outcome leaves, as both stores write it (on_job_end says whether)."""
    if on_job_end(current, generation, outcome):
        assert current is not None
        return ObjectRecord(current.state, current.generation, outcome)
    return current


def test_a_refused_file_uploaded_again_is_buffered_and_its_older_finalize_stays_stale() -> None:
    refused = ObjectRecord(CLAIMED, G, REFUSED)
    assert on_delete(refused, SAME) is DeleteAction.TOMBSTONE
    assert on_delete(refused, OLDER) is DeleteAction.STALE
    assert on_finalize(refused, NEWER) is FinalizeAction.BUFFER
    assert after_finalize(refused, NEWER) == ObjectRecord(PENDING, NEWER)
    assert on_finalize(refused, SAME) is FinalizeAction.DUPLICATE
    assert on_finalize(refused, OLDER) is FinalizeAction.STALE


def test_a_registered_file_overwritten_is_still_reported_under_the_default_policy() -> None:
    registered = ObjectRecord(CLAIMED, G, REGISTERED)
    assert on_finalize(registered, NEWER) is FinalizeAction.OVERWRITES_REGISTERED
    assert on_delete(registered, SAME) is DeleteAction.DELETED_AFTER_REGISTRATION


@pytest.mark.parametrize(
    ("current", "generation", "outcome", "written"),
    [
        (ObjectRecord(CLAIMED, G), SAME, REGISTERED, True),
        (ObjectRecord(CLAIMED, G), SAME, REFUSED, True),
        (ObjectRecord(CLAIMED, G, REGISTERED), SAME, REGISTERED, True),  # a redelivered sweep
        (ObjectRecord(CLAIMED, G, REGISTERED), SAME, REFUSED, False),  # never changed by another
        (ObjectRecord(CLAIMED, G), OLDER, REGISTERED, False),  # another generation's outcome
        (ObjectRecord(PENDING, G), SAME, REGISTERED, False),  # not (or no longer) in a batch
        (ObjectRecord(PENDING, NEWER), SAME, REGISTERED, False),  # came back after a refusal
        (ObjectRecord(DELETED, G), SAME, REGISTERED, False),
        (None, SAME, REGISTERED, False),
    ],
)
def test_a_jobs_outcome_is_written_only_on_the_claimed_record_of_its_own_generation(
    current: ObjectRecord | None, generation: int, outcome: EncordOutcome, written: bool
) -> None:
    assert on_job_end(current, generation, outcome) is written


JobEvent = tuple[str, int]  # ("finalize" | "delete" | "refused" | "registered", generation)


def apply_with_jobs(events: Iterable[JobEvent], start: ObjectRecord | None) -> ObjectRecord | None:
    current = start
    for kind, generation in events:
        if kind in ("refused", "registered"):
            current = after_job_end(current, generation, EncordOutcome(kind))
        elif kind == "finalize":
            current = after_finalize(current, generation)
        else:
            current = after_delete(current, generation)
    return current


@given(
    st.sampled_from([REGISTERED, REFUSED]),
    st.lists(
        st.tuples(
            st.sampled_from(["finalize", "delete", "refused", "registered"]),
            st.integers(min_value=1, max_value=6),
        ),
        max_size=12,
    ),
)
def test_a_later_generation_after_a_job_end_is_registrable_only_when_encord_refused(
    outcome: EncordOutcome, later: list[JobEvent]
) -> None:
    """A claimed generation g whose job ended: a newer finalize is buffered again exactly
    when Encord refused g (default policies), whatever else arrives, in any order, more than
    once; and no outcome for another generation ever lands on the record."""
    ended = after_job_end(ObjectRecord(CLAIMED, 3), 3, outcome)
    final = apply_with_jobs(later, ended)
    assert final is not None
    newer_finalized = any(kind == "finalize" and g > 3 for kind, g in later)
    if outcome is REGISTERED:
        assert final == ObjectRecord(CLAIMED, 3, REGISTERED)
        return
    # Refused: from here on the name behaves as if never registered.
    assert final.encord in (None, REFUSED)  # no job outcome ever lands on a newer record
    plain = [(kind, g) for kind, g in later if kind in ("finalize", "delete") and g >= 3]
    if newer_finalized:
        assert registrable(final) == live_generation([("finalize", 3), *plain])
    else:
        assert registrable(final) is None


# -- policies: deletes and overwrites carried over to Encord (issue 20) ---------------------

DELETE, REPLACE = Policy(delete=True), Policy(replace=True)
BOTH = Policy(delete=True, replace=True)
REGISTERED_G = ObjectRecord(CLAIMED, G, REGISTERED)


@pytest.mark.parametrize(
    ("policy", "finalize_newer", "delete_same"),
    [
        (REPORT, FinalizeAction.OVERWRITES_REGISTERED, DeleteAction.DELETED_AFTER_REGISTRATION),
        (DELETE, FinalizeAction.OVERWRITES_REGISTERED, DeleteAction.FOLLOW_UP),
        (REPLACE, FinalizeAction.REPLACE, DeleteAction.FOLLOW_UP),
        (BOTH, FinalizeAction.REPLACE, DeleteAction.FOLLOW_UP),
    ],
)
def test_a_registered_generations_delete_or_overwrite_is_noted_for_the_sweep_by_policy(
    policy: Policy, finalize_newer: FinalizeAction, delete_same: DeleteAction
) -> None:
    assert on_finalize(REGISTERED_G, NEWER, policy) is finalize_newer
    assert on_delete(REGISTERED_G, SAME, policy) is delete_same
    # Whatever the policy: older events are stale, so a stale delete never reaches the item.
    assert on_delete(REGISTERED_G, OLDER, policy) is DeleteAction.STALE
    assert on_finalize(REGISTERED_G, OLDER, policy) is FinalizeAction.STALE
    assert on_finalize(REGISTERED_G, SAME, policy) is FinalizeAction.DUPLICATE


@pytest.mark.parametrize(
    ("outcome", "live", "policy", "resolution"),
    [
        (None, None, BOTH, Resolution.WAIT),
        (REGISTERED, G, BOTH, Resolution.CANCEL),
        (REGISTERED, None, REPORT, Resolution.REPORT_DELETED),
        (REGISTERED, None, DELETE, Resolution.DELETE_ITEM),
        (REGISTERED, None, REPLACE, Resolution.REPORT_DELETED),
        (REGISTERED, NEWER, REPORT, Resolution.REPORT_OVERWRITTEN),
        (REGISTERED, NEWER, DELETE, Resolution.REPORT_OVERWRITTEN),
        (REGISTERED, NEWER, REPLACE, Resolution.REPLACE_ITEM),
        (REFUSED, NEWER, REPORT, Resolution.BUFFER_LIVE),
        (EncordOutcome.RELEASED, NEWER, BOTH, Resolution.BUFFER_LIVE),
        (EncordOutcome.RELEASED, None, BOTH, Resolution.TOMBSTONE),
    ],
)
def test_the_sweep_resolves_a_follow_up_by_the_live_generation_and_the_policy(
    outcome: EncordOutcome | None, live: int | None, policy: Policy, resolution: Resolution
) -> None:
    record = ObjectRecord(CLAIMED, G, outcome, follow_up=True)
    assert resolve(record, live, policy) is resolution


@dataclass
class World:
    """One object name under a policy: the bucket, the record, what Encord holds, the
    rejections. Every change goes through the pure decisions, as the stores and the sweep
    make them (services/follow_up.py)."""

    policy: Policy
    live: int | None = None
    record: ObjectRecord | None = None
    items: set[int] = field(default_factory=set)  # generations Encord holds an item for
    item_of: int | None = None  # the generation whose item the record holds
    reported: set[str] = field(default_factory=set)

    def finalize(self, generation: int) -> None:
        action = on_finalize(self.record, generation, self.policy)
        if action is FinalizeAction.BUFFER:
            self.record, self.item_of = ObjectRecord(PENDING, generation), None
        elif notes_follow_up(action) and self.record is not None:
            self.record = replace(self.record, follow_up=True)
        elif action is FinalizeAction.OVERWRITES_REGISTERED:
            self.reported.add("overwritten")

    def delete(self, generation: int) -> None:
        action = on_delete(self.record, generation, self.policy)
        if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
            self.record, self.item_of = ObjectRecord(DELETED, generation), None
        elif notes_follow_up(action) and self.record is not None:
            self.record = replace(self.record, follow_up=True)
        elif action is DeleteAction.DELETED_AFTER_REGISTRATION:
            self.reported.add("deleted")

    def flush(self) -> None:
        if self.record is not None and self.record.state is PENDING:
            self.record = replace(self.record, state=CLAIMED)

    def job_end(self) -> None:
        record = self.record
        if record is None or record.state is not CLAIMED or record.encord is not None:
            return
        # skip_duplicate_urls: a URL Encord already holds gets no new item (left unmatched).
        if self.items:
            return
        self.items.add(record.generation)
        if on_job_end(record, record.generation, REGISTERED):
            self.record, self.item_of = replace(record, encord=REGISTERED), record.generation

    def sweep(self) -> None:
        record = self.record
        if record is None or not may_follow_up(record, record.generation):
            return
        resolution = resolve(record, self.live, self.policy)
        if resolution is Resolution.WAIT:
            return
        if resolution in (Resolution.DELETE_ITEM, Resolution.REPLACE_ITEM):
            assert self.item_of == record.generation  # only ever the record's own item
            self.items.discard(record.generation)
            record = replace(record, encord=EncordOutcome.RELEASED)
            self.record, self.item_of = record, None
        if resolution is Resolution.REPORT_DELETED:
            self.reported.add("deleted")
        elif resolution is Resolution.REPORT_OVERWRITTEN:
            self.reported.add("overwritten")
        if resolution in (Resolution.REPLACE_ITEM, Resolution.BUFFER_LIVE):
            assert self.live is not None
            self.finalize(self.live)
        elif resolution in (Resolution.DELETE_ITEM, Resolution.TOMBSTONE):
            self.record = ObjectRecord(DELETED, record.generation)
        elif self.record is not None and self.record.follow_up:
            self.record = replace(self.record, follow_up=False)


POLICIES = st.sampled_from([REPORT, DELETE, REPLACE, BOTH])
# What happened in the bucket after g1 was written: g2 overwrote it (a bucket without
# versioning sends finalize(g2) and delete(g1)), or it was deleted.
HISTORIES = {"overwrite": (2, [("finalize", 2), ("delete", 1)]), "delete": (None, [("delete", 1)])}


@given(POLICIES, st.sampled_from(sorted(HISTORIES)), st.data())
def test_deletes_and_overwrites_end_by_the_buckets_state_whatever_the_order_of_events(
    policy: Policy, history: str, data: st.DataObject
) -> None:
    """Every interleaving of {finalize g1, its job's end, delete g1, finalize g2}, each event
    delivered once or more, with sweeps anywhere: the end state depends on the bucket and the
    policy alone. Under replace an overwrite leaves exactly one item for the URL, g2's; under
    delete a delete leaves none; under report the item stays and the change is reported."""
    live_after, second = HISTORIES[history]
    world = World(policy, live=1)
    sent: list[tuple[str, int]] = [("finalize", 1)]
    acted = False
    for _ in range(data.draw(st.integers(min_value=0, max_value=14))):
        steps = ["deliver", "flush", "job_end", "sweep"] + ([] if acted else ["act"])
        step = data.draw(st.sampled_from(steps))
        if step == "act":
            acted, world.live = True, live_after
            sent += second
        elif step == "deliver":
            kind, generation = data.draw(st.sampled_from(sent))  # any, again and again
            (world.finalize if kind == "finalize" else world.delete)(generation)
        else:
            getattr(world, step)()
    if not acted:
        world.live = live_after
        sent += second
    for kind, generation in sent:  # every event arrives at least once
        (world.finalize if kind == "finalize" else world.delete)(generation)
    for _ in range(4):  # then the system settles: flushes, job ends, sweeps
        world.flush()
        world.job_end()
        world.sweep()

    record = world.record
    assert record is not None and not record.follow_up
    assert len(world.items) <= 1  # never two items for one URL
    if history == "overwrite" and policy.replace:
        assert world.items == {2}  # exactly one item for the URL: the new generation's
        assert record == ObjectRecord(CLAIMED, 2, REGISTERED)
    elif history == "overwrite":
        # Reported, never carried over: g1's item stays if g1 was registered (and the
        # overwrite is reported), or g2 was registered because g1 never was.
        assert world.items in ({1}, {2})
        assert (world.items == {1}) == ("overwritten" in world.reported)
    elif policy.delete:
        assert world.items == set()
        assert record.state is DELETED
    else:
        # Reported, never carried over: g1's item stays (reported), or g1 was withdrawn
        # before any manifest.
        assert (world.items == {1}) == ("deleted" in world.reported)
        assert world.items == {1} or record.state is DELETED
