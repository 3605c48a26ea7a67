"""Firestore document names and field mapping, shared by the per-concern adapters.

Layout (docs/firestore-schema.md has every field):
  objects/{object_id}                      one per object NAME: newest generation, its state
                                           and the buffer it waits in (whatever its type)
  buffers/{buffer_id}                      one per (bucket, folder, key); summary for dashboards
  buffers/{buffer_id}/batches/{seq:06d}    one per batch: lease, claim, manifest written
  rejections/{rejection_id}                objects that cannot be registered, with the reason
  folders/{folder_id}                      rejection counts of one folder (the sweep's summary)
  backfills/{job_id}                       backfill checkpoints
  ops/rejection_summary                    the rejection summary's watermark
  malformed_events/{day}-{shard}           malformed events counted per UTC day (sharded)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.api_core.exceptions import AlreadyExists, InvalidArgument
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.domain.claim_range import shard_of
from registration.domain.encord_items import FollowUp, ObjectOutcome
from registration.domain.found import Found, Unreadable
from registration.domain.lifecycle import EncordOutcome, ObjectRecord, ObjectState
from registration.domain.links import DatasetLink, LinkState, needs_person
from registration.domain.links import due_at as links_due_at
from registration.domain.migration import SCHEMA_VERSION
from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferRef,
    ManifestKey,
    RejectionReason,
    RejectionRecord,
    StorageObject,
    StoredObject,
    Submission,
    stable_id,
)
from registration.domain.submission import SubmissionState

BUFFERS = "buffers"
OBJECTS = "objects"
BATCHES = "batches"
REJECTIONS = "rejections"
FOLDERS = "folders"
BACKFILLS = "backfills"
OPS = "ops"
MALFORMED_EVENTS = "malformed_events"
REJECTION_SUMMARY_DOC = "rejection_summary"

# Firestore's ceiling for one commit, and a read batch size that keeps one call small.
MAX_WRITES_PER_BATCH = 500
MAX_READS_PER_CALL = 300
BATCH_CREATE_ATTEMPTS = 3

# Rejection records are for ops to read, not an archive; a TTL policy on expire_at removes them.
REJECTION_RETENTION = timedelta(days=90)

Result = TypeVar("Result")


def object_id(bucket: str, name: str) -> str:
    return stable_id(bucket, name)


def batch_id(seq: int) -> str:
    return f"{seq:06d}"


def fields_of(snapshot: Any) -> dict[str, Any]:
    fields: dict[str, Any] = snapshot.to_dict() or {}
    return fields


# What a parse function raises for a document it cannot read: a missing field (KeyError),
# a value outside its enum or of the wrong type (ValueError, TypeError), bad JSON.
PARSE_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, TypeError, AttributeError)


def unreadable(snapshot: Any, error: Exception) -> Unreadable:
    path = getattr(getattr(snapshot, "reference", None), "path", "?")
    return Unreadable(path, f"{type(error).__name__}: {error}")


def parse_each(snapshots: Iterable[Any], parse: Callable[[Any], Result]) -> Found[Result]:
    """Each snapshot parsed; one that cannot be is skipped and named in the result, so one
    bad document (an older layout, a hand edit) never stops a query's other results."""
    items: list[Result] = []
    skipped: list[Unreadable] = []
    for snapshot in snapshots:
        try:
            items.append(parse(snapshot))
        except PARSE_ERRORS as error:
            skipped.append(unreadable(snapshot, error))
    return Found(items, skipped)


class Documents:
    """References to every document and query the adapters use, from one client."""

    def __init__(self, client: firestore.Client) -> None:
        self.client = client

    def buffer(self, buffer: BufferRef) -> Any:
        return self.client.collection(BUFFERS).document(buffer.ident)

    def objects(self) -> Any:
        return self.client.collection(OBJECTS)

    def object(self, bucket: str, name: str) -> Any:
        return self.objects().document(object_id(bucket, name))

    def batches(self, buffer: BufferRef) -> Any:
        return self.buffer(buffer).collection(BATCHES)

    def batch(self, buffer: BufferRef, seq: int) -> Any:
        return self.batches(buffer).document(batch_id(seq))

    def in_buffer(self, buffer: BufferRef) -> Any:
        return self.objects().where(filter=FieldFilter("buffer", "==", buffer.ident))

    def pending(self, buffer: BufferRef) -> Any:
        return self.in_buffer(buffer).where(
            filter=FieldFilter("state", "==", ObjectState.PENDING.value)
        )

    def rejection(self, obj: StorageObject, reason: RejectionReason) -> Any:
        # One id for every writer, so a rejection is recorded once however often it is seen.
        ident = stable_id(obj.bucket, obj.name, str(obj.generation), reason.value)
        return self.client.collection(REJECTIONS).document(ident)

    def existing(self, refs: Sequence[Any]) -> dict[str, Any]:
        """One batched read: {document path: snapshot} of those that exist."""
        found: dict[str, Any] = {}
        for start in range(0, len(refs), MAX_READS_PER_CALL):
            for snapshot in self.client.get_all(list(refs[start : start + MAX_READS_PER_CALL])):
                if snapshot.exists:
                    found[snapshot.reference.path] = snapshot
        return found

    def create_many(
        self,
        docs: Sequence[tuple[Any, dict[str, Any]]],
        *,
        created: Result,
        settle_known: Callable[[int, Any], Result],
        one_by_one: Callable[[int], Result],
    ) -> list[Result]:
        """create() many documents in commits of 500; the result of each, in order.

        Optimistic: a commit of creates succeeds when no document exists yet (the whole of
        a first backfill). A commit is atomic, so one existing document fails it; then one
        batched read says which exist, settle_known decides those from their snapshot, and
        the rest are tried again. A document named twice, or still contended after a few
        attempts, goes through one_by_one (the single-document path).
        """
        results: dict[int, Result] = {}
        seen: set[str] = set()
        todo: list[int] = []
        for index, (ref, _fields) in enumerate(docs):
            if ref.path in seen:  # one commit cannot create a document twice
                results[index] = one_by_one(index)
            else:
                seen.add(ref.path)
                todo.append(index)
        for start in range(0, len(todo), MAX_WRITES_PER_BATCH):
            chunk = todo[start : start + MAX_WRITES_PER_BATCH]
            for _ in range(BATCH_CREATE_ATTEMPTS):
                if not chunk:
                    break
                batch = self.client.batch()
                for index in chunk:
                    batch.create(*docs[index])
                try:
                    batch.commit()
                except InvalidArgument:
                    break  # one document the store refuses: settle the chunk one by one
                except AlreadyExists:
                    known = self.existing([docs[index][0] for index in chunk])
                    unknown = []
                    for index in chunk:
                        snapshot = known.get(docs[index][0].path)
                        if snapshot is None:
                            unknown.append(index)
                        else:
                            results[index] = settle_known(index, snapshot)
                    chunk = unknown
                    continue
                results.update(dict.fromkeys(chunk, created))
                chunk = []
            for index in chunk:  # still contended: settle them one by one
                results[index] = one_by_one(index)
        return [results[index] for index in range(len(docs))]


# -- field mapping ------------------------------------------------------------------------


def buffer_fields(buffer: BufferRef) -> dict[str, Any]:
    """The buffer an object record waits in: its id for queries, its identity for reading."""
    return {"buffer": buffer.ident, "key": buffer.key.value, "create_video": buffer.create_video}


def batch_key(buffer: BufferRef, seq: int) -> str:
    """One indexed value naming a batch of a buffer: members are found by equality on it."""
    return f"{buffer.ident}/{batch_id(seq)}"


def metadata_field(metadata: Mapping[str, str]) -> str | None:
    # Custom metadata keys are user data, and Firestore refuses some of them as field
    # names (`__origin__`, say); as one JSON string every key Cloud Storage accepts round-trips.
    return json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True) if metadata else None


def pending_fields(
    obj: StorageObject, buffer: BufferRef, now: datetime, ident: str | None = None
) -> dict[str, Any]:
    """A pending record's fields; `ident`: its document id, if the caller has it already."""
    fields: dict[str, Any] = {
        "bucket": obj.bucket,
        "name": obj.name,
        "generation": obj.generation,
        "state": ObjectState.PENDING.value,
        "created_at": now,
        **buffer_fields(buffer),
        # Its place in the buffer's queue (adapters/firestore/queue.py): a shard, so a hot
        # folder writes 8 index ranges, and the commit time, never an instance's clock.
        "shard": shard_of(ident or object_id(obj.bucket, obj.name)),
        "queued_at": firestore.SERVER_TIMESTAMP,
        "schema": SCHEMA_VERSION,
    }
    # Optional facts only when known: this is the one write of every event, and each field
    # left out is marshalled by neither the client nor Firestore (readers use .get(); no
    # query filters on these being null). A set() replaces the document, so a generation
    # buffered over an older one never inherits its fields.
    optional = (
        ("size", obj.size),
        ("content_type", obj.content_type),
        ("metadata", metadata_field(obj.custom_metadata)),
        ("time_created", obj.time_created),
        ("series_uid", obj.series_uid),
        ("instance_number", obj.instance_number),
    )
    fields.update((key, value) for key, value in optional if value is not None)
    return fields


def tombstone_fields(
    obj: StorageObject, buffer: BufferRef, now: datetime, expire_at: datetime | None = None
) -> dict[str, Any]:
    expiry = {} if expire_at is None else {"expire_at": expire_at}  # the TTL policy's field
    return {
        **expiry,
        "bucket": obj.bucket,
        "name": obj.name,
        "generation": obj.generation,
        "state": ObjectState.DELETED.value,
        "deleted_at": now,
        "created_at": now,
        "batch": None,
        "batch_key": None,
        **buffer_fields(buffer),
        "schema": SCHEMA_VERSION,
    }


def outcome_fields(outcome: ObjectOutcome) -> dict[str, Any]:
    """What a finished job wrote on a record: its outcome, the job, and the item (if any)."""
    return {
        "encord": outcome.outcome.value,
        "job_id": outcome.job_id,
        "item_uuid": outcome.item_uuid,
    }


def storage_object(fields: dict[str, Any]) -> StorageObject:
    metadata = fields.get("metadata")
    return StorageObject(
        bucket=fields["bucket"],
        name=fields["name"],
        generation=int(fields["generation"]),
        size=fields.get("size"),
        content_type=fields.get("content_type"),
        time_created=fields.get("time_created"),
        custom_metadata=json.loads(metadata) if metadata else {},
        series_uid=fields.get("series_uid"),
        instance_number=fields.get("instance_number"),
    )


def buffer_ref_of(fields: dict[str, Any]) -> BufferRef:
    """The buffer a buffer or batch document names by its identity fields."""
    return BufferRef(
        fields["bucket"],
        fields["folder"],
        ManifestKey(fields["key"]),
        bool(fields.get("create_video")),
    )


def buffer_of(fields: dict[str, Any]) -> BufferRef:
    """The buffer an object record names (a group's folder is the object's folder)."""
    return BufferRef(
        fields["bucket"],
        fields["name"].rpartition("/")[0],
        ManifestKey(fields["key"]),
        bool(fields.get("create_video")),
    )


def object_record(snapshot: Any) -> ObjectRecord | None:
    if not snapshot.exists:
        return None
    fields = fields_of(snapshot)
    outcome = fields.get("encord")
    return ObjectRecord(
        ObjectState(fields["state"]),
        int(fields["generation"]),
        EncordOutcome(outcome) if outcome else None,
        follow_up=bool(fields.get("follow_up")),
    )


def follow_up_fields(now: datetime) -> dict[str, Any]:
    """A delete or overwrite of a registered generation, noted for the sweep (due now)."""
    return {
        "follow_up": "due",
        "follow_up_due_at": now,
        "follow_up_attempts": 0,
        "follow_up_problem": None,
    }


def cleared_follow_up_fields() -> dict[str, Any]:
    return {
        "follow_up": None,
        "follow_up_due_at": None,
        "follow_up_attempts": 0,
        "follow_up_problem": None,
    }


def follow_up_of(snapshot: Any) -> FollowUp:
    record = object_record(snapshot)
    assert record is not None
    fields = fields_of(snapshot)
    return FollowUp(
        bucket=fields["bucket"],
        name=fields["name"],
        buffer=buffer_of(fields),
        record=record,
        item_uuid=fields.get("item_uuid"),
        attempts=int(fields.get("follow_up_attempts") or 0),
        failed=fields.get("follow_up_problem") if fields.get("follow_up") == "failed" else None,
    )


def stored_object(snapshot: Any) -> StoredObject:
    fields = fields_of(snapshot)
    return StoredObject(
        buffer=buffer_of(fields),
        obj=storage_object(fields),
        state=ObjectState(fields["state"]),
        created_at=fields.get("created_at"),
        batch=fields.get("batch"),
        source=fields.get("source"),
        deleted_at=fields.get("deleted_at"),
        encord=fields.get("encord"),
        job_id=fields.get("job_id"),
        item_uuid=fields.get("item_uuid"),
    )


def submission_of(fields: dict[str, Any]) -> Submission | None:
    state = fields.get("submission")
    if state is None:
        return None
    return Submission(
        state=SubmissionState(state),
        attempts=int(fields.get("submit_attempts") or 0),
        next_attempt_at=fields.get("next_attempt_at"),
        job_id=fields.get("job_id"),
        submitted_at=fields.get("submitted_at"),
        finished_at=fields.get("job_finished_at"),
        units_done=int(fields.get("units_done") or 0),
        units_error=int(fields.get("units_error") or 0),
        problem=fields.get("submission_problem"),
        job_status=fields.get("job_status"),
        units_pending=int(fields.get("units_pending") or 0),
        units_cancelled=int(fields.get("units_cancelled") or 0),
        last_polled_at=fields.get("last_polled_at"),
        items_matched=fields.get("items_matched"),
        items_unmatched=fields.get("items_unmatched"),
        unmatched=tuple(fields.get("items_unmatched_titles") or ()),
        item_uuids=tuple(fields.get("item_uuids") or ()),
        notified_at=fields.get("notified_at"),
        notify_problem=fields.get("notify_problem"),
        links=links_of(fields.get("links") or {}),
    )


def links_of(stored: dict[str, Any]) -> tuple[DatasetLink, ...]:
    return tuple(
        DatasetLink(
            dataset=dataset,
            state=LinkState(value["state"]),
            attempts=int(value.get("attempts") or 0),
            next_attempt_at=value.get("next_attempt_at"),
            linked=int(value.get("linked") or 0),
            skipped=int(value.get("skipped") or 0),
            problem=value.get("problem"),
        )
        for dataset, value in sorted(stored.items())
    )


def links_fields(links: tuple[DatasetLink, ...]) -> dict[str, Any]:
    return {
        link.dataset: {
            "state": link.state.value,
            "attempts": link.attempts,
            "next_attempt_at": link.next_attempt_at,
            "linked": link.linked,
            "skipped": link.skipped,
            "problem": link.problem,
        }
        for link in links
    }


def submission_fields(submission: Submission) -> dict[str, Any]:
    """A batch's submission as the fields submission_of reads back (every one written, so
    a decision saved is exactly the value decided)."""
    return {
        "submission": submission.state.value,
        "submit_attempts": submission.attempts,
        "next_attempt_at": submission.next_attempt_at,
        "job_id": submission.job_id,
        "submitted_at": submission.submitted_at,
        "job_finished_at": submission.finished_at,
        "units_done": submission.units_done,
        "units_error": submission.units_error,
        "submission_problem": submission.problem,
        "job_status": submission.job_status,
        "units_pending": submission.units_pending,
        "units_cancelled": submission.units_cancelled,
        "last_polled_at": submission.last_polled_at,
        "items_matched": submission.items_matched,
        "items_unmatched": submission.items_unmatched,
        "items_unmatched_titles": list(submission.unmatched),
        "item_uuids": list(submission.item_uuids),
        "notified_at": submission.notified_at,
        "notify_problem": submission.notify_problem,
        "links": links_fields(submission.links),
        # The sweep's query for links due (None once none is pending).
        "links_due_at": links_due_at(submission.links),
        # The status view's query for a refused link or notification (False otherwise).
        "follow_up_failed": needs_person(submission.links, submission.notify_problem),
    }


def batch_record(buffer: BufferRef, snapshot: Any) -> BatchRecord:
    fields = fields_of(snapshot)
    return BatchRecord(
        buffer=buffer,
        seq=int(fields["seq"]),
        state=BatchState(fields["state"]),
        manifest_bucket=fields.get("manifest_bucket") or "",
        manifest_path=fields.get("manifest_path") or "",
        item_count=int(fields.get("item_count") or 0),
        claimed_at=fields.get("claimed_at"),
        written_at=fields.get("written_at"),
        problem=fields.get("problem"),
        submission=submission_of(fields),
    )


def rejection_fields(
    obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "name": obj.name,
        "generation": obj.generation,
        "folder": obj.folder,
        "reason": reason.value,
        "detail": detail,
        "recorded_at": now,
        "expire_at": now + REJECTION_RETENTION,
        "schema": SCHEMA_VERSION,
    }


def rejection_record(fields: dict[str, Any]) -> RejectionRecord:
    return RejectionRecord(
        bucket=fields["bucket"],
        name=fields["name"],
        generation=int(fields["generation"]),
        reason=RejectionReason(fields["reason"]),
        detail=fields["detail"],
        folder=fields.get("folder", ""),
        recorded_at=fields["recorded_at"],
    )


def idle_seconds(snapshot: Any) -> float | None:
    """Server seconds since the document last changed (read time minus update time)."""
    read, updated = getattr(snapshot, "read_time", None), getattr(snapshot, "update_time", None)
    if read is None or updated is None:
        return None
    return float((read - updated).total_seconds())


def batch_state(snapshot: Any) -> BatchState | None:
    """A batch document's state; None when it does not exist (no lease, or released)."""
    return BatchState(snapshot.get("state")) if snapshot.exists else None


def batch_idle_seconds(snapshot: Any) -> float | None:
    """A batch's server seconds idle: for a held lease, since it was taken (`leased_at`),
    not since the document last changed, because a delete or overwrite fencing a claim
    touches the lease (records.py) and must never keep a dead holder's lease alive; for a
    claimed batch, since its last change."""
    fields = fields_of(snapshot)
    leased_at, read = fields.get("leased_at"), getattr(snapshot, "read_time", None)
    if fields.get("state") != BatchState.CLAIMING.value or leased_at is None or read is None:
        return idle_seconds(snapshot)
    return float((read - leased_at).total_seconds())


def with_idle(record: BatchRecord, snapshot: Any) -> BatchRecord:
    return replace(record, idle_seconds=batch_idle_seconds(snapshot))


def records_of(query: Any) -> Found[BatchRecord]:
    """The batches a collection-group query found, each with its buffer and idle time; a
    batch document that cannot be read is skipped and named in the result (a Found)."""
    return parse_each(
        query.stream(),
        lambda snapshot: with_idle(
            batch_record(buffer_ref_of(fields_of(snapshot)), snapshot), snapshot
        ),
    )
