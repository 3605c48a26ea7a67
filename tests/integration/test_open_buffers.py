"""The open mark that the sweep's skip scan reads (adapters/firestore/queue.py): set before
a record is queued, cleared only when the buffer is empty and has been still long enough
that no instance can still be queueing on a mark it cached."""

from __future__ import annotations

from datetime import UTC, datetime

from google.cloud import firestore

from devstack.stack import PROJECT, Stack
from registration.adapters.firestore.batches import FirestoreBatches
from registration.adapters.firestore.buffers import FirestoreBuffers
from registration.adapters.firestore.documents import Documents
from registration.adapters.firestore.records import FirestoreObjectRecords
from registration.domain.model import BufferRef, ManifestKey, StorageObject

NOW = datetime(2026, 12, 5, tzinfo=UTC)
BUFFER = BufferRef("bkt", "cam", ManifestKey.IMAGES)


def documents() -> Documents:
    return Documents(firestore.Client(project=PROJECT))


def queue_and_claim_everything(docs: Documents, names: list[str]) -> None:
    buffers, records, batches = (
        FirestoreBuffers(docs),
        FirestoreObjectRecords(docs),
        FirestoreBatches(docs),
    )
    buffers.ensure(BUFFER, NOW)
    for name in names:
        records.add_pending(BUFFER, StorageObject("bkt", name, 1), NOW)
    seq = batches.next_seq(BUFFER)
    batches.acquire_lease(BUFFER, seq, 60)
    claimed = batches.claim(
        BUFFER, seq, limit=100, minimum=1, now=NOW, manifest_bucket="bkt", manifest_path="m"
    )
    assert claimed is not None and len(claimed.members) == len(names)


def is_open(docs: Documents) -> bool:
    return bool(docs.buffer(BUFFER).get().get("open"))


def test_an_empty_buffer_marked_moments_ago_stays_open_and_costs_no_write(emulators: Stack) -> None:
    docs = documents()
    queue_and_claim_everything(docs, ["cam/a.jpg", "cam/b.jpg"])

    assert FirestoreObjectRecords(docs).pending_buffers(None, 10) == []
    assert is_open(docs)  # an instance may still hold its mark: not closed yet


def test_an_empty_idle_buffer_is_closed_and_a_later_record_opens_it_again(emulators: Stack) -> None:
    docs = documents()
    queue_and_claim_everything(docs, ["cam/a.jpg"])
    # As if the buffer had been still for the whole closing margin (no instance's mark is
    # cached any longer: each instance below starts with an empty cache).
    records = FirestoreObjectRecords(docs, close_after_seconds=0)

    assert records.pending_buffers(None, 10) == []
    assert not is_open(docs)

    FirestoreBuffers(docs).ensure(BUFFER, NOW)  # a new instance marks before it queues
    records.add_pending(BUFFER, StorageObject("bkt", "cam/c.jpg", 1), NOW)
    assert [item.buffer for item in records.pending_buffers(None, 10)] == [BUFFER]
    assert is_open(docs)


def test_marking_an_open_buffer_again_restarts_its_closing_margin(emulators: Stack) -> None:
    # Firestore keeps a document's update time when a write changes nothing, and the sweep
    # counts the closing margin from it: a mark must change the document every time.
    docs = documents()
    FirestoreBuffers(docs).ensure(BUFFER, NOW)
    before = docs.buffer(BUFFER).get().update_time

    FirestoreBuffers(docs).ensure(BUFFER, NOW)  # another instance: its own first mark

    assert docs.buffer(BUFFER).get().update_time > before
