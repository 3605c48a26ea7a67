"""Where a resumable walk got to: a backfill's listing, the sweep's scan, the migration (pure).

One typed record for all three, so no use case reads or writes a checkpoint as a dict. The
Firestore adapter maps it to the fields `docs/firestore-schema.md` documents under
`backfills/{job id}`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime


class CheckpointState(enum.StrEnum):
    RUNNING = "running"  # started or interrupted: a rerun resumes after `position`
    DONE = "done"  # finished: a rerun starts from the top again


@dataclass(frozen=True)
class Checkpoint:
    """The last name (or buffer id) a walk finished with; None: from the top."""

    position: str | None
    state: CheckpointState = CheckpointState.RUNNING
    # What the walk is over (a backfill's bucket and prefix), for ops reading the document.
    scope: Mapping[str, str] = field(default_factory=dict)
    # The latest run's counts (a backfill's run_listed, run_buffered, run_rejected).
    counts: Mapping[str, int] = field(default_factory=dict)
    run_started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def resume_after(self) -> str | None:
        """Where a rerun starts: after `position` while running, from the top once done."""
        return self.position if self.state is CheckpointState.RUNNING else None

    def advanced(self, position: str | None, now: datetime, **counts: int) -> Checkpoint:
        return replace(self, position=position, updated_at=now, counts=counts or self.counts)

    def done(self, now: datetime, **counts: int) -> Checkpoint:
        return replace(
            self,
            state=CheckpointState.DONE,
            updated_at=now,
            finished_at=now,
            counts=counts or self.counts,
        )
