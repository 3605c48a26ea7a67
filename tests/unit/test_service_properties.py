"""The use cases over the in-memory store and bucket, driven by generated histories.

The claim under test (SPEC §1 "Buffers and manifests", §3 "Event delivery"): any
interleaving of finalize, delete and overwrite events, delivered in any order and more than
once, with flushes and sweeps anywhere in between, ends with the same registrations as
applying the events in order, except that once an object is in a manifest, a later delete
or overwrite is recorded for ops rather than undone. And on one instance, no event leaves a
full batch waiting: the threshold gate skips counts, never the count that matters.

Everything is checked from the manifests themselves (the JSON the bucket holds, with names
read back through parse_object_url), plus the rejection records ops would read.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, RejectionReason, StorageObject
from registration.manifest.urls import parse_object_url
from registration.services.flush import flush
from registration.services.intake import register, withdraw
from registration.services.ports import Context
from registration.services.sweep import sweep
from registration.services.threshold import ThresholdGate
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "bkt"
BATCH = 3
MAX_AGE = 900
PREFIX = "encord-manifests/"
START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
FOLDERS = ("", "cam 1")
STEMS = ("a.jpg", "b+1.jpg", "c #2.png", "写真 3.JPG")
POOL = [f"{folder}/{stem}" if folder else stem for folder in FOLDERS for stem in STEMS]


@dataclass
class Instance:
    """One function instance over one in-memory database and bucket, on one fake clock."""

    ctx: Context
    store: MemoryStore
    bucket: MemoryBucket
    clock: FakeClock
    gate: ThresholdGate = field(default_factory=ThresholdGate)

    def register(self, obj: StorageObject) -> None:
        register(self.ctx, obj, self.gate)

    def withdraw(self, obj: StorageObject) -> None:
        withdraw(self.ctx, obj)


def instance(config: Settings | None = None) -> Instance:
    # One clock for the use cases and the store: the store's clock is Firestore's server
    # time, by which a batch lease goes stale.
    clock = FakeClock(START)
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    config = config or Settings(batch_images=BATCH, max_age_seconds=MAX_AGE)
    return Instance(Context(config, memory_backends(store, bucket), clock), store, bucket, clock)


def image(name: str, generation: int, bucket: str = BUCKET) -> StorageObject:
    return StorageObject(bucket, name, generation, size=10, content_type="image/jpeg")


def folder_of(name: str) -> str:
    return name.rpartition("/")[0]


def manifest_names(data: bytes, key: str = "images") -> list[tuple[str, str]]:
    """(bucket, name) of every item, read back from the manifest bytes alone."""
    body = json.loads(data)
    assert set(body) == {key, "skip_duplicate_urls"}, body
    assert body["skip_duplicate_urls"] is True
    found: list[tuple[str, str]] = []
    for item in body[key]:
        urls = [value for field, value in item.items() if field.startswith("objectUrl")]
        found.extend(parse_object_url(url) for url in urls)
    return found


# -- the scenario model -----------------------------------------------------------------


@dataclass(frozen=True)
class Finalize:
    name: str
    generation: int


@dataclass(frozen=True)
class Delete:
    name: str
    generation: int


@dataclass(frozen=True)
class Flush:
    folder: str
    full_only: bool


@dataclass(frozen=True)
class Sweep:
    pass


@dataclass(frozen=True)
class Advance:
    seconds: int


Event = Finalize | Delete
Op = Event | Flush | Sweep | Advance


@dataclass(frozen=True)
class Scenario:
    history: dict[str, list[Event]]  # per name, in the order things really happened
    ops: list[Op]  # what the service sees: events shuffled and duplicated, plus housekeeping

    def live(self) -> dict[str, int]:
        """Name -> the generation GCS still serves at the end, for names that exist."""
        alive: dict[str, int] = {}
        for name, events in self.history.items():
            last = events[-1]
            if isinstance(last, Finalize):
                alive[name] = last.generation
        return alive


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    names = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True))
    generation = 1_700_000_000_000_000  # GCS generations are microsecond timestamps
    history: dict[str, list[Event]] = {}
    for name in names:
        actions = draw(st.lists(st.sampled_from(["write", "delete"]), max_size=4))
        current: int | None = None
        events: list[Event] = []
        for action in ["write", *actions]:
            if action == "write":
                generation += draw(st.integers(min_value=1, max_value=1000))
                if current is not None:
                    # An overwrite: GCS reports the old generation deleted.
                    events.append(Delete(name, current))
                events.append(Finalize(name, generation))
                current = generation
            elif current is not None:
                events.append(Delete(name, current))
                current = None
        history[name] = events
    delivered = [
        event
        for events in history.values()
        for event in events
        for _ in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    ops: list[Op] = list(draw(st.permutations(delivered)))
    housekeeping = st.one_of(
        st.builds(Flush, st.sampled_from(FOLDERS), st.booleans()),
        st.just(Sweep()),
        st.builds(Advance, st.integers(min_value=1, max_value=2 * MAX_AGE)),
    )
    inserts = draw(
        st.lists(st.tuples(st.integers(min_value=0, max_value=len(ops)), housekeeping), max_size=15)
    )
    for position, op in sorted(inserts, key=lambda insert: insert[0], reverse=True):
        ops.insert(position, op)
    return Scenario(history, ops)


def claimable(seen: set[Event]) -> int | None:
    """The generation the in-order semantics would have pending, given the events seen.

    The newest generation any seen event names, if it was finalized and not deleted.
    """
    if not seen:
        return None
    newest = max(event.generation for event in seen)
    finalized = any(isinstance(e, Finalize) and e.generation == newest for e in seen)
    deleted = any(isinstance(e, Delete) and e.generation == newest for e in seen)
    return newest if finalized and not deleted else None


def images_buffer(folder: str, bucket: str = BUCKET) -> BufferRef:
    return BufferRef(bucket, folder, ManifestKey.IMAGES)


def written_names(bucket: MemoryBucket, key: str = "images") -> list[str]:
    """Object names in every manifest write, in the order written."""
    return [name for _, _, data in bucket.history for _, name in manifest_names(data, key)]


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_any_interleaving_registers_what_applying_the_events_in_order_would(
    scenario: Scenario,
) -> None:
    world = instance()
    ctx, store, bucket, clock = world.ctx, world.store, world.bucket, world.clock
    seen: dict[str, set[Event]] = defaultdict(set)
    registered: dict[str, int] = {}  # name -> the generation pending when it was claimed
    paths: set[tuple[str, str]] = set()
    written = 0

    def check_new_manifests(op: Op | None) -> None:
        nonlocal written
        for manifest_bucket, path, data in bucket.history[written:]:
            assert manifest_bucket == BUCKET
            assert (manifest_bucket, path) not in paths, f"manifest {path} written twice"
            paths.add((manifest_bucket, path))
            items = manifest_names(data)
            assert 1 <= len(items) <= BATCH, path
            if isinstance(op, Finalize) or (isinstance(op, Flush) and op.full_only):
                assert len(items) == BATCH, f"threshold flush {path} holds {len(items)}"
            folders = {folder_of(name) for _, name in items}
            assert len(folders) == 1, path
            folder = folders.pop()
            assert path.startswith(f"{PREFIX}{folder}/images/" if folder else f"{PREFIX}images/")
            assert path.endswith(".json")
            for item_bucket, name in items:
                assert item_bucket == BUCKET
                assert name not in registered, f"{name!r} is in two manifests"
                generation = claimable(seen[name])
                assert generation is not None, (
                    f"{name!r} registered though the events seen so far leave nothing "
                    f"pending: {sorted(seen[name], key=str)}"
                )
                registered[name] = generation
        written = len(bucket.history)

    for op in scenario.ops:
        match op:
            case Finalize(name, generation):
                seen[name].add(op)
                world.register(image(name, generation))
            case Delete(name, generation):
                seen[name].add(op)
                world.withdraw(image(name, generation))
            case Flush(folder, full_only):
                flush(ctx, images_buffer(folder), full_only=full_only)
            case Sweep():
                sweep(ctx)
            case Advance(seconds):
                clock.advance(seconds)
        check_new_manifests(op)
        if isinstance(op, Flush):
            waiting = [
                name
                for name in POOL
                if folder_of(name) == op.folder
                and name not in registered
                and claimable(seen[name]) is not None
            ]
            # A flush leaves nothing pending, or (threshold only) less than a full batch.
            assert len(waiting) < (BATCH if op.full_only else 1), waiting
        for folder in FOLDERS:
            # One instance never leaves a full batch waiting: the gate skips counts only
            # where the buffer cannot have filled, so the event that fills it counts.
            assert store.count_pending(images_buffer(folder)) < BATCH, (op, folder)

    clock.advance(MAX_AGE + 1)
    sweep(ctx)
    check_new_manifests(None)
    sweep(ctx)
    assert len(bucket.history) == written, "a second sweep wrote again"

    live = scenario.live()
    occurrences = Counter(
        name for data in bucket.writes.values() for _, name in manifest_names(data)
    )
    # Every live object is in exactly one manifest...
    for name in live:
        assert occurrences[name] == 1, (name, scenario.history[name])
    # ...and nothing is in two.
    assert all(count == 1 for count in occurrences.values()), occurrences
    assert set(occurrences) == set(registered)
    # Anything else registered was pending when claimed (checked above) and was deleted or
    # overwritten only afterwards, which ops can see.
    rejections = {
        (record.name, record.generation, record.reason) for record in store.recent(10_000)
    }
    for name, claimed_generation in registered.items():
        if name not in live:
            last = scenario.history[name][-1]
            reason = RejectionReason.DELETED_AFTER_REGISTRATION.value
            assert (name, last.generation, reason) in rejections, (name, rejections)
        elif live[name] != claimed_generation:
            reason = RejectionReason.OVERWRITTEN_AFTER_REGISTRATION.value
            assert (name, live[name], reason) in rejections, (name, rejections)
    for folder in FOLDERS:
        assert store.count_pending(images_buffer(folder)) == 0


# -- thresholds -------------------------------------------------------------------------


def test_a_threshold_flush_yields_exactly_the_batch_size() -> None:
    world = instance()
    counts = []
    for index in range(7):
        world.register(image(f"cam 1/f{index}.jpg", 1))
        counts.append([len(manifest_names(data)) for _, _, data in world.bucket.history])
    assert counts == [[], [], [3], [3], [3], [3, 3], [3, 3]]
    sweep(world.ctx)  # not old yet: the seventh waits
    assert len(world.bucket.history) == 2
    world.clock.advance(MAX_AGE)
    sweep(world.ctx)
    assert [len(manifest_names(data)) for _, _, data in world.bucket.history] == [3, 3, 1]
    assert sorted(written_names(world.bucket)) == [f"cam 1/f{index}.jpg" for index in range(7)]


def test_a_threshold_flush_after_a_backlog_writes_only_full_batches() -> None:
    world = instance()
    buffer = images_buffer("cam 1")
    world.store.ensure(buffer, START)
    # Another instance holds the lease, so the threshold flushes of these events give way.
    world.store.acquire_lease(buffer, 1, 120)
    for index in range(10):
        world.register(image(f"cam 1/f{index:02d}.jpg", 1))
    assert world.bucket.history == []
    world.store.release_lease(buffer, 1)
    world.register(image("cam 1/f10.jpg", 1))
    assert [len(manifest_names(data)) for _, _, data in world.bucket.history] == [3, 3, 3]
    assert world.store.count_pending(buffer) == 2


def test_a_threshold_flush_takes_the_oldest_arrivals_first() -> None:
    world = instance()
    for name in ("cam 1/z.jpg", "cam 1/y.jpg", "cam 1/x.jpg", "cam 1/w.jpg"):
        world.clock.advance(1)
        world.register(image(name, 1))
    assert [name for _, name in manifest_names(world.bucket.history[0][2])] == [
        "cam 1/x.jpg",
        "cam 1/y.jpg",
        "cam 1/z.jpg",
    ]


def test_a_delete_before_the_flush_keeps_the_object_out_of_every_manifest() -> None:
    world = instance()
    world.register(image("a.jpg", 1))
    world.withdraw(image("a.jpg", 1))
    world.register(image("a.jpg", 1))  # a redelivered finalize must not bring it back
    world.register(image("b.jpg", 1))
    world.clock.advance(MAX_AGE)
    sweep(world.ctx)
    assert written_names(world.bucket) == ["b.jpg"]


def test_a_delete_of_the_overwritten_generation_keeps_the_new_one_registered() -> None:
    world = instance()
    world.register(image("a.jpg", 2))
    world.withdraw(image("a.jpg", 1))  # the overwrite's delete arrives after the finalize
    world.clock.advance(MAX_AGE)
    sweep(world.ctx)
    assert written_names(world.bucket) == ["a.jpg"]


# -- manifest paths must not collide ----------------------------------------------------


def test_group_and_sequence_folders_that_seal_at_once_each_get_their_own_manifest() -> None:
    world = instance(
        Settings(
            image_group_prefixes=("shoots/",),
            image_sequence_prefixes=("runs/",),
            group_quiet_seconds=60,
        )
    )
    world.register(image("shoots/day 1/a.jpg", 1))
    world.register(image("runs/day 1/a.jpg", 1))
    world.clock.advance(60)
    sweep(world.ctx)
    assert len(world.bucket.writes) == 2
    assert set(written_names(world.bucket, "image_groups")) == {
        "shoots/day 1/a.jpg",
        "runs/day 1/a.jpg",
    }


def test_manifests_of_two_source_buckets_sharing_a_manifest_bucket_never_overwrite_each_other() -> (
    None
):
    world = instance(Settings(batch_images=2, manifest_bucket="manifests"))
    for source in ("bucket-a", "bucket-b"):
        for index in range(2):
            world.register(image(f"cam/f{index}.jpg", 1, bucket=source))
    assert len(world.bucket.history) == 2  # both buffers flushed...
    assert {manifest_bucket for manifest_bucket, _ in world.bucket.writes} == {"manifests"}
    registered = {item for data in world.bucket.writes.values() for item in manifest_names(data)}
    assert registered == {  # ...and both manifests survive
        (source, f"cam/f{index}.jpg") for source in ("bucket-a", "bucket-b") for index in (0, 1)
    }


def test_an_image_group_and_an_image_sequence_in_one_folder_never_overwrite_each_other() -> None:
    # Prefixes are plain name prefixes, so one folder can feed both kinds of buffer.
    world = instance(
        Settings(
            image_group_prefixes=("data/x/stills-",),
            image_sequence_prefixes=("data/x/",),
            group_quiet_seconds=60,
        )
    )
    world.register(image("data/x/stills-1.jpg", 1))
    world.register(image("data/x/frame-1.jpg", 1))
    world.clock.advance(60)
    sweep(world.ctx)
    assert len(world.bucket.history) == 2  # both buffers flushed...
    registered = {
        name
        for data in world.bucket.writes.values()
        for _, name in manifest_names(data, "image_groups")
    }
    assert registered == {"data/x/stills-1.jpg", "data/x/frame-1.jpg"}  # ...and both survive


# -- deletes must find the buffer their finalize chose ----------------------------------


def test_deleting_a_dicom_file_before_its_series_seals_keeps_it_out_of_every_manifest() -> None:
    world = instance(Settings(group_quiet_seconds=60))
    dicom = StorageObject(BUCKET, "scans/slice-1.dcm", 1, size=196)
    world.register(dicom)
    world.withdraw(dicom)
    world.clock.advance(60)
    sweep(world.ctx)
    assert world.bucket.writes == {}


def test_deleting_an_extension_less_dicom_file_before_its_series_seals_withdraws_it() -> None:
    world = instance(Settings(group_quiet_seconds=60))
    dicom = StorageObject(BUCKET, "scans/IM0001", 1, size=196)
    world.bucket.put(dicom, b"\0" * 128 + b"DICM" + b"\0" * 64)
    world.register(dicom)
    # Registered by its magic bytes into the folder's DICOM buffer...
    assert world.store.count_pending(BufferRef(BUCKET, "scans", ManifestKey.DICOM_SERIES)) == 1
    # ...and deleted: its header can no longer be read to tell what it was.
    del world.bucket.objects[(BUCKET, dicom.name)]
    del world.bucket.described[(BUCKET, dicom.name)]
    world.withdraw(dicom)
    world.clock.advance(60)
    sweep(world.ctx)
    assert world.bucket.writes == {}
