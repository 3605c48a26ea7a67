"""Checkpoints and the malformed-event counter: the same behaviour from both stores."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.checkpoint import Checkpoint, CheckpointState
from registration.domain.model import RejectionReason, StorageObject
from tests.contract.conftest import NOW, Store


def test_a_checkpoint_round_trips_with_its_scope_counts_and_times(store: Store) -> None:
    assert store.checkpoints.load("job") is None
    started = Checkpoint(position=None, scope={"bucket": "bkt", "prefix": "a/"}, run_started_at=NOW)
    store.checkpoints.save("job", started)
    later = NOW + timedelta(minutes=1)
    store.checkpoints.save("job", started.advanced("a/0500.jpg", later, run_listed=500))

    loaded = store.checkpoints.load("job")

    assert loaded is not None
    assert (loaded.position, loaded.state, loaded.resume_after) == (
        "a/0500.jpg",
        CheckpointState.RUNNING,
        "a/0500.jpg",
    )
    assert dict(loaded.scope) == {"bucket": "bkt", "prefix": "a/"}
    assert dict(loaded.counts) == {"run_listed": 500}
    assert loaded.run_started_at == NOW and loaded.updated_at == later


def test_a_finished_checkpoint_resumes_from_the_top(store: Store) -> None:
    store.checkpoints.save("job", Checkpoint(position="z.jpg").done(NOW, run_listed=9))

    loaded = store.checkpoints.load("job")

    assert loaded is not None
    assert loaded.state is CheckpointState.DONE and loaded.resume_after is None
    assert loaded.finished_at == NOW and dict(loaded.counts) == {"run_listed": 9}


def test_a_name_with_controls_is_a_checkpoint_position_like_any_other(store: Store) -> None:
    name = "a/\t\x00\u202e\U0001f600.jpg"
    store.checkpoints.save("job", Checkpoint(position=name))
    loaded = store.checkpoints.load("job")
    assert loaded is not None and loaded.position == name


def test_malformed_events_are_counted_per_utc_day(store: Store) -> None:
    for _ in range(3):
        store.rejections.count_malformed_event(NOW)
    store.rejections.count_malformed_event(NOW + timedelta(days=1))

    assert store.rejections.malformed_events_since(NOW.date()) == {
        NOW.date(): 3,
        (NOW + timedelta(days=1)).date(): 1,
    }
    assert store.rejections.malformed_events_since((NOW + timedelta(days=2)).date()) == {}


def test_a_malformed_event_rejection_is_found_by_its_name_even_with_generation_0(
    store: Store,
) -> None:
    obj = StorageObject("bkt", "a/b\rc.jpg", 0)
    assert store.rejections.record(obj, RejectionReason.MALFORMED_EVENT, "CR", NOW) is True
    assert store.rejections.record(obj, RejectionReason.MALFORMED_EVENT, "CR", NOW) is False

    [record] = store.rejections.of_object("bkt", "a/b\rc.jpg")

    assert (record.reason, record.generation, record.detail) == (
        RejectionReason.MALFORMED_EVENT,
        0,
        "CR",
    )
