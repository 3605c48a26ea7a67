"""Lease -> claim -> write -> mark written, and finishing a batch whose writer died.

Every step is idempotent (README, "The flush protocol"): a claimed batch's members never
change again, and its manifest path is fixed at claim time, so whoever finishes it writes
the same bytes to the same place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from registration import logs
from registration.domain.grouping import dicom_series, image_groups
from registration.domain.limits import RECOMMENDED_SEQUENCE_FRAMES
from registration.domain.model import (
    BatchRecord,
    BufferRef,
    LeaseOutcome,
    ManifestKey,
    ManifestUnit,
    StorageObject,
)
from registration.exceptions import ManifestValidationError
from registration.manifest.build import build_manifest
from registration.manifest.naming import manifest_path
from registration.manifest.render import CONTENT_TYPES, render
from registration.services.ports import Context
from registration.services.threshold import ThresholdGate

# Bounds one flush call, so one request never drains an enormous backlog alone.
MAX_BATCHES_PER_FLUSH = 50
# A sealed group is claimed whole (it is never split across manifests); this bounds the
# claim commit. Encord's own ceiling for one sequence is 32,767 frames.
MAX_GROUP_MEMBERS = 40_000
# Names per "manifest written" log line.
LOGGED_NAMES_PER_LINE = 1000


@dataclass
class FlushReport:
    manifests: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)


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
    for _ in range(MAX_BATCHES_PER_FLUSH):
        now = ctx.clock()
        seq = batches.next_seq(buffer)
        lease = batches.acquire_lease(buffer, seq, settings.lease_seconds)
        if lease is LeaseOutcome.HELD:
            break
        if lease is not LeaseOutcome.ACQUIRED:
            _finish_if_abandoned(ctx, buffer, seq, report)
            continue
        path = manifest_path(settings.manifest_prefix, buffer, seq, now, settings.manifest_format)
        retention = settings.record_retention_days
        claimed = batches.claim(
            buffer,
            seq,
            limit=size,
            minimum=size if full_only else 1,
            now=now,
            manifest_bucket=settings.manifest_bucket_for(buffer.bucket),
            manifest_path=path,
            expire_at=now + timedelta(days=retention) if retention else None,
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
        write_manifest(ctx, claimed.record, claimed.members)
        report.manifests.append(path)
        if len(claimed.members) < size or (
            full_only and ctx.backends.records.count_pending(buffer) < size
        ):
            break
    if report.manifests or report.completed:
        save_summary(ctx, buffer)
    return report


def save_summary(ctx: Context, buffer: BufferRef) -> None:
    """Refresh the pending fields of the buffer document that dashboards read."""
    records = ctx.backends.records
    ctx.backends.buffers.save_pending_summary(
        buffer, records.count_pending(buffer), records.oldest_pending_at(buffer)
    )


def _finish_if_abandoned(ctx: Context, buffer: BufferRef, seq: int, report: FlushReport) -> None:
    batch = ctx.backends.batches.get(buffer, seq)
    if batch is not None and batch.abandoned(ctx.settings.lease_seconds) and finish(ctx, batch):
        report.completed.append(batch.manifest_path)


def finish(ctx: Context, batch: BatchRecord) -> bool:
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


def write_manifest(ctx: Context, batch: BatchRecord, members: Sequence[StorageObject]) -> bool:
    """Build, validate, write and mark one batch's manifest. True if this call marked it."""
    settings = ctx.settings
    try:
        manifest = build_manifest(
            batch.buffer.key,
            units_of(ctx, batch, members),
            url_style=settings.url_style,
            name=batch.manifest_path,
        )
    except ManifestValidationError as error:
        # Retrying cannot fix this; leave the batch claimed and shout, so ops see it in
        # the logs and the status view rather than the event retrying for 24 hours.
        logs.error(
            "manifest invalid", batch=batch.seq, problem=str(error), buffer=batch.buffer.label
        )
        return False
    ctx.backends.manifests.write(
        batch.manifest_bucket,
        batch.manifest_path,
        render(manifest, settings.manifest_format),
        CONTENT_TYPES[settings.manifest_format],
    )
    first = ctx.backends.batches.mark_written(batch, ctx.clock())
    _log_written(batch, members)
    return first


def _log_written(batch: BatchRecord, members: Sequence[StorageObject]) -> None:
    # Every member's name is logged with its batch and manifest, so that any object can
    # be traced from the logs alone; chunked to keep each line of a big batch readable.
    # part/parts let a log-based metric count each manifest once (its part 1).
    names = sorted(obj.name for obj in members)
    manifest = f"gs://{batch.manifest_bucket}/{batch.manifest_path}"
    starts = range(0, max(len(names), 1), LOGGED_NAMES_PER_LINE)
    for part, start in enumerate(starts, start=1):
        logs.info(
            "manifest written",
            batch=batch.seq,
            items=len(names),
            manifest=manifest,
            names=names[start : start + LOGGED_NAMES_PER_LINE],
            part=part,
            parts=len(starts),
            buffer=batch.buffer.label,
        )


def units_of(
    ctx: Context, batch: BatchRecord, members: Sequence[StorageObject]
) -> list[ManifestUnit]:
    """The manifest's units, ordered so that a rewrite after a crash gives the same bytes."""
    buffer = batch.buffer
    if not buffer.grouped:
        return list(_by_name(members))
    if batch.seq > 1:
        logs.warning(
            "files arrived after an earlier group of this folder was sealed; they form a new group",
            batch=batch.seq,
            items=len(members),
            buffer=buffer.label,
        )
    if buffer.key is ManifestKey.DICOM_SERIES:
        return list(dicom_series(buffer, batch.seq, members))
    groups = image_groups(buffer, batch.seq, members, ctx.settings.max_sequence_frames)
    if buffer.create_video and len(members) > RECOMMENDED_SEQUENCE_FRAMES:
        logs.warning(
            "image sequence longer than Encord recommends",
            frames=len(members),
            recommended=RECOMMENDED_SEQUENCE_FRAMES,
            parts=len(groups),
            buffer=buffer.label,
        )
    return list(groups)


def find_buffers(
    ctx: Context,
    folder: str,
    key: ManifestKey,
    *,
    bucket: str | None = None,
    sequence: bool | None = None,
) -> list[BufferRef]:
    """The buffers of one folder and key (the CLI's `flush` names a buffer this way)."""
    return sorted(
        (
            summary.buffer
            for summary in ctx.backends.buffers.all()
            if summary.buffer.folder == folder
            and summary.buffer.key is key
            and (bucket is None or summary.buffer.bucket == bucket)
            and (sequence is None or summary.buffer.create_video == sequence)
        ),
        key=lambda buffer: (buffer.bucket, buffer.create_video),
    )


def force_flush(ctx: Context, buffer: BufferRef) -> FlushReport:
    """Write every pending object of the buffer now, full or not (an ops decision)."""
    logs.info("forced flush requested", buffer=buffer.label)
    report = flush(ctx, buffer, full_only=False)
    save_summary(ctx, buffer)
    return report


def _by_name(members: Sequence[StorageObject]) -> list[StorageObject]:
    return sorted(members, key=lambda obj: (obj.name, obj.generation))
