"""What the claim by range (registration/domain/claim_range.py) takes from Firestore, shown
on the emulator before the stores rely on it: one OR query merges a buffer's shard ranges
in order (and counts them), and a commit's server timestamp is later than anything a query
before it returned, so nothing can slip in behind a cursor."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import And, BaseFilter, FieldFilter, Or

from devstack.stack import PROJECT, Stack
from registration.domain.claim_range import SHARDS, Cursor, Position, Queued, shard_of, take

BUFFER = "claim-range-buffer"


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
    """The buffer's pending records after each shard's cursor, as one query."""
    disjuncts: list[BaseFilter] = []
    for shard in range(SHARDS):
        parts: list[BaseFilter] = [FieldFilter("shard", "==", shard)]
        last = cursor.through[shard]
        if last is not None:
            parts.append(FieldFilter("queued_at", ">", last.queued_at))
        disjuncts.append(And(parts) if len(parts) > 1 else parts[0])
    return (
        firestore.Client(project=PROJECT)
        .collection("objects")
        .where(filter=FieldFilter("buffer", "==", BUFFER))
        .where(filter=FieldFilter("state", "==", "pending"))
        .where(filter=Or(disjuncts))
        .order_by("queued_at")
    )


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
