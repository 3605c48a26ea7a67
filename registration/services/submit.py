"""Hand each written manifest to Encord as one upload job, and follow the job to its end.

Exactly once, but for one window: intent is recorded (a small transaction that only one
instance can win while its lease lives) before Encord is called, and the job id right
after. If the process dies after Encord accepted the job and before its id is recorded, or
the start call times out after acceptance, the batch is submitted again once the lease has
passed; the manifest's skip_duplicate_urls makes that second job register nothing new.

Every write after the intent is fenced (domain/batch_lifecycle.py): it carries the attempt
number its writer began with, and is refused once another attempt took over. An instance
that stalled inside Encord's start past its lease, and came back, changes nothing: it can
neither reopen a finished job nor make the next sweep start a third one.

Encord receives the manifest that was written: the bytes rendered at write time, or the
file read back from the bucket on a retry; never one rebuilt from records.

An Encord outage, a 429 or a 5xx never loses a batch and never fails the storage event: the
batch stays written-not-submitted with a time for its next attempt (exponential backoff,
never sooner than Encord's Retry-After), and the sweep retries it. A refusal of the start
that retrying cannot fix (bad key, no access, unknown folder) is recorded for a person:
status shows it. A refusal of a poll is retried and alerted: only "this job does not
exist" ends the follow-up.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from registration import logs
from registration.domain.batch_lifecycle import Aftermath, Decision, Next
from registration.domain.model import BatchRecord, RejectionReason, StorageObject, Submission
from registration.domain.submission import EncordJobResult, SubmissionState, retry_delay
from registration.exceptions import (
    EncordJobMissingError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
    ManifestValidationError,
)
from registration.manifest.readback import encord_document
from registration.manifest.urls import parse_object_url
from registration.services import aftermath
from registration.services.ports import Context
from registration.services.rejecting import reject_many


class Step(enum.Enum):
    """What the sweep's step did for one unfinished submission."""

    NOTHING = "nothing"  # not due, held by another instance, or Encord failed (recorded)
    SUBMITTED = "submitted"  # a job was started and its id recorded
    POLLED = "polled"  # the job is still running
    FINISHED = "finished"  # the job's end was recorded


def job_file_name(batch: BatchRecord) -> str:
    """The name Encord shows for the upload: the manifest's own, always as .json."""
    return PurePosixPath(batch.manifest_path).with_suffix(".json").name


def written_manifest(ctx: Context, batch: BatchRecord, data: bytes | None = None) -> dict[str, Any]:
    """The document Encord is sent: the written bytes, read back from the bucket if not given."""
    if data is None:
        data = ctx.backends.manifests.read(batch.manifest_bucket, batch.manifest_path)
    if data is None:
        raise ManifestValidationError(
            batch.manifest_path, "the written manifest is no longer in the bucket"
        )
    csv = batch.manifest_path.endswith(".csv")  # the file's own form, whatever today's setting
    return encord_document(batch.buffer.key, data, "csv" if csv else "json")


def submit(ctx: Context, batch: BatchRecord, written: bytes | None = None) -> bool:
    """Submit one written batch if it is due and no other instance is submitting it.

    written: the manifest's bytes as just written (at write time); None on a retry, which
    reads the file back. Returns True when a job id was recorded. Never raises for
    Encord's sake; Firestore failures raise, so the caller (event or sweep) is retried.
    """
    encord = ctx.backends.encord
    if encord is None or batch.submission is None:
        return False
    submissions = ctx.backends.submissions
    began = submissions.begin_submission(batch, ctx.clock(), ctx.settings.lease_seconds)
    if not isinstance(began, Next):
        return False
    token = began.token
    where = batch.manifest_url
    try:
        job_id = encord.start(written_manifest(ctx, batch, written), job_file_name(batch))
    except EncordRateLimitedError as error:
        _retry(ctx, batch, token, str(error), error.retry_after_seconds)
        return False
    except EncordUnavailableError as error:
        # If Encord may have accepted the job, resubmitting is still right: the second job
        # registers nothing new (skip_duplicate_urls).
        _retry(ctx, batch, token, str(error), None)
        return False
    except (EncordRefusedError, ManifestValidationError) as error:
        decision = submissions.record_refused(batch, token, str(error))
        if not _stale_or_ended(ctx, batch, decision, "refusal"):
            logs.error("encord submission failed", manifest=where, reason=str(error), retry_at=None)
        return False
    except Exception as error:  # an SDK surprise must not fail the storage event either
        _retry(ctx, batch, token, repr(error), None)
        return False
    decision = submissions.record_submitted(batch, token, job_id, ctx.clock())
    if _stale_or_ended(ctx, batch, decision, f"job {job_id}"):
        return False
    logs.info("encord job started", manifest=where, job_id=job_id, attempt=token)
    return True


def _retry(
    ctx: Context, batch: BatchRecord, token: int, problem: str, retry_after: float | None
) -> None:
    retry_at = ctx.clock() + retry_delay(token, retry_after)
    decision = ctx.backends.submissions.record_retry(batch, token, retry_at, problem)
    if _stale_or_ended(ctx, batch, decision, "retry"):
        return
    logs.warning(
        "encord submission failed",
        manifest=batch.manifest_url,
        reason=problem,
        retry_at=retry_at,
        attempt=token,
    )


def _stale_or_ended(ctx: Context, batch: BatchRecord, decision: Decision, what: str) -> bool:
    """True when the write was refused (a stale writer: another attempt took over, or the
    job's end is recorded). A write that ended the submission lets its members expire."""
    if isinstance(decision, Next):
        if decision.reached_end:
            expire_members(ctx, batch)
        return False
    logs.warning(
        "encord write refused",
        manifest=batch.manifest_url,
        what=what,
        why=decision.value,
    )
    return True


def expire_members(ctx: Context, batch: BatchRecord) -> None:
    """Retention: the members' records may go once the batch's way is finished (written
    with no target, or its Encord job ended); never while it may still need them. If this
    is lost to a crash, the records simply stay (the safe side)."""
    days = ctx.settings.record_retention_days
    if days:
        ctx.backends.batches.expire_members(batch, ctx.clock() + timedelta(days=days))


def follow(ctx: Context, batch: BatchRecord) -> EncordJobResult | None:
    """Poll a submitted job once (a short poll, never the SDK's 7-day default) and record
    what it says; at its end, every file Encord refused becomes a rejection."""
    encord = ctx.backends.encord
    submission = batch.submission
    if encord is None or submission is None or submission.job_id is None:
        return None
    submissions = ctx.backends.submissions
    token = submission.attempts
    try:
        result = encord.poll(submission.job_id)
    except (EncordUnavailableError, EncordRateLimitedError) as error:
        logs.warning("encord poll failed", job_id=submission.job_id, problem=str(error))
        return None
    except EncordRefusedError as error:
        # A refused poll (a key rotation gone wrong, say) says nothing about the job, which
        # may be running fine: keep following it, and alert. Only a job Encord does not
        # know ends here, for a person.
        missing = isinstance(error, EncordJobMissingError)
        retry_at = None if missing else ctx.clock() + retry_delay(token)
        decision = submissions.record_refused(
            batch, token, str(error), job_missing=missing, next_attempt_at=retry_at
        )
        if not _stale_or_ended(ctx, batch, decision, "poll refusal"):
            logs.error(
                "encord submission failed",
                manifest=batch.manifest_url,
                reason=str(error),
                retry_at=retry_at,
                job_id=submission.job_id,
            )
        return None
    after: Aftermath | None = None
    if result.finished:
        # Before the end is recorded: a finished job is never polled again, so an instance
        # that died in between would lose the rejections, the items and the message
        # (recording them twice is harmless; the message is at least once).
        _reject_refused_files(ctx, batch, result)
        try:
            after = aftermath.job_ended(ctx, batch, submission.job_id, result)
        except aftermath.NotYetError as error:
            logs.warning("job end not recorded yet", job_id=submission.job_id, problem=str(error))
            return None
    decision = submissions.record_job(batch, token, result, ctx.clock(), after)
    if _stale_or_ended(ctx, batch, decision, f"poll of job {submission.job_id}"):
        return None
    if isinstance(decision, Next) and decision.submission.links:
        # The first link attempts at once: a drop is ready to annotate in this same run.
        aftermath.link_due(ctx, replace(batch, submission=decision.submission))
    if result.finished:
        log = logs.info if result.status == "DONE" and not result.units_error else logs.warning
        log(
            "encord job finished",
            manifest=batch.manifest_url,
            job_id=submission.job_id,
            status=result.status,
            units_done=result.units_done,
            units_error=result.units_error,
        )
    return result


def _reject_refused_files(ctx: Context, batch: BatchRecord, result: EncordJobResult) -> None:
    if not result.unit_errors or batch.submission is None:
        return
    job_id = batch.submission.job_id
    # Members give each URL's generation, so a refusal is recorded like any rejection.
    members = {obj.name: obj for obj in ctx.backends.batches.members(batch.buffer, batch.seq)}
    refused: list[tuple[StorageObject, RejectionReason, str]] = []
    for unit in result.unit_errors:
        for url in unit.object_urls:
            try:
                bucket, name = parse_object_url(url)
            except ValueError:
                continue
            obj = members.get(name) or StorageObject(bucket, name, 0)
            detail = f"Encord refused it in job {job_id}: {unit.error}"
            refused.append((obj, RejectionReason.ENCORD_REFUSED, detail))
    reject_many(ctx, refused)


def submit_or_follow(ctx: Context, batch: BatchRecord) -> Step:
    """The sweep's step for one unfinished submission."""
    submission = batch.submission
    if submission is None:
        return Step.NOTHING
    if submission.state is SubmissionState.SUBMITTED:
        result = follow(ctx, batch)
        if result is None:
            return Step.NOTHING
        return Step.FINISHED if result.finished else Step.POLLED
    return Step.SUBMITTED if submit(ctx, batch) else Step.NOTHING


def with_submission(batch: BatchRecord, state: SubmissionState) -> BatchRecord:
    """The batch as it stands once its manifest is written with a target configured."""
    return replace(batch, submission=Submission(state=state))
