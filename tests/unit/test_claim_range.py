"""claim_range.py: a claim that records the range it took, raced by deletes, overwrites and
redeliveries, keeps every object in exactly one manifest or none."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from registration.domain.claim_range import (
    SHARDS,
    Cursor,
    Position,
    Queued,
    effective,
    must_fence,
    shard_of,
    take,
)
from registration.domain.lifecycle import (
    DeleteAction,
    FinalizeAction,
    ObjectRecord,
    ObjectState,
    on_delete,
    on_finalize,
)
from registration.domain.model import BatchState, stable_id

EPOCH = datetime(2026, 12, 1, tzinfo=UTC)
NAMES = [f"folder/{index}.jpg" for index in range(3)]


def at(tick: int) -> datetime:
    return EPOCH + timedelta(microseconds=tick)


@dataclass(frozen=True)
class Stored:
    """A record as the store holds it: the claim never writes it."""

    generation: int
    state: ObjectState
    queued: Queued
    home: int  # the buffer it waits (or waited) in


@dataclass(frozen=True)
class Member(Queued):
    name: str = ""
    generation: int = 0


@dataclass
class InFlight:
    lease_version: int
    cursor: Cursor
    members: list[Member]
    after: Cursor


@dataclass
class Line:
    """One buffer's claim state: its cursor, the lease of its next batch, a claim between
    its read and its commit, and the batches written."""

    cursor: Cursor = field(default_factory=Cursor)
    lease: int | None = None  # the lease's version (its update time) while CLAIMING
    in_flight: InFlight | None = None
    batches: list[list[Member]] = field(default_factory=list)


def home_of(generation: int) -> int:
    # A name's type may change between generations (an extension-less object overwritten
    # with another content type), so its generations may wait in two buffers.
    return generation % 2


@dataclass
class Store:
    """Two buffers as the stores would keep them, each step an atomic transaction or commit,
    and a claim split into its read and its commit so that anything can come in between."""

    limit: int
    clock: int = 0
    records: dict[str, Stored] = field(default_factory=dict)
    lines: tuple[Line, Line] = field(default_factory=lambda: (Line(), Line()))
    reported: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def batches(self) -> list[list[Member]]:
        return [batch for line in self.lines for batch in line.batches]

    def commit_time(self, step: int) -> datetime:
        # A commit after a read has a later timestamp than the read (Firestore's snapshots);
        # commits between reads may share one, and the document id orders them.
        self.clock += step
        return at(self.clock)

    def before(self, name: str) -> ObjectRecord | None:
        """The record as a decision sees it: its stored state, claimed by its own buffer's
        cursor (the buffer it waits in, whatever buffer the event names)."""
        stored = self.records.get(name)
        if stored is None:
            return None
        record = ObjectRecord(stored.state, stored.generation)
        return effective(record, stored.queued, self.lines[stored.home].cursor)

    def lease_of(self, name: str) -> BatchState | None:
        stored = self.records.get(name)
        if stored is None or self.lines[stored.home].lease is None:
            return None
        return BatchState.CLAIMING

    def write(self, name: str, generation: int, state: ObjectState, home: int, step: int) -> None:
        ident = stable_id("bucket", name)
        position = Position(self.commit_time(step), ident)
        self.records[name] = Stored(generation, state, Queued(shard_of(ident), position), home)

    def fence(self, name: str) -> None:
        line = self.lines[self.records[name].home]
        assert line.lease is not None
        line.lease += 1

    def finalize(self, name: str, generation: int, step: int) -> None:
        before = self.before(name)
        action = on_finalize(before, generation)
        if action is FinalizeAction.BUFFER:
            if must_fence(action, before, self.lease_of(name)):
                self.fence(name)
            self.write(name, generation, ObjectState.PENDING, home_of(generation), step)
        elif action is FinalizeAction.OVERWRITES_REGISTERED:
            self.reported.append((name, generation, action.value))

    def delete(self, name: str, generation: int, step: int) -> None:
        before = self.before(name)
        action = on_delete(before, generation)
        if action in (DeleteAction.TOMBSTONE, DeleteAction.WITHDRAW):
            if must_fence(action, before, self.lease_of(name)):
                self.fence(name)
            # A withdrawn record stays filed under the buffer it waited in.
            stored = self.records.get(name)
            home = stored.home if stored is not None else home_of(generation)
            self.write(name, generation, ObjectState.DELETED, home, step)
        elif action is DeleteAction.DELETED_AFTER_REGISTRATION:
            self.reported.append((name, generation, action.value))

    def take_lease(self, home: int) -> None:
        line = self.lines[home]
        if line.lease is None:
            line.lease = 0

    def read(self, home: int) -> None:
        """The claim's reads, at one snapshot: each shard's pending records after its cursor,
        asked for in shares and then topped up, as the adapter does."""
        line = self.lines[home]
        if line.lease is None or line.in_flight is not None:
            return
        pending: list[list[Member]] = [[] for _ in range(SHARDS)]
        for name, stored in self.records.items():
            queued = stored.queued
            if (
                stored.home == home
                and stored.state is ObjectState.PENDING
                and not line.cursor.covers(queued.shard, queued.position)
            ):
                member = Member(queued.shard, queued.position, name, stored.generation)
                pending[queued.shard].append(member)
        for shard in pending:
            shard.sort(key=lambda member: member.position)
        # One query over the shards, merged and limited (queue.after_cursor).
        members, after = take(pending, self.limit, line.cursor)
        line.in_flight = InFlight(line.lease, line.cursor, members, after)

    def commit(self, home: int) -> None:
        """The claim's commit: the batch and the new cursor, under a precondition on the lease
        (only its holder moves the cursor); a failed precondition sends it back to read."""
        line = self.lines[home]
        flight, line.in_flight = line.in_flight, None
        if flight is None or not flight.members:
            return
        if flight.lease_version != line.lease:
            return
        line.batches.append(flight.members)
        line.cursor = flight.after
        line.lease = None

    def drain(self) -> None:
        for home, line in enumerate(self.lines):
            line.in_flight = None
            for _ in range(len(self.records) + 1):
                self.take_lease(home)
                self.read(home)
                self.commit(home)
            line.lease = None


Step = tuple[str, int, int, int]

steps = st.lists(
    st.tuples(
        st.sampled_from(["finalize", "finalize", "delete", "redeliver", "lease", "read", "commit"]),
        st.integers(min_value=0, max_value=len(NAMES) - 1),
        st.integers(min_value=1, max_value=2),
        st.integers(min_value=0, max_value=1),
    ),
    max_size=80,
)


def run(program: list[Step], limit: int) -> tuple[Store, list[tuple[str, str, int]]]:
    store = Store(limit)
    delivered: list[tuple[str, str, int]] = []
    for kind, index, generation, step in program:
        if kind == "redeliver":
            if not delivered:
                continue
            kind, name, generation = delivered[index % len(delivered)]
        else:
            name = NAMES[index]
        if kind == "finalize":
            store.finalize(name, generation, step)
            delivered.append((kind, name, generation))
        elif kind == "delete":
            store.delete(name, generation, step)
            delivered.append((kind, name, generation))
        elif kind == "lease":
            store.take_lease(index % 2)
        elif kind == "read":
            store.read(index % 2)
        else:
            store.commit(index % 2)
    store.drain()
    return store, delivered


@settings(max_examples=1000)
@given(steps, st.integers(min_value=1, max_value=4))
def test_claims_raced_by_deletes_overwrites_and_redeliveries_register_each_object_once_or_never(
    program: list[Step], limit: int
) -> None:
    store, delivered = run(program, limit)
    in_batches = [(m.name, m.generation) for batch in store.batches for m in batch]
    names = [name for name, _ in in_batches]
    assert len(names) == len(set(names)), "a name is in two manifests"
    for name in {name for _, name, _ in delivered}:
        record = store.before(name)
        assert record is not None
        newest_finalize = max(
            (g for k, n, g in delivered if k == "finalize" and n == name), default=0
        )
        newest_delete = max((g for k, n, g in delivered if k == "delete" and n == name), default=0)
        claimed = [g for n, g in in_batches if n == name]
        if record.state is ObjectState.CLAIMED:
            # In exactly one manifest, with the generation its record holds.
            assert claimed == [record.generation]
            if newest_delete >= record.generation:
                assert (name, newest_delete, "deleted_after_registration") in store.reported
            if newest_finalize > record.generation:
                assert (name, newest_finalize, "overwrites_registered") in store.reported
        else:
            # The drain claims every pending record, so anything left is deleted: in none.
            assert record.state is ObjectState.DELETED
            assert claimed == []
            assert newest_delete >= newest_finalize


@settings(max_examples=200)
@given(steps, st.integers(min_value=1, max_value=4))
def test_a_claim_takes_exactly_the_records_its_cursor_covers(
    program: list[Step], limit: int
) -> None:
    store, _ = run(program, limit)
    members = {(m.name, m.generation) for batch in store.batches for m in batch}
    for name, stored in store.records.items():
        cursor = store.lines[stored.home].cursor
        covered = stored.state is ObjectState.PENDING and cursor.covers(
            stored.queued.shard, stored.queued.position
        )
        assert covered == ((name, stored.generation) in members)


def test_without_the_fence_a_delete_racing_a_claim_is_withdrawn_and_registered_both() -> None:
    """The counterexample the fence exists for: read, delete, commit."""
    store = Store(limit=1)
    store.finalize(NAMES[0], 1, 1)
    home = home_of(1)
    store.take_lease(home)
    store.read(home)
    line = store.lines[home]
    assert line.in_flight is not None and line.in_flight.members
    lease_before = line.lease
    store.delete(NAMES[0], 1, 1)
    assert line.lease != lease_before, "the delete touched the lease"
    store.commit(home)
    assert store.batches == []  # the claim failed its precondition
    store.drain()
    assert store.batches == [] and store.before(NAMES[0]) == ObjectRecord(ObjectState.DELETED, 1)


def test_an_overwrite_into_another_buffer_fences_the_claim_of_the_buffer_it_leaves() -> None:
    store = Store(limit=1)
    store.finalize(NAMES[0], 1, 1)
    store.take_lease(home_of(1))
    store.read(home_of(1))
    store.finalize(NAMES[0], 2, 1)  # a new generation of another type: the other buffer
    store.commit(home_of(1))
    store.drain()
    assert [[(m.name, m.generation) for m in batch] for batch in store.batches] == [[(NAMES[0], 2)]]


def test_only_a_write_to_a_pending_record_under_a_held_lease_fences() -> None:
    pending = ObjectRecord(ObjectState.PENDING, 1)
    deleted = ObjectRecord(ObjectState.DELETED, 1)
    held = BatchState.CLAIMING
    assert must_fence(DeleteAction.WITHDRAW, pending, held)
    assert must_fence(FinalizeAction.BUFFER, pending, held)
    assert not must_fence(DeleteAction.WITHDRAW, pending, None)
    assert not must_fence(FinalizeAction.BUFFER, None, held)  # a new name: no claim saw it
    assert not must_fence(FinalizeAction.BUFFER, deleted, held)
    assert not must_fence(FinalizeAction.DUPLICATE, pending, held)


def positions(shard: int, ticks: list[int]) -> list[Queued]:
    return [Queued(shard, Position(at(tick), f"{shard}-{tick}")) for tick in sorted(ticks)]


@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=50), max_size=12), min_size=SHARDS,
             max_size=SHARDS),
    st.integers(min_value=0, max_value=40),
)  # fmt: skip
def test_the_merged_order_of_the_shards_is_oldest_first_and_takes_a_prefix_of_each(
    ticks: list[list[int]], limit: int
) -> None:
    shards = [positions(shard, shard_ticks) for shard, shard_ticks in enumerate(ticks)]
    members, after = take(shards, limit, Cursor())
    everything = sorted((item for shard in shards for item in shard), key=lambda q: q.position)
    assert members == everything[:limit]  # the oldest, in order, across shards
    for shard, items in enumerate(shards):
        taken = [item for item in items if after.covers(shard, item.position)]
        assert taken == items[: len(taken)]  # a prefix of the shard
        assert set(taken) == {item for item in members if item.shard == shard}


def test_shards_are_stable_and_spread() -> None:
    idents = [stable_id("bucket", f"folder/{index}.jpg") for index in range(8000)]
    counts = [0] * SHARDS
    for ident in idents:
        counts[shard_of(ident)] += 1
    assert shard_of(idents[0]) == shard_of(idents[0])
    assert min(counts) > 800 and max(counts) < 1200
