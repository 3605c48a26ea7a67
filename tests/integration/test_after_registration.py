"""What follows a job's end, on the local stack: the real SDK against the Encord stub, state in
the Firestore emulator, messages through the Pub/Sub emulator. Nothing mocks the SDK.

At a job's end: each registered object's record holds its item and job, the batch counts
matched and unmatched units, one message is published, and the items are linked to each
configured dataset exactly once (retried with backoff). A unit Encord refused leaves its record
so that a newer generation is registered again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from devstack.stack import Stack
from registration.domain.links import LinkState
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.domain.submission import SubmissionState
from registration.presenters.wire import detail_json, trace_json
from registration.services import status as status_service
from registration.services import trace as trace_service
from registration.services.ports import Backends
from registration.web.status_page import render_detail, render_overview
from tests.support.clock import FakeClock
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget, app_with_encord, fill, https_url, the_batch
from tests.support.faults import FaultPlan, with_faults
from tests.support.memory import RecordingNotifications
from tests.support.pubsub_channel import Channel, open_channel

BATCH = 3


@pytest.fixture
def stub() -> Iterator[EncordStub]:
    with EncordStub(polls_until_done=1) as running:
        yield running


@pytest.fixture
def channel(emulators: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    assert emulators.pubsub_host is not None, "the stack starts the Pub/Sub emulator"
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulators.pubsub_host)
    with open_channel() as opened:
        yield opened


def images(bucket: str, folder: str) -> BufferRef:
    return BufferRef(bucket, folder, ManifestKey.IMAGES)


def records(app: object, objects: list[StorageObject]) -> list[object]:
    return app.store.bulk.object_records([(o.bucket, o.name) for o in objects])  # type: ignore[attr-defined, no-any-return]


def test_a_finished_jobs_items_are_written_on_each_record_and_counted_on_the_batch(
    target: EncordTarget, bucket: str
) -> None:
    app = app_with_encord(target.settings(batch_images=BATCH))
    objects = fill(app, bucket, "cam", BATCH)
    app.sweep()  # PENDING at the first poll
    app.sweep()  # DONE: the end, its items

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None and batch.submission.state is SubmissionState.DONE
    assert (batch.submission.items_matched, batch.submission.items_unmatched) == (BATCH, 0)
    job_id = batch.submission.job_id
    for obj, record in zip(objects, records(app, objects), strict=True):
        [item] = target.stub.items_for_url(target.folder or "", https_url(obj))
        assert record.encord == "registered"  # type: ignore[attr-defined]
        assert record.item_uuid == item.uuid  # type: ignore[attr-defined]
        assert record.job_id == job_id  # type: ignore[attr-defined]
    assert sorted(batch.submission.item_uuids) == sorted(i.uuid for i in target.stub.items())

    [item] = target.stub.items_for_url(target.folder or "", https_url(objects[0]))
    traced = trace_service.trace(app.ctx, bucket, objects[0].name)
    assert f"Encord item {item.uuid} (job {job_id})" in traced.fate
    assert trace_json(traced)["records"][0]["item_uuid"] == item.uuid
    detail = status_service.buffer_detail(app.ctx, images(bucket, "cam").ident)
    assert detail is not None
    assert detail_json(detail)["batches"][0]["encord"]["items_matched"] == BATCH
    page = render_detail(detail, app.ctx.clock(), app.settings.max_age_seconds)
    assert f"done, {BATCH} items matched" in page


def test_a_drop_is_linked_to_each_dataset_once_and_announced_by_one_message_per_job(
    target: EncordTarget, bucket: str, channel: Channel
) -> None:
    first, second = target.stub.add_dataset(), target.stub.add_dataset()
    settings = target.settings(
        batch_images=BATCH, encord_datasets=(first, second), notify_topic=channel.topic
    )
    app = app_with_encord(settings)
    objects = fill(app, bucket, "cam", BATCH)
    app.sweep()
    app.sweep()
    app.sweep()  # a redelivered or later sweep adds nothing

    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    items = sorted(i.uuid for i in target.stub.items())
    assert sorted(target.stub.linked_items(first)) == items
    assert sorted(target.stub.linked_items(second)) == items
    links = {link.dataset: link for link in batch.submission.links}
    assert {d: (link.state, link.linked) for d, link in links.items()} == {
        first: (LinkState.DONE, BATCH),
        second: (LinkState.DONE, BATCH),
    }
    link_calls = [r for r in target.stub.requests() if "datasetlinkitems" in str(r)]
    assert len(link_calls) == 2  # once per batch and dataset

    messages = channel.pull(expected=2, rounds=3)
    assert len(messages) == 1
    message = messages[0]
    data = json.loads(message.data)
    assert message.attributes["job_id"] == batch.submission.job_id
    assert data["counts"]["urls_registered"] == BATCH
    assert sorted(e["url"] for e in data["registered"]) == sorted(https_url(o) for o in objects)
    assert batch.submission.notified_at is not None
    assert app.status()["totals"]["links_by_state"] == {}  # nothing left to link


def test_a_link_encord_could_not_answer_is_retried_after_the_backoff_and_done_once(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    dataset = target.stub.add_dataset()
    app = app_with_encord(
        target.settings(batch_images=BATCH, encord_datasets=(dataset,)), clock=clock
    )
    fill(app, bucket, "cam", BATCH)
    app.sweep()
    target.stub.inject_unavailable(times=1, on="link")
    app.sweep()  # the job ends; its first link meets a 503

    waiting = the_batch(app, images(bucket, "cam"))
    assert waiting.submission is not None
    [link] = waiting.submission.links
    assert (link.state, link.attempts) == (LinkState.PENDING, 1)
    assert link.problem and link.next_attempt_at is not None
    assert target.stub.linked_items(dataset) == []
    assert app.sweep().datasets_linked == []  # not due yet: nothing is sent
    assert app.status()["totals"]["links_by_state"] == {"pending": 1}
    page = render_overview(status_service.status(app.ctx, 10))
    assert "Dataset links not done" in page

    clock.advance(31)
    assert len(app.sweep().datasets_linked) == 1
    linked = the_batch(app, images(bucket, "cam"))
    assert linked.submission is not None
    assert [(k.state, k.attempts, k.linked) for k in linked.submission.links] == [
        (LinkState.DONE, 2, BATCH)
    ]
    assert len(target.stub.linked_items(dataset)) == BATCH
    assert app.status()["totals"]["links_by_state"] == {}
    clock.advance(7200)
    assert app.sweep().datasets_linked == []


def test_a_file_encord_refused_and_uploaded_again_is_registered_and_its_refusal_stays(
    target: EncordTarget, bucket: str
) -> None:
    app = app_with_encord(target.settings(batch_images=BATCH))
    target.stub.fail_urls_matching("img0001")
    objects = fill(app, bucket, "cam", BATCH)
    app.sweep()
    app.sweep()
    refused = objects[1]
    [record] = records(app, [refused])
    assert record.encord == "refused"  # type: ignore[attr-defined]
    batch = the_batch(app, images(bucket, "cam"))
    assert batch.submission is not None
    assert (batch.submission.items_matched, batch.submission.items_unmatched) == (BATCH - 1, 0)

    target.stub.clear_failures()  # the file is fixed and uploaded again
    again = StorageObject(bucket, refused.name, refused.generation + 1, size=1)
    assert app.register(again) is not None
    fill(app, bucket, "cam", BATCH - 1, start=10)  # fills the next batch
    app.sweep()
    app.sweep()

    [item] = target.stub.items_for_url(target.folder or "", https_url(again))
    [record] = records(app, [again])
    assert record.obj.generation == again.generation  # type: ignore[attr-defined]
    assert record.item_uuid == item.uuid  # type: ignore[attr-defined]
    reasons = [r.reason for r in app.store.rejections.of_object(bucket, refused.name)]
    assert "encord_refused" in reasons


def test_a_death_between_the_message_and_the_recorded_end_publishes_again_once_and_links_once(
    target: EncordTarget, bucket: str
) -> None:
    """The documented at-least-once window: Pub/Sub accepted the message, then the write
    that records the job's end failed (the instance as good as dead there). The next sweep
    polls the job again and publishes a second copy (same job_id, same lists); after that the
    end is recorded and nothing is published or linked again."""
    plan = FaultPlan()
    notes = RecordingNotifications()
    dataset = target.stub.add_dataset()

    def wrap(backends: Backends) -> Backends:
        return with_faults(replace(backends, notifications=notes), plan)

    app = app_with_encord(
        target.settings(batch_images=BATCH, encord_datasets=(dataset,)), wrap=wrap
    )
    fill(app, bucket, "cam", BATCH)
    app.sweep()  # PENDING
    plan.configure("submissions.record_job=unavailable")
    failed = app.sweep()
    plan.configure("")
    assert failed.errors and failed.jobs_finished == []
    assert len(notes.published) == 1
    assert target.stub.linked_items(dataset) == []  # links follow the recorded end only

    assert app.sweep().jobs_finished != []
    app.sweep()
    assert len(notes.published) == 2
    first, second = (n.payload() for n in notes.published)
    assert first["job_id"] == second["job_id"]
    assert first["registered"] == second["registered"]
    assert len(target.stub.linked_items(dataset)) == BATCH
    links = [r for r in target.stub.requests() if r.query_type == "datasetlinkitems"]
    assert len(links) == 1


def test_an_item_encord_will_not_delete_is_for_a_person_and_shows_in_status(
    target: EncordTarget, bucket: str
) -> None:
    app = app_with_encord(target.settings(batch_images=BATCH, encord_on_delete="delete"))
    objects = fill(app, bucket, "cam", BATCH)  # never uploaded: the bucket says they are gone
    app.sweep()
    app.sweep()
    [item] = target.stub.items_for_url(target.folder or "", https_url(objects[0]))
    assert app.store.deletes is not None
    app.store.deletes.delete_items([item.uuid])  # someone deleted it in Encord by hand

    assert app.withdraw(objects[0]) is not None
    carried = app.sweep().follow_ups
    assert carried == [f"gs://{bucket}/{objects[0].name}: delete_item"]
    [record] = records(app, [objects[0]])
    assert record.state == "claimed"  # type: ignore[attr-defined]  # not tombstoned: not done
    attention = [a for a in app.status()["attention"] if a["kind"] == "follow_up_failed"]
    assert len(attention) == 1 and item.uuid in attention[0]["detail"]
    assert app.sweep().follow_ups == []  # not retried on its own
