"""What the claim by range (registration/domain/claim_range.py) takes from Firestore, shown
on the emulator before the stores rely on it: one OR query merges a buffer's shard ranges
in order (and counts them), and a commit's server timestamp is later than anything a query
before it returned, so nothing can slip in behind a cursor."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from devstack.stack import PROJECT, Stack
from registration.adapters.firestore.documents import Documents
from registration.adapters.firestore.queue import after_cursor
from registration.domain.claim_range import SHARDS, Cursor, Position, Queued, shard_of, take
from registration.domain.model import BufferRef, ManifestKey

BUFFER_REF = BufferRef("bkt", "claim-range", ManifestKey.IMAGES)
BUFFER = BUFFER_REF.ident


def queue(client: firestore.Client, ident: str) -> None:
    client.collection("objects").document(ident).create(
        {
            "buffer": BUFFER,
            "state": "pending",
            "shard": shard_of(ident),
            "queued_at": firestore.SERVER_TIMESTAMP,
        }
    )


def after(cursor: Cursor) -> Any:
    """The buffer's pending records after each shard's cursor: the adapters' own query."""
    documents = Documents(firestore.Client(project=PROJECT))
    return after_cursor(documents, BUFFER_REF, cursor)


def queued(snapshot: Any) -> Queued:
    return Queued(snapshot.get("shard"), Position(snapshot.get("queued_at"), snapshot.id))


def test_one_or_query_reads_every_shard_after_its_cursor_in_commit_order(
    emulators: Stack,
) -> None:
    client = firestore.Client(project=PROJECT)
    idents = [f"doc-{index:03d}" for index in range(40)]
    for ident in idents:
        queue(client, ident)
    found = [queued(snapshot) for snapshot in after(Cursor()).stream()]
    assert [item.position.ident for item in found] == idents  # commit order, all shards
    assert {item.shard for item in found} == set(range(SHARDS))

    members, cursor = take([[item for item in found if item.shard == s] for s in range(SHARDS)],
                           15, Cursor())  # fmt: skip
    rest = [queued(snapshot) for snapshot in after(cursor).stream()]
    assert [item.position.ident for item in members + rest] == idents
    count = after(cursor).count(alias="n").get()
    assert int(count[0][0].value) == len(rest)


def test_a_record_committed_after_a_claim_read_sorts_after_everything_that_read_returned(
    emulators: Stack,
) -> None:
    client = firestore.Client(project=PROJECT)
    for index in range(10):
        queue(client, f"early-{index}")
    read = [queued(snapshot) for snapshot in after(Cursor()).stream()]
    queue(client, "late")
    late = queued(client.collection("objects").document("late").get())
    assert all(late.position.queued_at > item.position.queued_at for item in read)


def test_records_queued_by_one_commit_are_claimed_in_id_order_across_a_tie(
    emulators: Stack,
) -> None:
    # A backfill commits up to 500 creates at once: they share one queued_at, and a cursor
    # that stops inside them must still see the rest (the __name__ half of each disjunct).
    client = firestore.Client(project=PROJECT)
    idents = [f"tie-{index:03d}" for index in range(60)]
    batch = client.batch()
    for ident in idents:
        batch.create(
            client.collection("objects").document(ident),
            {
                "buffer": BUFFER,
                "state": "pending",
                "shard": shard_of(ident),
                "queued_at": firestore.SERVER_TIMESTAMP,
            },
        )
    batch.commit()
    found = [queued(snapshot) for snapshot in after(Cursor()).stream()]
    assert len({item.position.queued_at for item in found}) == 1  # one commit, one time
    assert [item.position.ident for item in found] == sorted(idents)

    taken: list[Queued] = []
    cursor = Cursor()
    while rest := [queued(snapshot) for snapshot in after(cursor).limit(7).stream()]:
        members, cursor = take(
            [[i for i in rest if i.shard == s] for s in range(SHARDS)], 7, cursor
        )
        taken += members
    assert [item.position.ident for item in taken] == sorted(idents)  # each once, in order
