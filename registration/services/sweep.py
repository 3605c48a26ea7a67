"""Housekeeping run by Cloud Scheduler, at a cost that follows the work that is due.

It never visits every buffer. It asks the records which buffers hold a pending object (a
skip scan: one single-document query per such buffer) and the batches which are claimed
(a collection-group query), so 10,000 idle buffers cost what 20 do. Then, oldest pending
first and within a time budget below the function's timeout:
- finishes batches whose writer died (claimed, untouched for longer than a lease);
- flushes buffers whose oldest pending object is older than the max age;
- seals groups whose folder has gone quiet;
- flushes full buffers whose event never checked the threshold.
A run cut short by its budget says work_remaining, and the next picks up where it stopped
(the scan's cursor is kept in Firestore). Idempotent; safe beside events and beside itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from registration import logs
from registration.domain.model import BatchState, PendingBuffer
from registration.services.flush import FlushReport, WriteOutcome, finish, flush, save_summary
from registration.services.ports import Context
from registration.services.rejection_summary import summarize_rejections
from registration.services.submit import submit_or_follow

# Buffers found by one call of the pending scan, and claimed batches read per sweep.
SCAN_PAGE = 100
CLAIMED_PAGE = 500
SUBMISSIONS_PAGE = 500
# The scan may use this share of the budget; the rest is for acting on what it found.
SCAN_SHARE = 0.5
SWEEP_CHECKPOINT = "sweep"


@dataclass
class SweepReport:
    buffers_checked: int = 0
    buffers_flushed: int = 0
    manifests_written: list[str] = field(default_factory=list)
    batches_completed: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    # True when the budget ran out first: the next run carries on.
    work_remaining: bool = False
    # Buffers whose oldest pending object was past the max age when the sweep found them.
    overdue_buffers: int = 0
    oldest_pending_age_seconds: float | None = None
    # Manifests handed to Encord by this run, and jobs whose end it recorded.
    submitted: list[str] = field(default_factory=list)
    jobs_finished: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "buffers_checked": self.buffers_checked,
            "buffers_flushed": self.buffers_flushed,
            "manifests_written": self.manifests_written,
            "batches_completed": self.batches_completed,
            "errors": self.errors,
            "work_remaining": self.work_remaining,
            "overdue_buffers": self.overdue_buffers,
            "oldest_pending_age_seconds": self.oldest_pending_age_seconds,
            "submitted": self.submitted,
            "jobs_finished": self.jobs_finished,
        }


def _older_than(ctx: Context, moment: datetime | None, seconds: int) -> bool:
    return moment is not None and ctx.clock() - moment >= timedelta(seconds=seconds)


def sweep(ctx: Context, monotonic: Callable[[], float] = time.monotonic) -> SweepReport:
    report = SweepReport()
    started = monotonic()
    budget = ctx.settings.sweep_budget_seconds

    def out_of_time(share: float = 1.0) -> bool:
        return monotonic() - started >= budget * share

    _finish_abandoned(ctx, report, out_of_time)
    found = _scan_pending(ctx, lambda: out_of_time(SCAN_SHARE), report)
    now = ctx.clock()
    ages = [(now - item.oldest_pending_at).total_seconds() for item in found]
    report.oldest_pending_age_seconds = round(max(ages), 3) if ages else None
    report.overdue_buffers = sum(age >= ctx.settings.max_age_seconds for age in ages)
    # Oldest pending first, so that a run cut short never starves the most overdue work.
    for item in sorted(found, key=lambda item: item.oldest_pending_at):
        if out_of_time():
            report.work_remaining = True
            break
        report.buffers_checked += 1
        try:
            _sweep_buffer(ctx, item, report)
        except Exception as error:  # one broken buffer must not stop the others
            logs.error("sweep failed for buffer", problem=repr(error), buffer=item.buffer.label)
            report.errors.append({"buffer": item.buffer.label, "error": repr(error)})
    _follow_submissions(ctx, report, out_of_time)
    # Last, within what is left of the budget: the counts are a view, registering matters more.
    counted = summarize_rejections(ctx, out_of_time)
    report.work_remaining |= counted.work_remaining
    if counted.problem is not None:
        report.errors.append({"buffer": "(rejection summary)", "error": counted.problem})
    done = logs.error if report.errors else logs.info
    done("sweep done", **report.as_dict())
    return report


def _finish_abandoned(ctx: Context, report: SweepReport, out_of_time: Callable[[], bool]) -> None:
    """Claimed batches of any buffer whose writer died: rewrite their manifests."""
    for batch in ctx.backends.batches.in_state(BatchState.CLAIMED, CLAIMED_PAGE):
        if out_of_time():
            report.work_remaining = True
            return
        if not batch.abandoned(ctx.settings.lease_seconds):
            continue
        try:
            outcome = finish(ctx, batch)
            if outcome is WriteOutcome.WRITTEN:
                report.batches_completed.append(batch.manifest_path)
            elif outcome is WriteOutcome.INVALID:
                _invalid(report, batch.buffer.label, batch.manifest_path)
        except Exception as error:
            logs.error("sweep failed for buffer", problem=repr(error), buffer=batch.buffer.label)
            report.errors.append({"buffer": batch.buffer.label, "error": repr(error)})


def _scan_pending(
    ctx: Context, out_of_time: Callable[[], bool], report: SweepReport
) -> list[PendingBuffer]:
    """Every buffer with a pending object, from where the last run's scan stopped."""
    checkpoints = ctx.backends.checkpoints
    saved = checkpoints.load(SWEEP_CHECKPOINT) or {}
    cursor: str | None = saved.get("cursor")
    start = cursor
    found: list[PendingBuffer] = []
    wrapped = False
    while True:
        page = ctx.backends.records.pending_buffers(cursor, SCAN_PAGE)
        found.extend(item for item in page if not (wrapped and _passed(item, start)))
        if len(page) < SCAN_PAGE:
            if start is None or wrapped:
                cursor = None
                break
            wrapped, cursor = True, None  # from the top, up to where this run began
            continue
        cursor = page[-1].buffer.ident
        if wrapped and start is not None and cursor >= start:
            cursor = None
            break
        if out_of_time():
            report.work_remaining = True
            break
    if cursor != saved.get("cursor"):
        checkpoints.save(SWEEP_CHECKPOINT, {"cursor": cursor})
    return found


def _passed(item: PendingBuffer, start: str | None) -> bool:
    return start is not None and item.buffer.ident > start


def _sweep_buffer(ctx: Context, item: PendingBuffer, report: SweepReport) -> None:
    settings, records, buffer = ctx.settings, ctx.backends.records, item.buffer
    flushed: FlushReport | None = None
    if buffer.grouped:
        # A group is complete once its folder has gone quiet; never flushed by age alone,
        # since that would register half a group.
        if _older_than(ctx, records.newest_pending_at(buffer), settings.group_quiet_seconds):
            flushed = flush(ctx, buffer, full_only=False)
    elif _older_than(ctx, item.oldest_pending_at, settings.max_age_seconds):
        flushed = flush(ctx, buffer, full_only=False)
    else:
        pending = records.count_pending(buffer)
        if pending >= settings.batch_size(buffer.key):
            # Catch a threshold whose event never checked it.
            flushed = flush(ctx, buffer, full_only=True)
        else:
            # Nothing flushed: the count and the scan's oldest are the summary already.
            ctx.backends.buffers.save_pending_summary(buffer, pending, item.oldest_pending_at)
            return
    if flushed is not None:
        for invalid in flushed.invalid:
            _invalid(report, invalid.buffer, invalid.manifest)
    if flushed is not None and (flushed.manifests or flushed.completed):
        report.buffers_flushed += 1
        report.manifests_written.extend(flushed.manifests)
        report.batches_completed.extend(flushed.completed)
    elif flushed is None or not flushed.invalid:
        save_summary(ctx, buffer)


def _invalid(report: SweepReport, buffer: str, manifest: str) -> None:
    # Its objects are rejected and its buffer moves on, but a person must look at why.
    report.errors.append(
        {
            "buffer": buffer,
            "error": f"manifest {manifest} failed validation; its objects "
            "were rejected (reason manifest_invalid)",
        }
    )


def _follow_submissions(ctx: Context, report: SweepReport, out_of_time: Callable[[], bool]) -> None:
    """Submit written batches whose next attempt is due, poll jobs not yet finished: a
    cost that follows unfinished submissions (a collection-group query)."""
    if ctx.backends.encord is None:
        return
    for batch in ctx.backends.submissions.submissions_due(SUBMISSIONS_PAGE):
        if out_of_time():
            report.work_remaining = True
            return
        try:
            done = submit_or_follow(ctx, batch)
        except Exception as error:  # Firestore trouble: report it, carry on
            logs.error("sweep failed for buffer", problem=repr(error), buffer=batch.buffer.label)
            report.errors.append({"buffer": batch.buffer.label, "error": repr(error)})
            continue
        if done == "submitted":
            report.submitted.append(batch.manifest_path)
        elif done is not None and not done.endswith("PENDING"):
            report.jobs_finished.append(batch.manifest_path)
