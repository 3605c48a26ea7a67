"""Hand each written manifest to Encord as one upload job, and follow the job to its end.

Exactly once, but for one window: intent is recorded (a small transaction that only one
instance can win while its lease lives) before Encord is called, and the job id right
after. If the process dies after Encord accepted the job and before its id is recorded, or
the start call times out after acceptance, the batch is submitted again once the lease has
passed; the manifest's skip_duplicate_urls makes that second job register nothing new.

An Encord outage, a 429 or a 5xx never loses a batch and never fails the storage event: the
batch stays written-not-submitted with a time for its next attempt (exponential backoff,
never sooner than Encord's Retry-After), and the sweep retries it. A refusal that retrying
cannot fix (bad key, no access, unknown folder) is recorded for a person: status shows it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from registration import logs
from registration.domain.model import BatchRecord, RejectionReason, StorageObject, Submission
from registration.domain.submission import EncordJobResult, SubmissionState, retry_delay
from registration.exceptions import (
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
    ManifestValidationError,
)
from registration.manifest.build import build_manifest
from registration.manifest.render import render_json
from registration.manifest.urls import parse_object_url
from registration.services.ports import Context
from registration.services.rejecting import reject_many
from registration.services.units import units_of


def manifest_json(ctx: Context, batch: BatchRecord) -> dict[str, Any]:
    """The batch's manifest in Encord's JSON form, rebuilt from its members (the same
    units in the same order as the written file, so the same items)."""
    members = ctx.backends.batches.members(batch.buffer, batch.seq)
    manifest = build_manifest(
        batch.buffer.key,
        units_of(ctx, batch, members),
        url_style=ctx.settings.url_style,
        name=batch.manifest_path,
    )
    document: dict[str, Any] = json.loads(render_json(manifest))
    return document


def job_file_name(batch: BatchRecord) -> str:
    """The name Encord shows for the upload: the manifest's own, always as .json."""
    return PurePosixPath(batch.manifest_path).with_suffix(".json").name


def submit(ctx: Context, batch: BatchRecord, manifest: Mapping[str, Any] | None = None) -> bool:
    """Submit one written batch if it is due and no other instance is submitting it.

    Returns True when a job id was recorded. Never raises for Encord's sake; Firestore
    failures raise, so the caller (event or sweep) is retried.
    """
    encord = ctx.backends.encord
    if encord is None or batch.submission is None:
        return False
    submissions = ctx.backends.submissions
    now = ctx.clock()
    if not submissions.begin_submission(batch, now, ctx.settings.lease_seconds):
        return False
    attempts = (batch.submission.attempts if batch.submission else 0) + 1
    where = batch.manifest_url
    try:
        payload = manifest if manifest is not None else manifest_json(ctx, batch)
        job_id = encord.start(payload, job_file_name(batch))
    except EncordRateLimitedError as error:
        _retry(ctx, batch, attempts, str(error), error.retry_after_seconds)
        return False
    except EncordUnavailableError as error:
        # If Encord may have accepted the job, resubmitting is still right: the second job
        # registers nothing new (skip_duplicate_urls).
        _retry(ctx, batch, attempts, str(error), None)
        return False
    except (EncordRefusedError, ManifestValidationError) as error:
        submissions.record_refused(batch, str(error))
        logs.error("encord submission failed", manifest=where, reason=str(error), retry_at=None)
        return False
    except Exception as error:  # an SDK surprise must not fail the storage event either
        _retry(ctx, batch, attempts, repr(error), None)
        return False
    submissions.record_submitted(batch, job_id, ctx.clock())
    logs.info("encord job started", manifest=where, job_id=job_id, attempt=attempts)
    return True


def _retry(
    ctx: Context, batch: BatchRecord, attempts: int, problem: str, retry_after: float | None
) -> None:
    retry_at = ctx.clock() + retry_delay(attempts, retry_after)
    ctx.backends.submissions.record_retry(batch, retry_at, problem)
    logs.warning(
        "encord submission failed",
        manifest=batch.manifest_url,
        reason=problem,
        retry_at=retry_at,
        attempt=attempts,
    )


def follow(ctx: Context, batch: BatchRecord) -> EncordJobResult | None:
    """Poll a submitted job once (a short poll, never the SDK's 7-day default) and record
    what it says; at its end, every file Encord refused becomes a rejection."""
    encord = ctx.backends.encord
    submission = batch.submission
    if encord is None or submission is None or submission.job_id is None:
        return None
    try:
        result = encord.poll(submission.job_id)
    except (EncordUnavailableError, EncordRateLimitedError) as error:
        logs.warning("encord poll failed", job_id=submission.job_id, problem=str(error))
        return None
    except EncordRefusedError as error:
        ctx.backends.submissions.record_refused(batch, str(error))
        logs.error(
            "encord submission failed",
            manifest=batch.manifest_url,
            reason=str(error),
            retry_at=None,
        )
        return None
    if result.finished:
        # Before the end is recorded: a finished job is never polled again, so an instance
        # that died in between would lose the rejections (recording them twice is harmless).
        _reject_refused_files(ctx, batch, result)
    ctx.backends.submissions.record_job(batch, result, ctx.clock())
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


def submit_or_follow(ctx: Context, batch: BatchRecord) -> str | None:
    """The sweep's step for one unfinished submission; what it did, for the report."""
    submission = batch.submission
    if submission is None:
        return None
    if submission.state is SubmissionState.SUBMITTED:
        result = follow(ctx, batch)
        return None if result is None else f"polled: {result.status}"
    if submit(ctx, batch):
        return "submitted"
    return None


def with_submission(batch: BatchRecord, state: SubmissionState) -> BatchRecord:
    """The batch as it stands once its manifest is written with a target configured."""
    return replace(batch, submission=Submission(state=state))
