"""Register objects that already exist, through the same buffers as events (resumable).

Ports: source (the listing), checkpoints (where it got to), and those of intake.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from registration import logs
from registration.domain.checkpoint import Checkpoint
from registration.domain.lifecycle import FinalizeAction
from registration.domain.model import StorageObject, stable_id
from registration.services.intake import IntakeTally, register_many
from registration.services.ports import Context

# Firestore commits at most 500 writes; one listed chunk becomes at most one commit.
BACKFILL_CHUNK = 500


@dataclass
class BackfillReport(IntakeTally):
    bucket: str = ""
    prefix: str = ""
    resumed_after: str | None = None
    elapsed_seconds: float = 0.0
    finished: bool = False

    @property
    def buffered(self) -> int:
        return self.actions[FinalizeAction.BUFFER.value]

    @property
    def already_known(self) -> int:
        """Names whose record already decided them: duplicates, stale, deleted."""
        buffered = FinalizeAction.BUFFER.value
        return sum(count for action, count in self.actions.items() if action != buffered)

    @property
    def rate(self) -> float:
        """Objects handled per second."""
        return self.listed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "resumed_after": self.resumed_after,
            "listed": self.listed,
            "buffered": self.buffered,
            "already_known": self.already_known,
            "actions": dict(self.actions),
            "rejected": dict(self.rejected),
            "ignored": self.ignored,
            "manifests_written": self.manifests,
            "last_name": self.last_name,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "objects_per_second": round(self.rate, 1),
            "finished": self.finished,
        }


class BackfillStoppedError(RuntimeError):
    """Test hook (--stop-after): the run dies after a commit, before its checkpoint."""

    def __init__(self, report: BackfillReport) -> None:
        super().__init__(f"stopped after {report.listed} objects")
        self.report = report


def backfill_job(bucket: str, prefix: str) -> str:
    """The checkpoint document id of one gs://bucket/prefix backfill."""
    return stable_id(bucket, prefix)


def chunks(items: Iterable[StorageObject], size: int) -> Iterator[list[StorageObject]]:
    chunk: list[StorageObject] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def backfill(
    ctx: Context,
    bucket: str,
    prefix: str,
    *,
    chunk_size: int = BACKFILL_CHUNK,
    restart: bool = False,
    stop_after: int | None = None,
    on_progress: Callable[[BackfillReport], None] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> BackfillReport:
    """Register the objects already under gs://bucket/prefix.

    Resumable: after each chunk is committed and flushed, a checkpoint records the last
    name done; a rerun lists from there. A run that dies between a commit and its
    checkpoint repeats that chunk, which changes nothing: each name's record makes the
    repeat a duplicate, exactly as a redelivered event is.
    """
    checkpoints = ctx.backends.checkpoints
    job = backfill_job(bucket, prefix)
    report = BackfillReport(bucket=bucket, prefix=prefix)
    saved = None if restart else checkpoints.load(job)
    report.resumed_after = None if saved is None else saved.resume_after
    checkpoint = Checkpoint(
        position=report.resumed_after,
        scope={"bucket": bucket, "prefix": prefix},
        run_started_at=ctx.clock(),
        updated_at=ctx.clock(),
    )
    checkpoints.save(job, checkpoint)
    logs.info("backfill started", bucket=bucket, prefix=prefix, resumed_after=report.resumed_after)
    started = monotonic()
    objects = ctx.backends.source.list_objects(bucket, prefix, start_after=report.resumed_after)
    for chunk in chunks(objects, chunk_size):
        register_many(ctx, chunk, report)
        report.elapsed_seconds = monotonic() - started
        if stop_after is not None and report.listed >= stop_after:
            raise BackfillStoppedError(report)
        checkpoint = checkpoint.advanced(chunk[-1].name, ctx.clock(), **_counts(report))
        checkpoints.save(job, checkpoint)
        if on_progress is not None:
            on_progress(report)
    report.elapsed_seconds = monotonic() - started
    report.finished = True
    checkpoints.save(job, checkpoint.done(ctx.clock(), **_counts(report)))
    logs.info("backfill done", **report.as_dict())
    return report


def _counts(report: BackfillReport) -> dict[str, int]:
    return {
        "run_listed": report.listed,
        "run_buffered": report.buffered,
        "run_rejected": sum(report.rejected.values()),
    }
