"""One object's fate, from its classification to its manifest or rejection.

Ports it reads: source (the live object, its header, whether the manifest exists), bulk (the
object's record), batches, rejections and records (the pending count of its buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

from registration.domain.lifecycle import ObjectState
from registration.domain.model import (
    Accepted,
    BatchRecord,
    BatchState,
    Classification,
    Ignored,
    Rejected,
    RejectionReason,
    RejectionRecord,
    StorageObject,
    StoredObject,
)
from registration.domain.submission import SubmissionState
from registration.services.intake import verdict_for
from registration.services.ports import Context


@dataclass
class BatchTrace:
    record: StoredObject
    batch: BatchRecord | None
    manifest_exists: bool | None


@dataclass
class Trace:
    bucket: str
    name: str
    live: StorageObject | None
    classification: str
    records: list[BatchTrace]
    rejections: list[RejectionRecord]
    fate: str
    pending_in_buffer: int | None = None


def trace(ctx: Context, bucket: str, name: str) -> Trace:
    """Everything the system knows about one object name, and the one-line verdict."""
    backends = ctx.backends
    source = backends.source
    live = source.stat(bucket, name)
    _, verdict = verdict_for(
        ctx, live or StorageObject(bucket, name, 0), read_header=live is not None
    )
    classification = _describe(verdict)
    # One record per name, whatever buffer its generations landed in.
    found = [
        record
        for record in backends.bulk.object_records([(bucket, name)], with_batch=True)
        if record
    ]
    records = []
    for record in found:
        batch = (
            backends.batches.get(record.buffer, record.batch) if record.batch is not None else None
        )
        exists = None
        if batch is not None and batch.manifest_path:
            exists = source.stat(batch.manifest_bucket, batch.manifest_path) is not None
        records.append(BatchTrace(record, batch, exists))
    rejections = backends.rejections.of_object(bucket, name)
    result = Trace(bucket, name, live, classification, records, rejections, fate="")
    pending = [item for item in records if item.record.state is ObjectState.PENDING]
    if pending:
        result.pending_in_buffer = backends.records.count_pending(pending[0].record.buffer)
    result.fate = _fate(ctx, result, verdict)
    return result


def _describe(verdict: Classification) -> str:
    if isinstance(verdict, Accepted):
        kind = "image sequence" if verdict.create_video else verdict.key.value
        return f"registrable as {kind} in folder {verdict.folder or '(root)'!r}"
    if isinstance(verdict, Rejected):
        return f"not registrable: {verdict.reason.value} ({verdict.detail})"
    return f"ignored: {verdict.detail}"


def _fate(ctx: Context, result: Trace, verdict: Classification) -> str:
    fate = _recorded_fate(ctx, result, verdict)
    newest = max((item.record.obj.generation for item in result.records), default=None)
    live = result.live
    if (
        live is not None
        and newest is not None
        and live.generation > newest
        and not any(record.generation == live.generation for record in result.rejections)
    ):
        fate += (
            f"; but the live generation {live.generation} has no record (a missed event; "
            "`python -m registration reconcile --repair` registers it)"
        )
    return fate


def _recorded_fate(ctx: Context, result: Trace, verdict: Classification) -> str:
    newest = max(result.records, key=lambda item: item.record.obj.generation, default=None)
    if newest is not None:
        record, batch = newest.record, newest.batch
        generation = record.obj.generation
        refused = [
            item
            for item in result.rejections
            if item.reason is RejectionReason.ENCORD_REFUSED and item.generation == generation
        ]
        if refused:
            return f"refused by Encord: {refused[-1].detail}"
        if record.state is ObjectState.CLAIMED and batch is not None:
            if batch.state is BatchState.WRITTEN:
                item = (
                    f"; Encord item {record.item_uuid} (job {record.job_id})"
                    if record.item_uuid
                    else ""
                )
                return (
                    f"registered: generation {generation} is in manifest {batch.manifest_url} "
                    f"(batch {batch.seq} of buffer {record.buffer.label})"
                    + _encord_fate(batch)
                    + item
                )
            if batch.state is BatchState.INVALID:
                return (
                    f"rejected: its batch {batch.seq} of buffer {record.buffer.label} failed "
                    f"validation ({batch.problem})"
                )
            return (
                f"in batch {batch.seq} of buffer {record.buffer.label}; its manifest "
                f"{batch.manifest_url} is not written yet (the sweep finishes interrupted batches)"
            )
        if record.state is ObjectState.PENDING:
            size = ctx.settings.batch_size(record.buffer.key)
            return (
                f"pending: generation {generation} waits in buffer "
                f"{record.buffer.label} since {record.created_at} "
                f"({result.pending_in_buffer} of {size} pending; written when the batch is "
                f"full or at most {ctx.settings.max_age_seconds} s after the oldest)"
            )
        if record.state is ObjectState.DELETED:
            return f"withdrawn: generation {generation} was deleted before any manifest"
        return f"{record.state.value}: generation {generation} in {record.buffer.label}"
    if result.rejections:
        last = result.rejections[-1]
        return f"rejected: {last.reason.value} ({last.detail})"
    if isinstance(verdict, Ignored):
        return f"ignored: {verdict.detail}"
    if result.live is None:
        return "unknown: no such object in the bucket and no record of it"
    return (
        "never seen: the object exists but no event for it was recorded (a missed event); "
        "`python -m registration reconcile --repair` registers it"
    )


def _encord_fate(batch: BatchRecord) -> str:
    submission = batch.submission
    if submission is None:
        return ""
    job = f" job {submission.job_id}" if submission.job_id else ""
    text = f"; Encord{job}: {submission.state.value}"
    if submission.state is SubmissionState.SUBMITTED:
        text += " (the sweep polls it)"
    elif submission.finished_at is not None:
        text += f" ({submission.units_done} units done, {submission.units_error} refused)"
    if submission.problem:
        text += f"; last problem: {submission.problem}"
    return text
