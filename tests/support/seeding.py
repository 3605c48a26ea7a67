"""Idle buffers written straight into Firestore, as a bucket's history looks: a buffer
document, one written batch and its registered record each, nothing pending. Shared by the
emulator tests of the due-work sweep and by bench/housekeeping.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from registration.adapters.firestore.documents import batch_key, object_id
from registration.domain.model import BufferRef, ManifestKey

Write = tuple[Any, dict[str, object]]


def seed_idle_buffers(
    client: Any, bucket: str, count: int, start: int = 0, moment: datetime | None = None
) -> None:
    """count buffers whose every object is in a written manifest, flushed 30 days ago."""
    moment = moment or datetime.now(UTC) - timedelta(days=30)
    writes: list[Write] = []
    for index in range(start, start + count):
        buffer = BufferRef(bucket, f"history/day-{index:05d}", ManifestKey.IMAGES)
        name = f"{buffer.folder}/frame.jpg"
        path = f"encord-manifests/{buffer.folder}/images/000001.json"
        buffer_ref = client.collection("buffers").document(buffer.ident)
        writes.append(
            (
                buffer_ref,
                {
                    "bucket": bucket, "folder": buffer.folder, "key": "images",
                    "create_video": False, "created_at": moment, "next_seq": 2,
                    "batches_written": 1, "objects_registered": 1, "last_flush_at": moment,
                    "last_manifest_path": f"gs://{bucket}/{path}", "pending": 0,
                    "oldest_pending_at": None,
                },
            )
        )  # fmt: skip
        writes.append(
            (
                buffer_ref.collection("batches").document("000001"),
                {
                    "seq": 1, "state": "written", "bucket": bucket, "folder": buffer.folder,
                    "key": "images", "create_video": False, "manifest_bucket": bucket,
                    "manifest_path": path, "item_count": 1, "claimed_at": moment,
                    "written_at": moment,
                },
            )
        )  # fmt: skip
        writes.append(
            (
                client.collection("objects").document(object_id(bucket, name)),
                {
                    "bucket": bucket, "name": name, "generation": 1, "state": "claimed",
                    "created_at": moment, "batch": 1, "batch_key": batch_key(buffer, 1),
                    "buffer": buffer.ident, "key": "images", "create_video": False,
                },
            )
        )  # fmt: skip
    for chunk in _chunks(writes, 500):
        batch = client.batch()
        for ref, fields in chunk:
            batch.set(ref, fields)
        batch.commit()


def _chunks(items: list[Write], size: int) -> Iterator[list[Write]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
