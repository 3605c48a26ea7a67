"""Housekeeping over documents it cannot read, and in the order work is due (issue 19,
findings 4 and 8), on the Firestore emulator.

A batch document without `bucket`, `folder` or `key` (the layout before the redesign) made
the sweep's first step and status's stuck-batch query raise KeyError, so one document
stopped housekeeping for every buffer. Now it is skipped, named and counted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from devstack.stack import Stack
from registration.clock import utc_now
from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.presenters.wire import status_json
from registration.services.status import status
from registration.services.sweep import sweep
from tests.support.app import app_on_emulators

PROJECT = "local-project"


def client() -> Any:
    return firestore.Client(project=PROJECT)


def old_batch(buffer_ident: str, seq: int = 1) -> str:
    """A claimed batch as the layout before the redesign wrote it: no identity fields."""
    path = f"buffers/{buffer_ident}/batches/{seq:06d}"
    client().document(path).set(
        {
            "seq": seq,
            "state": "claimed",
            "manifest_bucket": "b",
            "manifest_path": f"m/{seq}.json",
            "item_count": 1,
            "claimed_at": utc_now() - timedelta(hours=1),
            "written_at": None,
        }
    )
    return path


def test_a_batch_document_without_its_buffers_identity_is_skipped_and_reported_while_due_work_goes_on(  # noqa: E501
    emulators: Stack, bucket: str
) -> None:
    app = app_on_emulators(Settings(max_age_seconds=60, sweep_budget_seconds=60))
    due = StorageObject(bucket, "cam/a.jpg", 1, size=1)
    app.register(due)
    path = old_batch("0123456789abcdef")
    later = app_on_emulators(app.settings, clock=lambda: utc_now() + timedelta(minutes=5))

    report = sweep(later.ctx)
    view = status_json(status(later.ctx))

    assert report.unreadable == [path]
    assert report.as_dict()["unreadable_count"] == 1
    assert len(report.manifests_written) == 1  # the due buffer was flushed all the same
    assert view["unreadable"] == [path] and view["unreadable_count"] == 1


def test_an_object_record_and_a_buffer_document_that_cannot_be_read_are_skipped_and_counted(
    emulators: Stack, bucket: str
) -> None:
    app = app_on_emulators(Settings(max_age_seconds=60))
    good = BufferRef(bucket, "good", ManifestKey.IMAGES)
    bad = BufferRef(bucket, "bad", ManifestKey.IMAGES)
    app.register(StorageObject(bucket, "good/a.jpg", 1, size=1))
    app.register(StorageObject(bucket, "bad/a.jpg", 1, size=1))
    db = client()
    # A buffer document that lost its folder, and a pending record with an unknown key.
    db.document(f"buffers/{bad.ident}").update({"folder": firestore.DELETE_FIELD})
    app.register(StorageObject(bucket, "odd/a.jpg", 1, size=1))
    odd = BufferRef(bucket, "odd", ManifestKey.IMAGES)
    query = db.collection("objects").where(filter=FieldFilter("buffer", "==", odd.ident))
    odd_record = next(iter(query.stream()))
    odd_record.reference.update({"key": "holograms"})

    view = status_json(status(app.ctx))

    assert {row["id"] for row in view["buffers"]} == {good.ident}
    assert sorted(view["unreadable"]) == sorted([f"buffers/{bad.ident}", odd_record.reference.path])
    assert view["unreadable_count"] == 2


def test_due_submissions_come_in_order_of_their_next_attempt(emulators: Stack) -> None:
    app = app_on_emulators()
    now = utc_now()
    db = client()
    # Document order (by buffer id) is the reverse of the order their attempts are due.
    for position, ident in enumerate(["a" * 16, "b" * 16, "c" * 16]):
        db.document(f"buffers/{ident}/batches/000001").set(
            {
                "seq": 1,
                "state": "written",
                "bucket": "b",
                "folder": ident,
                "key": "images",
                "create_video": False,
                "manifest_bucket": "b",
                "manifest_path": f"m/{ident}.json",
                "item_count": 1,
                "submission": "pending",
                "submit_attempts": 1,
                "next_attempt_at": now - timedelta(minutes=position),
            }
        )

    due = app.store.submissions.submissions_due(2)

    assert [batch.buffer.folder for batch in due] == ["c" * 16, "b" * 16]
