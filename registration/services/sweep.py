"""Housekeeping run by Cloud Scheduler, at a cost that follows the work that is due.

It never visits every buffer. It asks the records which buffers hold a pending object (a
skip scan: one single-document query per such buffer) and the batches which are claimed
or await Encord (collection-group queries), so 10,000 idle buffers cost what 20 do. Then,
within a time budget below the function's timeout, each kind of work in its turn:
- finishes batches whose writer died (claimed, untouched for longer than a lease);
- submits written manifests whose next attempt is due, and polls unfinished Encord jobs,
  in order of their next attempt, before the scan and within their own share of the budget
  (so a long scan never starves them, and they never starve the flushes);
- then, oldest pending first: flushes buffers whose oldest pending object is older than the
  max age, seals groups whose folder has gone quiet, flushes full buffers whose event never
  checked the threshold.
Encord's calls share one invocation (services/invocation.py): after Encord's first timeout
or 5xx the rest are deferred, so a hung Encord costs one timeout and every due manifest is
still written. A run cut short says work_remaining and which kinds of work it left
(cut_short, and a log line); the next picks up where it stopped (the scan's cursor is kept
in Firestore). A document that cannot be read is skipped and reported (unreadable), never
allowed to stop the run. Idempotent; safe beside events and beside itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from registration import logs
from registration.domain.checkpoint import Checkpoint
from registration.domain.found import unreadable_in
from registration.domain.model import BatchRecord, BatchState, PendingBuffer
from registration.domain.submission import SubmissionState
from registration.services import aftermath, follow_up, invocation
from registration.services.flush import FlushReport, WriteOutcome, finish, flush, save_summary
from registration.services.ports import Context, EncordBreaker
from registration.services.rejection_summary import summarize_rejections
from registration.services.submit import Step, submit_or_follow

# Buffers found by one call of the pending scan, and claimed batches read per sweep.
SCAN_PAGE = 100
CLAIMED_PAGE = 500
SUBMISSIONS_PAGE = 500
# Encord submissions and polls run before the scan, and stop after this share of the budget.
SUBMISSION_SHARE = 0.25
# What the second poll of a run may take (services/sweep._poll_again).
REPOLL_STEP_SECONDS = 10
# The scan may run until this share of the budget is spent; the rest is for acting on it.
SCAN_SHARE = 0.5
SWEEP_CHECKPOINT = "sweep"


@dataclass
class SweepReport:
    buffers_checked: int = 0
    buffers_flushed: int = 0
    manifests_written: list[str] = field(default_factory=list)
    batches_completed: list[str] = field(default_factory=list)
    errors: list[dict[str, str | None]] = field(default_factory=list)
    # True when the budget ran out first: the next run carries on.
    work_remaining: bool = False
    # Buffers whose oldest pending object was past the max age when the sweep found them.
    overdue_buffers: int = 0
    oldest_pending_age_seconds: float | None = None
    # Manifests handed to Encord by this run, and jobs whose end it recorded.
    submitted: list[str] = field(default_factory=list)
    jobs_finished: list[str] = field(default_factory=list)
    # Jobs a poll of this run found still running.
    jobs_running: int = 0
    # Dataset links this run recorded as done ("<manifest> -> <dataset>"), issue 20.
    datasets_linked: list[str] = field(default_factory=list)
    # Deletes and overwrites of registered objects this run carried over ("<gs://>: <what>").
    follow_ups: list[str] = field(default_factory=list)
    # The kinds of work the budget (or an Encord outage) cut short: "abandoned",
    # "submissions", "scan", "buffers", "rejection summary". Never empty when work_remaining.
    cut_short: list[str] = field(default_factory=list)
    # Documents skipped because they could not be read (their ids; docs/upgrade.md).
    unreadable: list[str] = field(default_factory=list)

    def stop(self, kind: str, reason: str) -> None:
        """This kind of work was left for the next run."""
        self.work_remaining = True
        if kind not in self.cut_short:
            self.cut_short.append(kind)
            logs.warning("sweep cut short", kind=kind, reason=reason)

    def skipped(self, result: Sequence[object]) -> None:
        """Note the documents a read skipped as unreadable (each logged once)."""
        for item in unreadable_in(result):
            if item.path not in self.unreadable:
                self.unreadable.append(item.path)
                logs.error("unreadable document skipped", document=item.path, problem=item.problem)

    def failed(self, buffer: str, error: Exception, **where: str) -> None:
        """One buffer's work failed: report it and carry on with the others."""
        logs.error("sweep failed for buffer", problem=repr(error), buffer=buffer, **where)
        self.errors.append({"work": "buffer", "buffer": buffer, "error": repr(error), **where})

    def failed_step(self, work: str, problem: str) -> None:
        """A step over no one buffer failed (the follow-ups, the rejection summary): reported
        under its own name, never as a buffer. `sweep done` is then logged at ERROR."""
        logs.error("sweep step failed", work=work, problem=problem)
        self.errors.append({"work": work, "buffer": None, "error": problem})

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
            "jobs_running": self.jobs_running,
            "datasets_linked": self.datasets_linked,
            "follow_ups": self.follow_ups,
            "cut_short": self.cut_short,
            "unreadable": self.unreadable,
            "unreadable_count": len(self.unreadable),
        }


def _older_than(ctx: Context, moment: datetime | None, seconds: int) -> bool:
    return moment is not None and ctx.clock() - moment >= timedelta(seconds=seconds)


def sweep(
    ctx: Context,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepReport:
    report = SweepReport()
    started = monotonic()
    budget = ctx.settings.sweep_budget_seconds
    # This run's own hold on Encord: its calls end with the budget, and defer after a failure.
    ctx = invocation.begin(ctx, budget)

    def out_of_time(share: float = 1.0) -> bool:
        return monotonic() - started >= budget * share

    _finish_abandoned(ctx, report, out_of_time)
    submissions_end = monotonic() - started + budget * SUBMISSION_SHARE
    _follow_submissions(ctx, report, lambda: out_of_time(submissions_end / budget))
    _follow_links(ctx, report, lambda: out_of_time(submissions_end / budget))
    _carry_follow_ups(ctx, report, lambda: out_of_time(submissions_end / budget))
    found = _scan_pending(ctx, lambda: out_of_time(SCAN_SHARE), report)
    now = ctx.clock()
    ages = [(now - item.oldest_pending_at).total_seconds() for item in found]
    report.oldest_pending_age_seconds = round(max(ages), 3) if ages else None
    report.overdue_buffers = sum(age >= ctx.settings.max_age_seconds for age in ages)
    # Oldest pending first, so that a run cut short never starves the most overdue work.
    for item in sorted(found, key=lambda item: item.oldest_pending_at):
        if out_of_time():
            report.stop("buffers", "budget spent")
            break
        report.buffers_checked += 1
        try:
            _sweep_buffer(ctx, item, report)
        except Exception as error:  # one broken buffer must not stop the others
            report.failed(item.buffer.label, error)
    encord = ctx.backends.encord
    if isinstance(encord, EncordBreaker) and encord.deferring:
        # Manifests were written, and their submissions (or polls) wait for the next run.
        report.stop("submissions", "Encord failed in this run")
    # Last, within what is left of the budget: the counts are a view, registering matters more.
    counted = summarize_rejections(ctx, out_of_time)
    if counted.work_remaining:
        report.stop("rejection summary", "budget spent")
    if counted.problem is not None:
        report.failed_step("rejection summary", counted.problem)
    _poll_again(ctx, report, lambda: monotonic() - started, sleep)
    done = logs.error if report.errors else logs.info
    done("sweep done", **report.as_dict())
    return report


def _finish_abandoned(ctx: Context, report: SweepReport, out_of_time: Callable[[], bool]) -> None:
    """Claimed batches of any buffer whose writer died: rewrite their manifests."""
    claimed = ctx.backends.batches.in_state(BatchState.CLAIMED, CLAIMED_PAGE)
    report.skipped(claimed)
    for batch in claimed:
        if out_of_time():
            report.stop("abandoned", "budget spent")
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
            report.failed(batch.buffer.label, error, manifest=batch.manifest_path)


def _scan_pending(
    ctx: Context, out_of_time: Callable[[], bool], report: SweepReport
) -> list[PendingBuffer]:
    """Every buffer with a pending object, from where the last run's scan stopped."""
    checkpoints = ctx.backends.checkpoints
    saved = checkpoints.load(SWEEP_CHECKPOINT)
    cursor = None if saved is None else saved.position
    start = cursor
    found: list[PendingBuffer] = []
    wrapped = False
    while True:
        page = ctx.backends.records.pending_buffers(cursor, SCAN_PAGE)
        report.skipped(page)
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
            report.stop("scan", "its share of the budget is spent")
            break
    if cursor != start:
        # The scan never finishes for good: a cursor of None means "from the top next time".
        checkpoints.save(SWEEP_CHECKPOINT, Checkpoint(position=cursor, updated_at=ctx.clock()))
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
    """Submit written batches whose next attempt is due and poll jobs not yet finished, in
    order of their next attempt: a cost that follows unfinished submissions (a
    collection-group query), within this step's own share of the budget."""
    encord = ctx.backends.encord
    if encord is None:
        return
    now = ctx.clock()
    unfinished = ctx.backends.submissions.submissions_due(SUBMISSIONS_PAGE)
    report.skipped(unfinished)
    for batch in unfinished:
        if not _due(batch, now):
            continue  # costs nothing: begin_submission would refuse it in a transaction
        if not _may_call_encord(report, "submissions", out_of_time, encord):
            return
        try:
            done = submit_or_follow(ctx, batch)
        except Exception as error:  # Firestore trouble: report it, carry on
            report.failed(batch.buffer.label, error, manifest=batch.manifest_path)
            continue
        if done is Step.SUBMITTED:
            report.submitted.append(batch.manifest_path)
        elif done is Step.FINISHED:
            report.jobs_finished.append(batch.manifest_path)
        elif done is Step.POLLED:
            report.jobs_running += 1


def _follow_links(ctx: Context, report: SweepReport, out_of_time: Callable[[], bool]) -> None:
    """Dataset links due (a collection-group range query on links_due_at: its cost follows
    the links due, and a batch with none costs nothing), in the submissions' share."""
    if ctx.backends.links is None:
        return
    encord = ctx.backends.encord
    due = ctx.backends.submissions.links_due(ctx.clock(), SUBMISSIONS_PAGE)
    report.skipped(due)
    for batch in due:
        if not _may_call_encord(report, "links", out_of_time, encord):
            return
        try:
            linked = aftermath.link_due(ctx, batch)
        except Exception as error:  # Firestore trouble: report it, carry on
            report.failed(batch.buffer.label, error, manifest=batch.manifest_path)
            continue
        report.datasets_linked.extend(f"{batch.manifest_path} -> {d}" for d in linked)


def _poll_again(
    ctx: Context, report: SweepReport, elapsed: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    """With jobs running (found running, or started by this run), wait until
    `sweep_repoll_seconds` after the start and poll once more: on a one-minute schedule a
    job's end is recorded within about that long instead of a whole minute. A run with no
    job running never waits, so the cost follows the work."""
    repoll = ctx.settings.sweep_repoll_seconds
    started_jobs = ctx.backends.encord is not None and bool(report.manifests_written)
    if not repoll or not (report.jobs_running or report.submitted or started_jobs):
        return
    wait = repoll - elapsed()
    if wait + REPOLL_STEP_SECONDS > ctx.settings.sweep_budget_seconds - elapsed():
        return  # no time left for it: the next run polls
    if wait > 0:
        sleep(wait)
    report.jobs_running = 0
    ends = elapsed() + REPOLL_STEP_SECONDS
    _follow_submissions(ctx, report, lambda: elapsed() >= ends)


def _may_call_encord(
    report: SweepReport, kind: str, out_of_time: Callable[[], bool], encord: object
) -> bool:
    """False, with the kind noted as cut short, once this step's share of the budget is spent
    or Encord failed in this run (the rest wait for the next run, untouched)."""
    if out_of_time():
        report.stop(kind, "their share of the budget is spent")
        return False
    if isinstance(encord, EncordBreaker) and encord.deferring:
        report.stop(kind, "Encord failed in this run")
        return False
    return True


def _carry_follow_ups(ctx: Context, report: SweepReport, out_of_time: Callable[[], bool]) -> None:
    """Deletes and overwrites of registered objects, by policy (services/follow_up.py): a
    range query on follow_up_due_at, so a deployment with none pays one read."""
    if not ctx.backends.policy.follows_bucket:
        return
    try:
        tally = follow_up.carry_due(ctx, out_of_time)
    except Exception as error:  # Firestore or bucket trouble: report it, carry on
        report.failed_step("follow-ups", repr(error))
        return
    report.follow_ups.extend(tally.carried)
    if tally.deferred:
        report.stop("follow_ups", "budget spent or Encord failed in this run")


def _due(batch: BatchRecord, now: datetime) -> bool:
    submission = batch.submission
    if submission is None or submission.state is SubmissionState.SUBMITTING:
        return True  # an intent whose holder may have died: begin decides in a transaction
    # A retry, or a poll Encord refused, waits for its time; a polled job is due again at once.
    return submission.next_attempt_at is None or submission.next_attempt_at <= now
