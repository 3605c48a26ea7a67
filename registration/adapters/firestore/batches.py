"""Batches in Firestore: the lease, the claim of members, and the mark of a written manifest.

Staleness is decided by Firestore's clock, never the instance's: a lease or claim is dead
when the server's read time is more than a lease past the document's last update time, so
an instance whose clock drifts can neither steal a live lease nor keep a dead one alive.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    BATCHES,
    Documents,
    batch_key,
    batch_record,
    buffer_ref_of,
    fields_of,
    storage_object,
)
from registration.domain.lifecycle import ObjectState
from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferRef,
    ClaimedBatch,
    LeaseOutcome,
    StorageObject,
)
from registration.domain.submission import EncordJobResult, SubmissionState
from registration.exceptions import BackendUnavailableError

# A claim re-reads and retries when a member changed between its read and its commit.
CLAIM_ATTEMPTS = 5


def idle_seconds(snapshot: Any) -> float | None:
    """Server seconds since the document last changed (read time minus update time)."""
    read, updated = getattr(snapshot, "read_time", None), getattr(snapshot, "update_time", None)
    if read is None or updated is None:
        return None
    return float((read - updated).total_seconds())


class FirestoreBatches:
    """Implements services.ports.Batches."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def next_seq(self, buffer: BufferRef) -> int:
        snapshot = self._docs.buffer(buffer).get()
        return int(snapshot.get("next_seq")) if snapshot.exists else 1

    def acquire_lease(self, buffer: BufferRef, seq: int, lease_seconds: int) -> LeaseOutcome:
        # The lease is the batch document itself, created in state 'claiming'. create() is
        # first-writer-wins without a transaction, so a crowd of events that all see a full
        # buffer costs one failed write each instead of a pile of contending transactions.
        ref = self._docs.batch(buffer, seq)
        try:
            ref.create(
                {
                    "seq": seq,
                    "state": BatchState.CLAIMING.value,
                    "leased_at": firestore.SERVER_TIMESTAMP,
                    # The buffer's identity, so that a collection-group query over batches
                    # (the sweep's, the status view's) can act on one without its buffer.
                    "bucket": buffer.bucket,
                    "folder": buffer.folder,
                    "key": buffer.key.value,
                    "create_video": buffer.create_video,
                }
            )
            return LeaseOutcome.ACQUIRED
        except AlreadyExists:
            pass

        @firestore.transactional
        def take_over_if_stale(transaction: Any) -> LeaseOutcome:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return LeaseOutcome.HELD  # released a moment ago; the next event will try again
            state = BatchState(snapshot.get("state"))
            if state is BatchState.CLAIMED:
                return LeaseOutcome.ALREADY_CLAIMED
            if state is BatchState.WRITTEN:
                return LeaseOutcome.ALREADY_WRITTEN
            idle = idle_seconds(snapshot)
            if idle is None or idle < lease_seconds:
                return LeaseOutcome.HELD
            # Its holder died before claiming: take the lease over (a write renews it).
            transaction.update(ref, {"leased_at": firestore.SERVER_TIMESTAMP})
            return LeaseOutcome.ACQUIRED

        result: LeaseOutcome = take_over_if_stale(self._docs.client.transaction())
        return result

    def release_lease(self, buffer: BufferRef, seq: int) -> None:
        ref = self._docs.batch(buffer, seq)

        @firestore.transactional
        def release(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and snapshot.get("state") == BatchState.CLAIMING.value:
                transaction.delete(ref)

        release(self._docs.client.transaction())

    def claim(
        self,
        buffer: BufferRef,
        seq: int,
        *,
        limit: int,
        minimum: int,
        now: datetime,
        manifest_bucket: str,
        manifest_path: str,
        expire_at: datetime | None = None,
    ) -> ClaimedBatch | None:
        # Optimistic: no query inside a transaction (the emulator locks queries far too
        # coarsely, see BENCHMARKS.md); instead every write carries the update_time of
        # the snapshot it was decided on, and the commit is atomic: a member deleted or
        # overwritten meanwhile fails the whole claim, which re-reads and tries again.
        client = self._docs.client
        buffer_ref = self._docs.buffer(buffer)
        batch_ref = self._docs.batch(buffer, seq)
        query = _members_only(
            buffer, self._docs.pending(buffer).order_by("created_at").limit(limit)
        )
        for _ in range(CLAIM_ATTEMPTS):
            snapshots = {s.reference.path: s for s in client.get_all([buffer_ref, batch_ref])}
            buffer_snapshot = snapshots[buffer_ref.path]
            lease = snapshots[batch_ref.path]
            if not buffer_snapshot.exists or buffer_snapshot.get("next_seq") != seq:
                return None
            if not lease.exists or lease.get("state") != BatchState.CLAIMING.value:
                return None
            docs = list(query.stream())
            if len(docs) < minimum:
                return None
            batch = client.batch()
            member_fields: dict[str, Any] = {
                "state": ObjectState.CLAIMED.value,
                "batch": seq,
                "batch_key": batch_key(buffer, seq),
            }
            if expire_at is not None:
                member_fields["expire_at"] = expire_at  # the TTL policy's field (retention)
            for doc in docs:
                batch.update(
                    doc.reference,
                    member_fields,
                    option=client.write_option(last_update_time=doc.update_time),
                )
            batch.update(
                batch_ref,
                {
                    "seq": seq,
                    "state": BatchState.CLAIMED.value,
                    "manifest_bucket": manifest_bucket,
                    "manifest_path": manifest_path,
                    "item_count": len(docs),
                    "claimed_at": now,
                    "written_at": None,
                },
                option=client.write_option(last_update_time=lease.update_time),
            )
            batch.update(
                buffer_ref,
                {"next_seq": seq + 1},
                option=client.write_option(last_update_time=buffer_snapshot.update_time),
            )
            try:
                batch.commit()
            except FailedPrecondition:
                continue
            record = BatchRecord(
                buffer=buffer,
                seq=seq,
                state=BatchState.CLAIMED,
                manifest_bucket=manifest_bucket,
                manifest_path=manifest_path,
                item_count=len(docs),
                claimed_at=now,
                idle_seconds=0.0,
            )
            return ClaimedBatch(record, [storage_object(fields_of(doc)) for doc in docs])
        # Raised, so the event is redelivered (or the sweep retries) later.
        raise BackendUnavailableError(
            "Firestore", f"claim of batch {seq} of {buffer.label}: members kept changing under it"
        )

    def get(self, buffer: BufferRef, seq: int) -> BatchRecord | None:
        snapshot = self._docs.batch(buffer, seq).get()
        if not snapshot.exists:
            return None
        return _with_idle(batch_record(buffer, snapshot), snapshot)

    def members(self, buffer: BufferRef, seq: int) -> list[StorageObject]:
        # Claimed records never change again, so re-reading them rebuilds the same manifest.
        query = self._docs.objects().where(
            filter=FieldFilter("batch_key", "==", batch_key(buffer, seq))
        )
        docs = _members_only(buffer, query).stream()
        return [
            storage_object(fields_of(doc))
            for doc in docs
            if doc.get("state") == ObjectState.CLAIMED.value
        ]

    def mark_written(self, batch: BatchRecord, now: datetime, *, submit: bool = False) -> bool:
        """Claimed -> written, once; with submit, the batch also awaits its Encord job."""
        batch_ref = self._docs.batch(batch.buffer, batch.seq)
        buffer_ref = self._docs.buffer(batch.buffer)

        @firestore.transactional
        def mark(transaction: Any) -> bool:
            # Two finishers of one batch must not count it twice in the summary.
            snapshot = batch_ref.get(transaction=transaction)
            if not snapshot.exists or snapshot.get("state") != BatchState.CLAIMED.value:
                return False
            written: dict[str, Any] = {"state": BatchState.WRITTEN.value, "written_at": now}
            if submit:
                written.update(
                    {
                        "submission": SubmissionState.PENDING.value,
                        "submit_attempts": 0,
                        "next_attempt_at": now,
                    }
                )
            transaction.update(batch_ref, written)
            transaction.update(
                buffer_ref,
                {
                    "last_flush_at": now,
                    "last_manifest_path": batch.manifest_url,
                    "batches_written": firestore.Increment(1),
                    "objects_registered": firestore.Increment(batch.item_count),
                },
            )
            return True

        result: bool = mark(self._docs.client.transaction())
        return result

    def mark_invalid(self, batch: BatchRecord, problem: str) -> bool:
        """Claimed -> invalid, once: its members stay bound to it and are rejected."""
        ref = self._docs.batch(batch.buffer, batch.seq)

        @firestore.transactional
        def mark(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists or snapshot.get("state") != BatchState.CLAIMED.value:
                return False
            transaction.update(ref, {"state": BatchState.INVALID.value, "problem": problem})
            return True

        result: bool = mark(self._docs.client.transaction())
        return result

    # -- submission to Encord -----------------------------------------------------------

    def begin_submission(self, batch: BatchRecord, now: datetime, lease_seconds: int) -> bool:
        """Record the intent to submit, and hold it: True for exactly one instance at a time.

        A batch may be submitted when it awaits submission and its next attempt is due, or
        when an instance recorded the intent and then went silent for longer than a lease
        (Firestore's clock): it died between Encord accepting and the job id being kept,
        or before calling, and the batch is submitted again.
        """
        ref = self._docs.batch(batch.buffer, batch.seq)

        @firestore.transactional
        def begin(transaction: Any) -> bool:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return False
            fields = fields_of(snapshot)
            state = fields.get("submission")
            due = fields.get("next_attempt_at")
            if state == SubmissionState.PENDING.value and (due is None or due <= now):
                pass
            elif state == SubmissionState.SUBMITTING.value:
                idle = idle_seconds(snapshot)
                if idle is None or idle < lease_seconds:
                    return False
            else:
                return False
            transaction.update(
                ref,
                {
                    "submission": SubmissionState.SUBMITTING.value,
                    "submit_attempts": firestore.Increment(1),
                    "submitting_since": firestore.SERVER_TIMESTAMP,
                },
            )
            return True

        result: bool = begin(self._docs.client.transaction())
        return result

    def record_submitted(self, batch: BatchRecord, job_id: str, now: datetime) -> None:
        self._update(
            batch,
            {
                "submission": SubmissionState.SUBMITTED.value,
                "job_id": job_id,
                "submitted_at": now,
                "submission_problem": None,
            },
        )

    def record_retry(self, batch: BatchRecord, next_attempt_at: datetime, problem: str) -> None:
        self._update(
            batch,
            {
                "submission": SubmissionState.PENDING.value,
                "next_attempt_at": next_attempt_at,
                "submission_problem": problem,
            },
        )

    def record_refused(self, batch: BatchRecord, problem: str) -> None:
        self._update(
            batch,
            {"submission": SubmissionState.FAILED.value, "submission_problem": problem},
        )

    def record_job(self, batch: BatchRecord, result: EncordJobResult, now: datetime) -> None:
        fields: dict[str, Any] = {
            "job_status": result.status,
            "units_done": result.units_done,
            "units_error": result.units_error,
            "units_pending": result.units_pending,
            "units_cancelled": result.units_cancelled,
            "last_polled_at": now,
        }
        if result.finished:
            fields["submission"] = result.final_state.value
            fields["job_finished_at"] = now
        self._update(batch, fields)

    def resubmit(self, batch: BatchRecord, now: datetime) -> bool:
        """An operator's decision: submit a written batch again, whatever its state."""
        ref = self._docs.batch(batch.buffer, batch.seq)
        snapshot = ref.get()
        if not snapshot.exists or snapshot.get("state") != BatchState.WRITTEN.value:
            return False
        self._update(
            batch,
            {
                "submission": SubmissionState.PENDING.value,
                "next_attempt_at": now,
                "job_id": None,
                "submission_problem": None,
            },
        )
        return True

    def _update(self, batch: BatchRecord, fields: dict[str, Any]) -> None:
        self._docs.batch(batch.buffer, batch.seq).update(fields)

    def _anywhere(self, field: str, values: list[str], limit: int) -> list[BatchRecord]:
        """Batches of every buffer whose field holds one of values (a collection-group
        query): the cost follows the batches found, never the buffers."""
        query = (
            self._docs.client.collection_group(BATCHES)
            .where(filter=FieldFilter(field, "in", values))
            .limit(limit)
        )
        return _records_of(query)

    def submissions_due(self, limit: int) -> list[BatchRecord]:
        """Batches whose Encord submission is not finished."""
        unfinished = [state.value for state in SubmissionState if state.unfinished]
        return self._anywhere("submission", unfinished, limit)

    def failed_submissions(self, limit: int) -> list[BatchRecord]:
        """Batches Encord refused, or whose job ended in ERROR or was cancelled."""
        failed = [state.value for state in SubmissionState if state.needs_attention]
        return self._anywhere("submission", failed, limit)

    def in_state(self, state: BatchState, limit: int) -> list[BatchRecord]:
        return self._anywhere("state", [state.value], limit)

    def by_manifest(self, bucket: str, path: str) -> BatchRecord | None:
        """The batch whose manifest is gs://bucket/path, in any buffer: a collection-group
        query on its path (indexes.py), so 1 read whatever the number of buffers."""
        found = [
            batch
            for batch in self._anywhere("manifest_path", [path], 10)
            if batch.manifest_bucket == bucket
        ]
        return found[0] if found else None

    def unfinished(self, buffer: BufferRef) -> list[BatchRecord]:
        query = self._docs.batches(buffer).where(
            filter=FieldFilter("state", "in", [BatchState.CLAIMING.value, BatchState.CLAIMED.value])
        )
        return [_with_idle(batch_record(buffer, snapshot), snapshot) for snapshot in query.stream()]


# What a group's manifest needs of each member: a group of 15,000 members (the cap) with
# heavy custom metadata would otherwise be loaded whole (metadata never goes into an item).
GROUP_MEMBER_FIELDS = (
    "bucket", "name", "generation", "state", "size", "content_type", "time_created",
    "series_uid", "instance_number",
)  # fmt: skip


def _members_only(buffer: BufferRef, query: Any) -> Any:
    return query.select(list(GROUP_MEMBER_FIELDS)) if buffer.grouped else query


def _records_of(query: Any) -> list[BatchRecord]:
    """The batches a collection-group query found, each with its buffer and idle time."""
    return [
        _with_idle(batch_record(buffer_ref_of(fields_of(snapshot)), snapshot), snapshot)
        for snapshot in query.stream()
    ]


def _with_idle(record: BatchRecord, snapshot: Any) -> BatchRecord:
    return replace(record, idle_seconds=idle_seconds(snapshot))
