"""Backfill checkpoints in Firestore: where a resumable listing got to."""

from __future__ import annotations

from typing import Any

from registration.adapters.firestore.documents import BACKFILLS, Documents, fields_of


class FirestoreCheckpoints:
    """Implements services.ports.Checkpoints."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def load(self, job: str) -> dict[str, Any] | None:
        snapshot = self._docs.client.collection(BACKFILLS).document(job).get()
        return fields_of(snapshot) if snapshot.exists else None

    def save(self, job: str, fields: dict[str, Any]) -> None:
        self._docs.client.collection(BACKFILLS).document(job).set(fields, merge=True)
