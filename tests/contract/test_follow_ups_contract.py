"""Deletes and overwrites of registered objects, noted for the sweep, on both stores."""

from __future__ import annotations

from datetime import timedelta

from registration.domain.encord_items import FollowUp, ObjectOutcome
from registration.domain.lifecycle import DeleteAction, EncordOutcome, FinalizeAction
from tests.contract.conftest import BUFFER, LEASE, NOW, Store, image

ITEM = "0b9c3d4e-1111-4222-8333-944455556666"


def registered(store: Store) -> None:
    store.records.add_pending(BUFFER, image(0), NOW)
    store.batches.acquire_lease(BUFFER, 1, LEASE)
    batch = store.claim(1, limit=10)
    assert batch is not None and store.batches.mark_written(batch.record, NOW)
    assert store.outcomes is not None
    obj = image(0)
    done = ObjectOutcome(obj.bucket, obj.name, 1, EncordOutcome.REGISTERED, "job-1", ITEM)
    assert store.outcomes.record_outcomes([done]) == 1


def due(store: Store, when: object = NOW) -> list[FollowUp]:
    assert store.follow_ups is not None
    return store.follow_ups.follow_ups_due(when, 10)  # type: ignore[arg-type]


def test_a_delete_and_an_overwrite_of_a_registered_object_note_one_follow_up_with_its_item(
    following_store: Store,
) -> None:
    store = following_store
    registered(store)
    assert due(store) == []
    assert store.records.withdraw(BUFFER, image(0), NOW) is DeleteAction.FOLLOW_UP
    assert store.records.add_pending(BUFFER, image(0, 2), NOW) is FinalizeAction.REPLACE
    assert store.records.withdraw(BUFFER, image(0), NOW) is DeleteAction.FOLLOW_UP  # again
    [item] = due(store)
    assert (item.name, item.record.generation, item.item_uuid, item.attempts) == (
        image(0).name,
        1,
        ITEM,
        0,
    )
    # A stale delete never notes anything on a newer generation's record.
    assert store.records.withdraw(BUFFER, image(0, 0), NOW) is DeleteAction.STALE


def test_a_follow_up_is_retried_released_and_closed_and_a_stale_write_changes_nothing(
    following_store: Store,
) -> None:
    store = following_store
    follow_ups = store.follow_ups
    assert follow_ups is not None
    registered(store)
    store.records.withdraw(BUFFER, image(0), NOW)
    [item] = due(store)
    later = NOW + timedelta(seconds=30)
    assert follow_ups.reschedule_follow_up(item, 1, later, "Encord unavailable")
    assert due(store) == []
    [retried] = due(store, later)
    assert retried.attempts == 1
    assert follow_ups.release_item(retried)
    [released] = due(store, later)
    assert released.record.encord is EncordOutcome.RELEASED
    assert follow_ups.close_follow_up(released, later, tombstone=True, expire_at=None)
    assert due(store, later + timedelta(days=1)) == []
    # The name is dead up to generation 1; the follow-up's writes no longer apply.
    assert store.records.add_pending(BUFFER, image(0), NOW) is FinalizeAction.ALREADY_DELETED
    assert not follow_ups.reschedule_follow_up(released, 2, later, None)
    assert not follow_ups.close_follow_up(released, later, tombstone=False, expire_at=None)
    assert store.records.add_pending(BUFFER, image(0, 2), NOW) is FinalizeAction.BUFFER


def test_a_failed_follow_up_is_no_longer_due(following_store: Store) -> None:
    store = following_store
    assert store.follow_ups is not None
    registered(store)
    store.records.withdraw(BUFFER, image(0), NOW)
    [item] = due(store)
    assert store.follow_ups.fail_follow_up(item, "refused")
    assert due(store, NOW + timedelta(days=1)) == []
    [failed] = store.follow_ups.follow_ups_failed(10)
    assert (failed.name, failed.item_uuid, failed.failed) == (image(0).name, ITEM, "refused")


def test_under_the_default_policy_nothing_is_noted(submitting_store: Store) -> None:
    store = submitting_store
    registered(store)
    assert store.records.withdraw(BUFFER, image(0), NOW) is (
        DeleteAction.DELETED_AFTER_REGISTRATION
    )
    assert store.records.add_pending(BUFFER, image(0, 2), NOW) is (
        FinalizeAction.OVERWRITES_REGISTERED
    )
    assert due(store, NOW + timedelta(days=1)) == []
