"""Move data written in the layout before the redesign into today's (docs/upgrade.md).

Buffer by buffer, in id order: its old object records move to `objects/` (one atomic
commit per chunk moves a record and deletes its old copy), and its batch documents gain the
buffer's identity fields and the schema version. After each buffer the checkpoint keeps its
id, so an interrupted run resumes after the last buffer it finished; a buffer half done is
simply done again, since a moved record no longer exists where it came from. Idempotent: a
run over migrated data moves nothing. A document it cannot read is left where it is and
reported, never allowed to stop the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from registration import logs
from registration.clock import Clock
from registration.domain.checkpoint import Checkpoint
from registration.domain.migration import BufferMigration
from registration.services.ports import Checkpoints, LegacyLayout

CHECKPOINT = "migrate"
BUFFERS_PAGE = 100


@dataclass
class MigrationReport:
    buffers: int = 0
    records_moved: int = 0
    records_superseded: int = 0
    batches_upgraded: int = 0
    unreadable: list[str] = field(default_factory=list)
    resumed_after: str | None = None
    finished: bool = False

    def add(self, done: BufferMigration) -> None:
        self.buffers += 1
        self.records_moved += done.records_moved
        self.records_superseded += done.records_superseded
        self.batches_upgraded += done.batches_upgraded
        self.unreadable.extend(item.path for item in done.unreadable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffers": self.buffers,
            "records_moved": self.records_moved,
            "records_superseded": self.records_superseded,
            "batches_upgraded": self.batches_upgraded,
            "unreadable": self.unreadable,
            "unreadable_count": len(self.unreadable),
            "resumed_after": self.resumed_after,
            "finished": self.finished,
        }


def migrate(
    legacy: LegacyLayout,
    checkpoints: Checkpoints,
    clock: Clock,
    *,
    restart: bool = False,
    stop_after: int | None = None,
    on_buffer: Callable[[MigrationReport], None] | None = None,
) -> MigrationReport:
    """Migrate every buffer after the checkpoint (all of them with restart). stop_after
    ends the run after that many buffers, as an interruption would (tests)."""
    saved = None if restart else checkpoints.load(CHECKPOINT)
    cursor = None if saved is None else saved.resume_after
    report = MigrationReport(resumed_after=cursor)
    checkpoint = Checkpoint(position=cursor, run_started_at=clock(), updated_at=clock())
    while True:
        page = legacy.buffers_after(cursor, BUFFERS_PAGE)
        for ident in page:
            if stop_after is not None and report.buffers >= stop_after:
                return report
            done = legacy.migrate_buffer(ident, clock())
            for item in done.unreadable:
                logs.error("migration skipped a document", document=item.path, problem=item.problem)
            report.add(done)
            cursor = ident
            checkpoint = checkpoint.advanced(cursor, clock())
            checkpoints.save(CHECKPOINT, checkpoint)
            if on_buffer is not None:
                on_buffer(report)
        if len(page) < BUFFERS_PAGE:
            break
    # Done: the next run starts from the top again (and finds nothing left to move).
    checkpoints.save(CHECKPOINT, checkpoint.done(clock()))
    report.finished = True
    logs.info("migration done", **report.as_dict())
    return report
