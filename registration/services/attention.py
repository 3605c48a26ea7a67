"""What needs a person, most urgent first: stuck and invalid batches, and Encord trouble
(refused, ended badly, or not ending). Read from the batches by collection-group queries, so
the cost follows these batches, never the buffers; and whatever the reading function's own
settings, so the status function shows the submissions without an Encord target or key.

Ports it reads: batches (claimed and invalid ones) and submissions (unfinished and failed).
The overdue buffers are the status view's own rows (status.py adds them).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from registration.domain.found import Found, unreadable_in
from registration.domain.links import LinkState
from registration.domain.model import BatchRecord, BatchState, BufferRef, gs_url
from registration.domain.submission import SubmissionState
from registration.services.ports import Context

# Claimed batches read per view, to find the stuck ones; and batches of each other kind
# that need attention (invalid, Encord trouble).
STUCK_LIMIT = 200
ATTENTION_LIMIT = 100


class AttentionKind(enum.StrEnum):
    STUCK_BATCH = "stuck_batch"  # claimed, untouched for longer than a lease
    INVALID_BATCH = "invalid_batch"  # its manifest failed validation
    OVERDUE_BUFFER = "overdue_buffer"  # oldest pending older than the max age
    SUBMISSION_FAILED = "submission_failed"  # Encord refused the manifest
    JOB_PENDING_TOO_LONG = "job_pending_too_long"  # an Encord job that does not end
    JOB_ERRORS = "job_errors"  # an Encord job finished with refused files
    JOB_CANCELLED = "job_cancelled"  # an Encord job was cancelled before its end
    FOLLOW_UP_FAILED = "follow_up_failed"  # a dataset link, the job's message or a delete refused


@dataclass(frozen=True)
class Attention:
    """One thing a person should look at, most urgent first."""

    kind: AttentionKind
    buffer: BufferRef | None
    detail: str
    since: datetime | None = None
    manifest: str | None = None


def stuck_batches(ctx: Context) -> Found[BatchRecord]:
    """Claimed batches past their lease; what the read skipped as unreadable is kept."""
    claimed = ctx.backends.batches.in_state(BatchState.CLAIMED, STUCK_LIMIT)
    return Found(
        (batch for batch in claimed if batch.abandoned(ctx.settings.lease_seconds)),
        unreadable_in(claimed),
    )


@dataclass(frozen=True)
class SubmissionsSeen:
    """The view's one read of the batches whose submission is unfinished or failed."""

    due: list[BatchRecord]
    failed: list[BatchRecord]
    # Finished batches whose dataset link or job message was refused (issue 20).
    follow_ups: list[BatchRecord] = field(default_factory=list)


def submissions_seen(ctx: Context) -> SubmissionsSeen:
    # Read from the batches whatever this function's own settings: the deployed status
    # function has no Encord target and no key, yet must show what the others submitted.
    submissions = ctx.backends.submissions
    return SubmissionsSeen(
        submissions.submissions_due(ATTENTION_LIMIT),
        submissions.failed_submissions(ATTENTION_LIMIT),
        submissions.failed_follow_ups(ATTENTION_LIMIT),
    )


def batch_attention(ctx: Context, submitted: SubmissionsSeen) -> list[Attention]:
    """Invalid manifests and Encord submissions a person must look at (collection-group
    queries: the cost follows these batches, never the buffers)."""
    backends = ctx.backends
    items = [
        Attention(
            AttentionKind.INVALID_BATCH,
            batch.buffer,
            f"batch {batch.seq} ({batch.item_count} objects) failed validation, and its "
            f"objects were rejected: {batch.problem}",
            batch.claimed_at,
            batch.manifest_url,
        )
        for batch in backends.batches.in_state(BatchState.INVALID, ATTENTION_LIMIT)
    ]
    now = ctx.clock()
    waited = timedelta(seconds=ctx.settings.encord_job_attention_seconds)
    for batch in submitted.failed:
        submission = batch.submission
        assert submission is not None
        if submission.state is SubmissionState.FAILED:
            kind, detail = (
                AttentionKind.SUBMISSION_FAILED,
                f"Encord refused it: {submission.problem}",
            )
        elif submission.state is SubmissionState.CANCELLED:
            kind = AttentionKind.JOB_CANCELLED
            detail = f"Encord job {submission.job_id} was cancelled before its end"
        else:
            kind = AttentionKind.JOB_ERRORS
            detail = f"Encord job {submission.job_id} ended in ERROR"
        items.append(
            Attention(kind, batch.buffer, detail, submission.finished_at, batch.manifest_url)
        )
    items += _follow_up_attention(ctx, submitted)
    for batch in submitted.due:
        submission = batch.submission
        assert submission is not None
        started = submission.submitted_at or batch.written_at
        if started is not None and now - started > waited:
            items.append(
                Attention(
                    AttentionKind.JOB_PENDING_TOO_LONG,
                    batch.buffer,
                    f"not finished in Encord after {int((now - started).total_seconds())} s "
                    f"({submission.state.value}, {submission.attempts} attempts"
                    + (f", last problem: {submission.problem}" if submission.problem else "")
                    + ")",
                    started,
                    batch.manifest_url,
                )
            )
    return items


def _follow_up_attention(ctx: Context, submitted: SubmissionsSeen) -> list[Attention]:
    """What Encord refused after a job's end: a dataset link, the job's message (on the
    batch), an item delete (on the record). Read whatever this function's own settings,
    like the submissions: the deployed status function has no policy variables."""
    items: list[Attention] = []
    follow_ups = ctx.backends.follow_ups
    if follow_ups is not None:
        items += [
            Attention(
                AttentionKind.FOLLOW_UP_FAILED,
                item.buffer,
                f"{gs_url(item.bucket, item.name)}: Encord item {item.item_uuid} was not "
                f"deleted: {item.failed}",
            )
            for item in follow_ups.follow_ups_failed(ATTENTION_LIMIT)
        ]
    for batch in submitted.follow_ups:
        submission = batch.submission
        assert submission is not None
        problems = [
            f"link to dataset {link.dataset} refused: {link.problem}"
            for link in submission.links
            if link.state is LinkState.FAILED
        ]
        if submission.notify_problem:
            problems.append(f"notification refused: {submission.notify_problem}")
        items.append(
            Attention(
                AttentionKind.FOLLOW_UP_FAILED,
                batch.buffer,
                "; ".join(problems),
                submission.finished_at,
                batch.manifest_url,
            )
        )
    return items


def submissions_by_state(submitted: SubmissionsSeen) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch in [*submitted.due, *submitted.failed]:
        assert batch.submission is not None
        state = batch.submission.state.value
        counts[state] = counts.get(state, 0) + 1
    return counts


def stuck_attention(stuck: list[BatchRecord]) -> list[Attention]:
    return [
        Attention(
            AttentionKind.STUCK_BATCH,
            batch.buffer,
            f"batch {batch.seq} ({batch.item_count} objects) is claimed but its manifest is "
            "not written; the sweep finishes it",
            batch.claimed_at,
            batch.manifest_url,
        )
        for batch in stuck
    ]


_ORDER = list(AttentionKind)


def urgency(item: Attention) -> tuple[int, datetime]:
    return (_ORDER.index(item.kind), item.since or datetime.max.replace(tzinfo=UTC))
