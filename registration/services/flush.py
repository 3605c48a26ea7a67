"""Lease -> claim -> write -> mark written, and finishing a batch whose writer died.

Every step is idempotent (README, "The flush protocol"): a claimed batch's members never
change again, and its manifest path is fixed at claim time, so whoever finishes it writes
the same bytes to the same place.

Ports: records (counts), batches (lease, claim, members, marks), manifests (the write),
buffers (the summary and the catalogue query), rejections (an invalid manifest's members),
and those of submit.py when manifests go to Encord (a setting).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from registration import logs
from registration.domain.model import (
    BatchRecord,
    BufferQuery,
    BufferRef,
    LeaseOutcome,
    ManifestKey,
    RejectionReason,
    StorageObject,
)
from registration.domain.submission import SubmissionState
from registration.exceptions import ManifestValidationError
from registration.manifest.build import build_manifest
from registration.manifest.naming import manifest_path
from registration.manifest.render import CONTENT_TYPES, render
from registration.services.ports import Context
from registration.services.rejecting import reject_many
from registration.services.submit import expire_members, submit, with_submission
from registration.services.threshold import ThresholdGate
from registration.services.units import units_of

# Bounds one flush call, so one request never drains an enormous backlog alone.
MAX_BATCHES_PER_FLUSH = 50
# A sealed group is claimed in one commit of about 250 bytes per member: 15,000 members
# (the top of Encord's recommended sequence length) make a 3.8 MB request, inside both
# Firestore's 10 MiB and the emulator's 4 MiB gRPC limit (docs/limits.md). A longer group
# continues in the folder's next batch, titled "(batch N)".
MAX_GROUP_MEMBERS = 15_000
# Names per "manifest written" log line, and the bytes of names one line may carry: Cloud
# Logging refuses entries over 256 KB, and 1,000 names of 1 KB would make a 1 MB line.
LOGGED_NAMES_PER_LINE = 1000
# Buffers read per page when the CLI looks a buffer up by its folder and key.
FIND_PAGE = 100
LOGGED_NAME_BYTES_PER_LINE = 200_000


class WriteOutcome(enum.Enum):
    WRITTEN = "written"  # this call wrote the manifest and marked the batch
    ALREADY_WRITTEN = "already_written"  # written again, identically; another call marked it
    INVALID = "invalid"  # the manifest failed validation: its objects are rejected


@dataclass(frozen=True)
class InvalidManifest:
    """A manifest that failed validation (never written); its objects are rejected."""

    buffer: str  # the buffer's label
    manifest: str  # its path in the manifest bucket


@dataclass
class FlushReport:
    manifests: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    # Reported as errors by the sweep.
    invalid: list[InvalidManifest] = field(default_factory=list)


def claim_size(ctx: Context, buffer: BufferRef) -> int:
    return MAX_GROUP_MEMBERS if buffer.grouped else ctx.settings.batch_size(buffer.key)


def flush_if_full(ctx: Context, buffer: BufferRef, gate: ThresholdGate | None = None) -> list[str]:
    """The threshold rule: a full batch is written at once. Groups wait for the sweep's
    quiet time instead. With a gate, counts are skipped where a count proves them needless."""
    if buffer.grouped:
        return []
    size = ctx.settings.batch_size(buffer.key)

    def count() -> int:
        return ctx.backends.records.count_pending(buffer)

    full = gate.is_full(buffer, size, count) if gate is not None else count() >= size
    return flush(ctx, buffer, full_only=True).manifests if full else []


def flush(ctx: Context, buffer: BufferRef, *, full_only: bool) -> FlushReport:
    """Claim and write batches. full_only: only exactly-full batches (threshold flush)."""
    settings, batches = ctx.settings, ctx.backends.batches
    report = FlushReport()
    size = claim_size(ctx, buffer)
    summary: tuple[int, datetime | None] | None = None
    for _ in range(MAX_BATCHES_PER_FLUSH):
        summary = None
        now = ctx.clock()
        seq = batches.next_seq(buffer)
        lease = batches.acquire_lease(buffer, seq, settings.lease_seconds)
        if lease is LeaseOutcome.HELD:
            break
        if lease is not LeaseOutcome.ACQUIRED:
            _finish_if_abandoned(ctx, buffer, seq, report)
            continue
        path = manifest_path(settings.manifest_prefix, buffer, seq, now, settings.manifest_format)
        # No expire_at here: a claimed batch must never lose its members to the TTL policy
        # (retention starts once its way is finished, services/submit.expire_members).
        claimed = batches.claim(
            buffer,
            seq,
            limit=size,
            minimum=size if full_only else 1,
            now=now,
            manifest_bucket=settings.manifest_bucket_for(buffer.bucket),
            manifest_path=path,
        )
        if claimed is None:
            batches.release_lease(buffer, seq)
            break
        logs.info(
            "claimed batch",
            batch=seq,
            items=len(claimed.members),
            manifest=path,
            buffer=buffer.label,
        )
        outcome = write_manifest(ctx, claimed.record, claimed.members)
        if outcome is WriteOutcome.INVALID:
            report.invalid.append(InvalidManifest(buffer.label, path))
        else:
            report.manifests.append(path)
        if len(claimed.members) < size:
            break
        if full_only:
            # Another full batch waiting? The same figures then go on the buffer document.
            summary = ctx.backends.records.pending_summary(buffer)
            if summary[0] < size:
                break
    if report.manifests or report.completed or report.invalid:
        save_summary(ctx, buffer, summary)
    return report


def save_summary(
    ctx: Context, buffer: BufferRef, summary: tuple[int, datetime | None] | None = None
) -> None:
    """Refresh the pending fields of the buffer document that dashboards read (from a
    summary just read, if there is one)."""
    pending, oldest = summary or ctx.backends.records.pending_summary(buffer)
    ctx.backends.buffers.save_pending_summary(buffer, pending, oldest)


def _finish_if_abandoned(ctx: Context, buffer: BufferRef, seq: int, report: FlushReport) -> None:
    batch = ctx.backends.batches.get(buffer, seq)
    if batch is None or not batch.abandoned(ctx.settings.lease_seconds):
        return
    outcome = finish(ctx, batch)
    if outcome is WriteOutcome.WRITTEN:
        report.completed.append(batch.manifest_path)
    elif outcome is WriteOutcome.INVALID:
        report.invalid.append(InvalidManifest(buffer.label, batch.manifest_path))


def finish(ctx: Context, batch: BatchRecord) -> WriteOutcome:
    """Write the manifest of a claimed batch whose writer died. Safe to run twice."""
    members = ctx.backends.batches.members(batch.buffer, batch.seq)
    logs.warning(
        "finishing interrupted batch",
        batch=batch.seq,
        items=len(members),
        manifest=batch.manifest_path,
        buffer=batch.buffer.label,
    )
    return write_manifest(ctx, batch, members)


def write_manifest(
    ctx: Context, batch: BatchRecord, members: Sequence[StorageObject]
) -> WriteOutcome:
    """Build, validate, write and mark one batch's manifest, then hand it to Encord.

    A manifest that fails validation can never be written, so its batch is marked invalid
    and each member is rejected with the validator's reason: it never blocks the buffer
    (its next batch number is already taken) and never makes anything retry for ever.
    """
    settings = ctx.settings
    try:
        manifest = build_manifest(
            batch.buffer.key,
            units_of(ctx, batch, members),
            url_style=settings.url_style,
            name=batch.manifest_path,
        )
        data = render(manifest, settings.manifest_format)
    except ManifestValidationError as error:
        _reject_invalid(ctx, batch, members, error)
        return WriteOutcome.INVALID
    ctx.backends.manifests.write(
        batch.manifest_bucket,
        batch.manifest_path,
        data,
        CONTENT_TYPES[settings.manifest_format],
    )
    first = ctx.backends.batches.mark_written(batch, ctx.clock())
    _log_written(batch, members)
    if first and ctx.backends.encord is not None:
        # At once: registration within seconds is the point. Encord's troubles are recorded
        # on the batch and retried by the sweep; they never fail this call. Encord gets
        # exactly the bytes just written.
        submit(ctx, with_submission(batch, SubmissionState.PENDING), data)
    elif first:
        expire_members(ctx, batch)  # no target: the batch's way ends with its manifest
    return WriteOutcome.WRITTEN if first else WriteOutcome.ALREADY_WRITTEN


def _reject_invalid(
    ctx: Context,
    batch: BatchRecord,
    members: Sequence[StorageObject],
    error: ManifestValidationError,
) -> None:
    logs.error("manifest invalid", batch=batch.seq, problem=str(error), buffer=batch.buffer.label)
    if ctx.backends.batches.mark_invalid(batch, error.problem):
        detail = f"its batch's manifest failed validation: {error.problem}"
        reject_many(ctx, [(obj, RejectionReason.MANIFEST_INVALID, detail) for obj in members])


def _name_chunks(names: Sequence[str]) -> list[list[str]]:
    """Names in chunks of at most LOGGED_NAMES_PER_LINE and LOGGED_NAME_BYTES_PER_LINE."""
    chunks: list[list[str]] = [[]]
    size = 0
    for name in names:
        cost = len(name.encode("utf-8", "surrogatepass")) + 4  # quotes, comma, escapes
        if chunks[-1] and (
            size + cost > LOGGED_NAME_BYTES_PER_LINE or len(chunks[-1]) >= LOGGED_NAMES_PER_LINE
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(name)
        size += cost
    return chunks


def _log_written(batch: BatchRecord, members: Sequence[StorageObject]) -> None:
    # Every member's name is logged with its batch and manifest, so that any object can
    # be traced from the logs alone; chunked to keep each line under Cloud Logging's limit.
    # part/parts let a log-based metric count each manifest once (its part 1).
    names = sorted(obj.name for obj in members)
    manifest = batch.manifest_url
    chunks = _name_chunks(names)
    for part, chunk in enumerate(chunks, start=1):
        logs.info(
            "manifest written",
            batch=batch.seq,
            items=len(names),
            manifest=manifest,
            names=chunk,
            part=part,
            parts=len(chunks),
            buffer=batch.buffer.label,
        )


def find_buffers(
    ctx: Context,
    folder: str,
    key: ManifestKey,
    *,
    bucket: str | None = None,
    sequence: bool | None = None,
) -> list[BufferRef]:
    """The buffers of one folder and key (the CLI's `flush` names a buffer this way).

    A query for the folder as a prefix, in folder order: the folder itself sorts first, so
    the pages stop at the first deeper folder, and the catalogue is never read whole."""
    query = BufferQuery(prefix=folder, key=key, sequence=sequence)
    found: list[BufferRef] = []
    after: str | None = None
    while True:
        page = ctx.backends.buffers.page(query, after, FIND_PAGE)
        exact = [summary.buffer for summary in page if summary.buffer.folder == folder]
        found += [buffer for buffer in exact if bucket is None or buffer.bucket == bucket]
        if len(page) < FIND_PAGE or len(exact) < len(page):
            break
        after = page[-1].buffer.ident
    return sorted(found, key=lambda buffer: (buffer.bucket, buffer.create_video))


def force_flush(ctx: Context, buffer: BufferRef) -> FlushReport:
    """Write every pending object of the buffer now, full or not (an ops decision)."""
    logs.info("forced flush requested", buffer=buffer.label)
    report = flush(ctx, buffer, full_only=False)
    save_summary(ctx, buffer)
    return report
