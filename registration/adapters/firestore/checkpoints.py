"""Checkpoints in Firestore: where a backfill, the sweep's scan or the migration got to."""

from __future__ import annotations

from typing import Any

from registration.adapters.firestore.documents import BACKFILLS, Documents, fields_of
from registration.domain.checkpoint import Checkpoint, CheckpointState
from registration.domain.migration import SCHEMA_VERSION

# The fields docs/firestore-schema.md documents for backfills/{job id}; scope and counts are
# stored flat beside them (bucket, prefix; run_listed, ...), as dashboards read them.
_FIXED = ("last_name", "state", "run_started_at", "updated_at", "finished_at", "schema")


class FirestoreCheckpoints:
    """Implements services.ports.Checkpoints."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def load(self, job: str) -> Checkpoint | None:
        snapshot = self._docs.client.collection(BACKFILLS).document(job).get()
        return checkpoint_of(fields_of(snapshot)) if snapshot.exists else None

    def save(self, job: str, checkpoint: Checkpoint) -> None:
        self._docs.client.collection(BACKFILLS).document(job).set(checkpoint_fields(checkpoint))


def checkpoint_fields(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "last_name": checkpoint.position,
        "state": checkpoint.state.value,
        "run_started_at": checkpoint.run_started_at,
        "updated_at": checkpoint.updated_at,
        "finished_at": checkpoint.finished_at,
        **checkpoint.scope,
        **checkpoint.counts,
        "schema": SCHEMA_VERSION,
    }


def checkpoint_of(fields: dict[str, Any]) -> Checkpoint:
    # A checkpoint written before this type ("cursor", no state) reads as running from there.
    position = fields.get("last_name", fields.get("cursor"))
    state = fields.get("state") or CheckpointState.RUNNING.value
    extra = {key: value for key, value in fields.items() if key not in (*_FIXED, "cursor", "at")}
    return Checkpoint(
        position=None if position is None else str(position),
        state=CheckpointState(state),
        scope={key: value for key, value in extra.items() if isinstance(value, str)},
        counts={key: value for key, value in extra.items() if isinstance(value, int)},
        run_started_at=fields.get("run_started_at"),
        updated_at=fields.get("updated_at"),
        finished_at=fields.get("finished_at"),
    )
