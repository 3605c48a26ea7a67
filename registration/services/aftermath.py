"""What follows an Encord job's end: items recorded, the job announced, datasets linked.

At the end of a job, before its end is recorded (services/submit.follow), the job's items are
matched to the manifest's units (domain/encord_items.match_items, never guessed), each
registered object's record gains its item and job, each refused one is marked refused (so a
newer generation may come back), and one message is published. All of it is written again,
harmlessly, if an instance dies before the end is recorded: the next sweep polls the job once
more and repeats it (at least once; consumers de-duplicate by job_id). What it found rides on
the write that records the end (`Aftermath`): matched and unmatched counts, the items to link,
when the message was accepted, and one pending link per configured dataset.

Links then follow, in the same run and in later sweeps until each is done or refused
(domain/links.py decides every transition; the submission backoff spaces retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from registration import logs
from registration.domain.batch_lifecycle import Aftermath, Next
from registration.domain.encord_items import EncordItem, ExpectedUnit, ObjectOutcome, match_items
from registration.domain.lifecycle import EncordOutcome
from registration.domain.links import Linked, LinkEvent, LinkRefused, LinkRetry, due, new_links
from registration.domain.model import BatchRecord, StorageObject
from registration.domain.notification import job_finished, registered_urls
from registration.domain.submission import EncordJobResult, retry_delay
from registration.exceptions import (
    BackendUnavailableError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
    ManifestValidationError,
    NotificationRefusedError,
)
from registration.manifest.readback import encord_document
from registration.manifest.urls import parse_object_url
from registration.services.ports import Context, EncordBreaker

# Unmatched units named on the batch (the count is always complete).
UNMATCHED_NAMED = 5


class NotYetError(Exception):
    """A transient failure while gathering what followed the job: its end is not recorded
    now, and the next sweep polls the job again and repeats this (at least once)."""


def job_ended(ctx: Context, batch: BatchRecord, job_id: str, result: EncordJobResult) -> Aftermath:
    """Match, record and announce a finished job. Raises NotYetError on a transient failure."""
    units = _units(ctx, batch)
    refused_urls = {url for error in result.unit_errors for url in error.object_urls}
    expected = [unit for unit in units if not refused_urls.intersection(unit.urls)]
    items = result.items if result.items_listed else _items(ctx, job_id) if expected else ()
    match = match_items(expected, items)
    recorder = ctx.backends.outcomes
    # The members give each URL's generation (N reads): only read when outcomes are written.
    members = (
        {obj.name: obj for obj in ctx.backends.batches.members(batch.buffer, batch.seq)}
        if recorder is not None
        else {}
    )
    outcomes = [
        outcome
        for unit, item in match.matched
        for outcome in _outcomes(members, unit.urls, EncordOutcome.REGISTERED, job_id, item)
    ]
    outcomes += [
        outcome
        for error in result.unit_errors
        for outcome in _outcomes(members, error.object_urls, EncordOutcome.REFUSED, job_id, None)
    ]
    if recorder is not None and outcomes:
        recorder.record_outcomes(outcomes)
    if not match.complete:
        logs.warning(
            "encord items left unmatched",
            manifest=batch.manifest_url,
            job_id=job_id,
            units=len(match.unmatched_units),
            items=len(match.unmatched_items),
        )
    now = ctx.clock()
    notified_at, notify_problem = None, None
    notifications = ctx.backends.notifications
    if notifications is not None:
        message = job_finished(
            bucket=batch.buffer.bucket,
            folder=batch.buffer.folder,
            key=batch.buffer.key.value,
            manifest_path=batch.manifest_url,
            job_id=job_id,
            result=result,
            registered=registered_urls(match.matched),
            finished_at=now,
        )
        try:
            notifications.publish(message)
            notified_at = now
        except NotificationRefusedError as error:
            # A deleted topic or a missing grant needs a person; it must not hold back the
            # job's end or the links.
            notify_problem = str(error)
            logs.error("job notification refused", manifest=batch.manifest_url, problem=str(error))
        except BackendUnavailableError as error:
            raise NotYetError(f"notification: {error}") from error
    item_uuids = tuple(dict.fromkeys(item.item_uuid for _, item in match.matched))
    links = ctx.settings.encord_datasets if ctx.backends.links is not None and item_uuids else ()
    return Aftermath(
        items_matched=len(match.matched),
        items_unmatched=len(match.unmatched_units),
        unmatched=tuple(unit.title for unit in match.unmatched_units[:UNMATCHED_NAMED]),
        item_uuids=item_uuids,
        notified_at=notified_at,
        notify_problem=notify_problem,
        links=new_links(links, now),
    )


def _units(ctx: Context, batch: BatchRecord) -> list[ExpectedUnit]:
    """The units as the manifest that Encord received lists them (titles and URLs)."""
    data = ctx.backends.manifests.read(batch.manifest_bucket, batch.manifest_path)
    if data is None:
        return []  # nothing to match against: every item stays unmatched, never guessed
    csv = batch.manifest_path.endswith(".csv")
    try:
        document = encord_document(batch.buffer.key, data, "csv" if csv else "json")
    except (ValueError, ManifestValidationError):
        return []
    return expected_units(document.get(batch.buffer.key.value) or [])


def expected_units(entries: Sequence[dict[str, Any]]) -> list[ExpectedUnit]:
    """A manifest's elements as units: a file's one objectUrl, or a group's objectUrl_0..n."""
    units = []
    for entry in entries:
        if "objectUrl" in entry:
            urls: tuple[str, ...] = (entry["objectUrl"],)
        else:
            numbered = sorted(
                (int(field.removeprefix("objectUrl_")), value)
                for field, value in entry.items()
                if field.startswith("objectUrl_")
            )
            urls = tuple(value for _, value in numbered)
        title = entry.get("title") or urls[0].rsplit("/", 1)[-1]
        units.append(ExpectedUnit(str(title), urls))
    return units


def _items(ctx: Context, job_id: str) -> tuple[EncordItem, ...]:
    encord_items = ctx.backends.encord_items
    if encord_items is None:
        return ()
    try:
        return encord_items.job_items(job_id).items
    except (EncordUnavailableError, EncordRateLimitedError) as error:
        raise NotYetError(f"items of job {job_id}: {error}") from error
    except EncordRefusedError as error:
        # The items cannot be read with this key: leave every unit unmatched (never guess).
        logs.error("encord items not readable", job_id=job_id, problem=str(error))
        return ()


def _outcomes(
    members: dict[str, StorageObject],
    urls: Sequence[str],
    outcome: EncordOutcome,
    job_id: str,
    item: EncordItem | None,
) -> list[ObjectOutcome]:
    found = []
    for url in urls:
        try:
            bucket, name = parse_object_url(url)
        except ValueError:
            continue
        member = members.get(name)
        if member is None:
            continue  # expired, or not this batch's: nothing to stamp
        item_uuid = item.item_uuid if item is not None else None
        found.append(ObjectOutcome(bucket, name, member.generation, outcome, job_id, item_uuid))
    return found


# -- dataset links ----------------------------------------------------------------------


def link_due(ctx: Context, batch: BatchRecord) -> list[str]:
    """Link the batch's items to each dataset whose link is due; returns the datasets linked.
    Never raises for Encord's sake: a failure is recorded on the link (retry or refusal)."""
    links_port, submission = ctx.backends.links, batch.submission
    if links_port is None or submission is None:
        return []
    done: list[str] = []
    for link in due(submission.links, ctx.clock()):
        encord = ctx.backends.encord
        if isinstance(encord, EncordBreaker) and encord.deferring:
            break  # Encord failed in this invocation: the next run links
        event: LinkEvent
        try:
            outcome = links_port.link_items(link.dataset, submission.item_uuids)
            event = Linked(link.dataset, link.attempts, len(outcome.linked), len(outcome.skipped))
        except EncordRateLimitedError as error:
            retry_at = ctx.clock() + retry_delay(link.attempts + 1, error.retry_after_seconds)
            event = LinkRetry(link.dataset, link.attempts, retry_at, str(error))
        except EncordUnavailableError as error:
            retry_at = ctx.clock() + retry_delay(link.attempts + 1)
            event = LinkRetry(link.dataset, link.attempts, retry_at, str(error))
        except EncordRefusedError as error:
            event = LinkRefused(link.dataset, link.attempts, str(error))
        decision = ctx.backends.submissions.record_link(batch, event)
        if not isinstance(decision, Next):
            continue  # another run recorded this link first
        if isinstance(event, Linked):
            done.append(link.dataset)
            logs.info(
                "dataset linked",
                manifest=batch.manifest_url,
                dataset=link.dataset,
                linked=event.linked,
                skipped=event.skipped,
            )
        else:
            log = logs.error if isinstance(event, LinkRefused) else logs.warning
            log(
                "dataset link failed",
                manifest=batch.manifest_url,
                dataset=link.dataset,
                problem=event.problem,
            )
    return done
