"""`python -m registration migrate` (issue 19, finding 9): data written in the layout before
the redesign (records under buffers/{id}/objects, batch documents without the buffer's
identity) moves into today's, on the Firestore emulator, and its pending objects are then
flushed like any others. Idempotent and resumable."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from click.testing import CliRunner
from google.cloud import firestore
from google.cloud.storage import Client as StorageClient

from devstack.stack import Stack
from registration.bootstrap import build_legacy_layout
from registration.cli.commands import cli
from registration.clock import utc_now
from registration.config import Settings
from registration.domain.migration import SCHEMA_VERSION
from registration.domain.model import BufferRef, ManifestKey, StorageObject, stable_id
from registration.manifest.urls import parse_object_url
from registration.services.migrate import migrate
from tests.support.app import App, app_on_emulators

PROJECT = "local-project"


def db() -> Any:
    return firestore.Client(project=PROJECT)


def seed_old_buffer(bucket: str, folder: str, since: datetime) -> BufferRef:
    """One buffer as commit f1f9a02 wrote it: 3 pending images, one claimed into batch 1
    (whose manifest was written), one deleted before its batch."""
    buffer = BufferRef(bucket, folder, ManifestKey.IMAGES)
    client = db()
    doc = client.collection("buffers").document(buffer.ident)
    doc.set(
        {
            "bucket": bucket,
            "folder": folder,
            "key": "images",
            "create_video": False,
            "created_at": since,
            "next_seq": 2,
            "batches_written": 1,
            "objects_registered": 1,
            "last_flush_at": since,
            "last_manifest_path": f"gs://{bucket}/encord-manifests/{folder}/images/1.json",
            "pending": 3,
            "oldest_pending_at": since,
            "summary_at": since,
        }
    )
    for i, state in enumerate(["pending", "pending", "pending", "claimed", "deleted"]):
        name = f"{folder}/old{i}.jpg"
        fields: dict[str, Any] = {
            "bucket": bucket,
            "name": name,
            "generation": 1,
            "state": state,
            "created_at": since + timedelta(seconds=i),
            "size": 10,
            "content_type": "image/jpeg",
            "custom_metadata": {"camera": "3"} if i == 0 else {},
            "time_created": None,
            "series_uid": None,
            "instance_number": None,
            "batch": 1 if state == "claimed" else None,
        }
        if state == "deleted":
            fields["deleted_at"] = since
        doc.collection("objects").document(stable_id(bucket, name)).set(fields)
    doc.collection("batches").document("000001").set(
        {
            "seq": 1,
            "state": "written",
            "leased_at": since,
            "manifest_bucket": bucket,
            "manifest_path": f"encord-manifests/{folder}/images/1.json",
            "item_count": 1,
            "claimed_at": since,
            "written_at": since,
        }
    )
    return buffer


def manifest_names(bucket: str) -> list[str]:
    from google.auth.credentials import AnonymousCredentials

    storage = StorageClient(project=PROJECT, credentials=AnonymousCredentials())
    names: list[str] = []
    for blob in storage.list_blobs(bucket, prefix="encord-manifests/"):
        for item in json.loads(blob.download_as_bytes())["images"]:
            names.append(parse_object_url(item["objectUrl"])[1])
    return sorted(names)


def later(app: App, minutes: int = 30) -> App:
    return app_on_emulators(app.settings, clock=lambda: utc_now() + timedelta(minutes=minutes))


def test_an_old_layout_is_migrated_and_its_pending_objects_are_flushed_into_a_manifest(
    emulators: Stack, bucket: str
) -> None:
    since = utc_now() - timedelta(hours=2)
    buffer = seed_old_buffer(bucket, "cam", since)
    app = app_on_emulators(Settings(max_age_seconds=60))

    report = migrate(build_legacy_layout(), app.store.checkpoints, app.ctx.clock)

    assert (report.buffers, report.records_moved, report.batches_upgraded) == (1, 5, 1)
    assert report.finished and report.unreadable == []
    client = db()
    assert list(client.collection(f"buffers/{buffer.ident}/objects").stream()) == []
    batch = client.document(f"buffers/{buffer.ident}/batches/000001").get().to_dict()
    assert (batch["bucket"], batch["folder"], batch["key"]) == (bucket, "cam", "images")
    assert batch["schema"] == SCHEMA_VERSION
    moved = client.document(f"objects/{stable_id(bucket, 'cam/old0.jpg')}").get().to_dict()
    assert moved["buffer"] == buffer.ident and moved["schema"] == SCHEMA_VERSION
    assert json.loads(moved["metadata"]) == {"camera": "3"}
    claimed = app.store.batches.members(buffer, 1)
    assert [obj.name for obj in claimed] == ["cam/old3.jpg"]  # its batch finds it again

    swept = later(app).sweep()

    assert len(swept.manifests_written) == 1
    assert manifest_names(bucket) == ["cam/old0.jpg", "cam/old1.jpg", "cam/old2.jpg"]
    assert app.store.records.count_pending(buffer) == 0


def test_a_second_migration_changes_nothing_and_new_records_beat_older_generations(
    emulators: Stack, bucket: str
) -> None:
    since = utc_now() - timedelta(hours=2)
    seed_old_buffer(bucket, "cam", since)
    app = app_on_emulators(Settings(max_age_seconds=60))
    # Written by today's code after the upgrade: a newer generation of an old name.
    app.register(StorageObject(bucket, "cam/old1.jpg", 2, size=10))

    first = migrate(build_legacy_layout(), app.store.checkpoints, app.ctx.clock)
    again = migrate(build_legacy_layout(), app.store.checkpoints, app.ctx.clock)

    assert (first.records_moved, first.records_superseded) == (4, 1)
    assert (again.records_moved, again.records_superseded, again.batches_upgraded) == (0, 0, 0)
    [record] = app.store.bulk.object_records([(bucket, "cam/old1.jpg")])
    assert record is not None and record.obj.generation == 2


def test_an_interrupted_migration_resumes_after_the_last_buffer_it_finished(
    emulators: Stack, bucket: str
) -> None:
    since = utc_now() - timedelta(hours=2)
    buffers = sorted(
        (seed_old_buffer(bucket, folder, since) for folder in ("a", "b", "c")),
        key=lambda buffer: buffer.ident,
    )
    app = app_on_emulators(Settings(max_age_seconds=60))

    stopped = migrate(build_legacy_layout(), app.store.checkpoints, app.ctx.clock, stop_after=1)
    resumed = migrate(build_legacy_layout(), app.store.checkpoints, app.ctx.clock)

    assert (stopped.buffers, stopped.finished) == (1, False)
    assert resumed.resumed_after == buffers[0].ident
    assert (resumed.buffers, resumed.records_moved, resumed.finished) == (2, 10, True)


def test_the_migrate_command_reports_what_it_moved_as_json(emulators: Stack, bucket: str) -> None:
    seed_old_buffer(bucket, "cam", utc_now() - timedelta(hours=2))

    result = CliRunner().invoke(cli, ["migrate", "--json"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["records_moved"], report["batches_upgraded"], report["finished"]) == (5, 1, True)
