"""Encord submissions for people: the jobs listing, a batch found by its manifest, and
handing one written manifest to Encord again (the CLI's `jobs` and `resubmit`).

Dependencies: Submissions (the listings and the resubmit mark), Batches (by_manifest, get),
and through submit() the Encord gateway.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from registration.domain.model import BatchRecord, split_gs_url
from registration.domain.submission import SubmissionState
from registration.services.ports import Context
from registration.services.submit import submit

JOBS_LIMIT = 500


def jobs(ctx: Context, *, failed: bool = False, limit: int = JOBS_LIMIT) -> list[BatchRecord]:
    """Batches whose submission is unfinished or, with failed, needs a person (refused,
    ERROR, cancelled): collection-group queries, in manifest order."""
    submissions = ctx.backends.submissions
    found = submissions.failed_submissions(limit) if failed else submissions.submissions_due(limit)
    return sorted(found, key=lambda batch: batch.manifest_url)


def batch_of_manifest(ctx: Context, manifest_url: str) -> BatchRecord | None:
    """The batch that wrote gs://BUCKET/PATH (one indexed query), or None."""
    where = split_gs_url(manifest_url)
    return None if where is None else ctx.backends.batches.by_manifest(*where)


class Resubmission(enum.StrEnum):
    SUBMITTED = "submitted"  # a new job was started and its id recorded
    DEFERRED = "deferred"  # marked for submission; Encord was unavailable, the sweep retries
    REFUSED = "refused"  # Encord refused it again
    NOT_FOUND = "not_found"  # no batch wrote that manifest
    NOT_WRITTEN = "not_written"  # its batch is claimed or invalid: nothing to hand over


@dataclass(frozen=True)
class ResubmitOutcome:
    manifest_url: str
    outcome: Resubmission
    batch: BatchRecord | None = None  # as it stands after the attempt

    @property
    def job_id(self) -> str | None:
        submission = None if self.batch is None else self.batch.submission
        return None if submission is None else submission.job_id

    @property
    def problem(self) -> str | None:
        submission = None if self.batch is None else self.batch.submission
        return None if submission is None else submission.problem


def resubmit(ctx: Context, manifest_url: str) -> ResubmitOutcome:
    """Hand one written manifest to Encord again, now, whatever its submission's state:
    its job id is forgotten and a new job started (skip_duplicate_urls keeps files Encord
    already has from being registered twice)."""
    batch = batch_of_manifest(ctx, manifest_url)
    if batch is None:
        return ResubmitOutcome(manifest_url, Resubmission.NOT_FOUND)
    batches = ctx.backends.batches
    if not ctx.backends.submissions.resubmit(batch, ctx.clock()):
        return ResubmitOutcome(manifest_url, Resubmission.NOT_WRITTEN, batch)
    marked = batches.get(batch.buffer, batch.seq)
    submitted = marked is not None and submit(ctx, marked)
    after = batches.get(batch.buffer, batch.seq)
    if submitted:
        return ResubmitOutcome(manifest_url, Resubmission.SUBMITTED, after)
    state = None if after is None or after.submission is None else after.submission.state
    refused = state is SubmissionState.FAILED
    return ResubmitOutcome(
        manifest_url, Resubmission.REFUSED if refused else Resubmission.DEFERRED, after
    )
