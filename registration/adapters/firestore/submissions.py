"""A written batch's Encord submission in Firestore: load the batch, decide, save.

Every write is one small transaction over the batch document alone: read it, hand its
state to domain/batch_lifecycle.py, and save the submission that decision returns (or
nothing, for a stale writer). The adapter decides nothing itself. Idle time, for taking
over a silent intent, is judged by Firestore's clock (read time minus update time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    BATCHES,
    Documents,
    fields_of,
    idle_seconds,
    records_of,
    submission_fields,
    submission_of,
)
from registration.domain.batch_lifecycle import Decision, DecisionOf, Next, SubmissionWrites
from registration.domain.model import BatchRecord, BatchState
from registration.domain.submission import SubmissionState


class FirestoreSubmissions(SubmissionWrites):
    """Implements services.ports.Submissions."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def apply_decision(
        self, batch: BatchRecord, decision_of: DecisionOf, *, intent: bool = False
    ) -> Decision:
        ref = self._docs.batch(batch.buffer, batch.seq)

        @firestore.transactional
        def run(transaction: Any) -> Decision:
            snapshot = ref.get(transaction=transaction)
            fields = fields_of(snapshot) if snapshot.exists else {}
            state = BatchState(fields["state"]) if "state" in fields else None
            decision = decision_of(state, submission_of(fields), idle_seconds(snapshot))
            if isinstance(decision, Next):
                saved = submission_fields(decision.submission)
                if intent:
                    saved["submitting_since"] = firestore.SERVER_TIMESTAMP
                transaction.update(ref, saved)
            return decision

        result: Decision = run(self._docs.client.transaction())
        return result

    # -- queries ------------------------------------------------------------------------

    def _anywhere(self, values: list[str], limit: int) -> list[BatchRecord]:
        """Batches of every buffer whose submission is in one of values (a collection-group
        query): the cost follows the batches found, never the buffers."""
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("submission", "in", values))
            .limit(limit)
        )
        return records_of(query)

    def submissions_due(self, limit: int) -> list[BatchRecord]:
        """Batches whose Encord submission is not finished, in order of their next attempt
        (a composite collection-group index: adapters/firestore/indexes.py)."""
        unfinished = [state.value for state in SubmissionState if state.unfinished]
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("submission", "in", unfinished))
            .order_by("next_attempt_at")
            .limit(limit)
        )
        return records_of(query)

    def failed_submissions(self, limit: int) -> list[BatchRecord]:
        """Batches Encord refused, or whose job ended in ERROR or was cancelled."""
        return self._anywhere([s.value for s in SubmissionState if s.needs_attention], limit)

    def links_due(self, now: datetime, limit: int) -> list[BatchRecord]:
        """Finished batches with a dataset link due by now (`links_due_at`, kept by
        submission_fields): a collection-group range query whose cost follows the links due."""
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("links_due_at", "<=", now))
            .order_by("links_due_at")
            .limit(limit)
        )
        return records_of(query)

    def failed_follow_ups(self, limit: int) -> list[BatchRecord]:
        """Finished batches whose dataset link or notification was refused."""
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter("follow_up_failed", "==", True))
            .limit(limit)
        )
        return records_of(query)
