"""python -m registration: status | flush | backfill | reconcile | trace | jobs | resubmit.

Output discipline (registration/cli/output.py): a command's result goes to stdout, the JSON
log lines to stderr or --log-file. gs:// arguments are parsed by registration/cli/arguments.py.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import PurePosixPath

import click
from rich.progress import TaskProgressColumn, TextColumn
from rich.table import Table

from registration.cli.arguments import parse_gs_url
from registration.cli.output import (
    CliState,
    Io,
    json_out,
    progress_bar,
    routed_logs,
    streams,
)
from registration.domain.model import BatchRecord, ManifestKey
from registration.domain.submission import SubmissionState
from registration.exceptions import ConfigurationError
from registration.services.backfill import (
    BACKFILL_CHUNK,
    BackfillReport,
    BackfillStoppedError,
)
from registration.services.backfill import (
    backfill as run_backfill,
)
from registration.services.flush import find_buffers, force_flush
from registration.services.ports import Context
from registration.services.reconcile import ReconcileReport
from registration.services.reconcile import reconcile as run_reconcile
from registration.services.status import StatusView, submission_dict
from registration.services.status import status as status_view
from registration.services.submit import submit
from registration.services.trace import trace as run_trace
from registration.web.status_page import (
    ATTENTION_LABELS,
    STATES,
    TYPES,
    Filters,
    relative_age,
    select_rows,
    type_label,
)

# Exit status of an interrupted command, as a shell reports Ctrl-C.
EXIT_INTERRUPTED = 130
# reconcile without --repair found something to repair (for cron and CI checks).
EXIT_DISCREPANCIES = 1

# Kept importable from here (tests and scripts use these names).
__all__ = ["cli", "main", "parse_gs_url"]


def _context() -> Context:
    # Imported here: the adapters (and their Google clients) load only when a command runs.
    from registration.bootstrap import build_context
    from registration.config import load_settings

    try:
        return build_context(load_settings())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def _now() -> datetime:
    return datetime.now(UTC)


def _counts(counts: dict[str, int] | None) -> str:
    if not counts:
        return "—"
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))


@click.group()
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Append every JSON log line here instead of stderr.",
)
@click.pass_context
def cli(ctx: click.Context, log_file: str | None) -> None:
    """Ops commands for the Encord registration function (Firestore + Cloud Storage).

    Uses the same REGISTRATION_* settings and Google credentials as the function
    (FIRESTORE_EMULATOR_HOST and STORAGE_EMULATOR_HOST point it at emulators).
    """
    ctx.obj = CliState(log_file)


# -- status ---------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status function's JSON.")
@click.option("--rejected", default=20, show_default=True, help="Recent rejections to list.")
@click.option("--prefix", default="", help="Only folders under this prefix (on this page).")
@click.option("--type", "kind", type=click.Choice(TYPES), default=None, help="Only this type.")
@click.option(
    "--state", "state_filter", type=click.Choice(STATES), default=None, help="Only this state."
)
@click.option("--all", "everything", is_flag=True, help="List idle buffers too.")
@click.option("--cursor", default=None, help="Start after this buffer id (the 'next page').")
@click.pass_obj
def status(
    state: CliState,
    as_json: bool,
    rejected: int,
    prefix: str,
    kind: str | None,
    state_filter: str | None,
    everything: bool,
    cursor: str | None,
) -> None:
    """What needs attention, then one row per buffer, then totals and recent rejections.

    The same read model as the status page, with the same filters.
    """
    io_ = streams()
    filters = Filters.from_query(
        {
            "prefix": prefix,
            "type": kind or "",
            "state": state_filter or "",
            "all": "1" if everything else "",
            "cursor": cursor or "",
        }
    )
    with routed_logs(state, io_.err):
        view = status_view(
            _context(),
            recent_rejections=rejected,
            cursor=filters.cursor,
            everything=filters.include_idle,
        )
    if as_json:
        json_out(io_, view.as_dict())
        return
    _print_status(io_, view, filters)


def _print_status(io_: Io, view: StatusView, filters: Filters) -> None:
    now = view.generated_at
    out = io_.out
    out.print("[bold]Needs attention[/]")
    if not view.attention:
        out.print("  Nothing is stuck, invalid or overdue, and no Encord submission failed.")
    for item in view.attention:
        where = "" if item.buffer is None else f" {item.buffer.label}"
        since = "" if item.since is None else f" (since {relative_age(item.since, now)})"
        out.print(
            f"  {ATTENTION_LABELS.get(item.kind, item.kind.value)}{where}: {item.detail}{since}",
            markup=False,
        )
        if item.manifest:
            out.print(f"    {item.manifest}", markup=False)
    out.print(f"  Rejected objects by reason: {_counts(view.totals.rejected_by_reason)}")
    if view.totals.malformed_events_by_day:
        out.print(f"  Malformed events by day: {_counts(view.totals.malformed_events_by_day)}")
    if view.totals.submissions_by_state:
        out.print(f"  Encord submissions: {_counts(view.totals.submissions_by_state)}")
    if view.totals.links_by_state:
        out.print(f"  Dataset links not done: {_counts(view.totals.links_by_state)}")
    rows = select_rows(view.buffers, filters)
    table = Table(title="Buffers", title_justify="left")
    for column in (
        "State",
        "Bucket",
        "Folder",
        "Type",
        "Pending",
        "Oldest pending",
        "Last flush",
        "Last manifest",
        "Batches",
        "Registered",
        "Rejected in folder",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.state.value,
            row.buffer.bucket,
            row.buffer.folder or "(root)",
            type_label(row.buffer),
            f"{row.pending} / {row.batch_size}",
            relative_age(row.oldest_pending_at, now),
            relative_age(row.last_flush_at, now),
            row.last_manifest_path or "—",
            str(row.batches_written),
            str(row.objects_registered),
            _counts(row.rejected_by_reason),
        )
    out.print(table if rows else "No buffers to show.")
    totals = view.totals
    hidden = max(0, totals.buffers - totals.buffers_shown)
    line = (
        f"{len(rows)} of {totals.buffers_shown} rows shown, {totals.pending_shown} objects "
        f"pending; {totals.buffers} buffers in all"
    )
    if hidden:
        line += f", {hidden} more not shown" + ("" if filters.include_idle else " (--all)")
    out.print(line + ".")
    if view.next_cursor:
        out.print(f"Next page: --cursor {view.next_cursor}")
    if view.rejected:
        recent = Table(title="Recently rejected", title_justify="left")
        for column in ("Name", "Reason", "When"):
            recent.add_column(column, overflow="fold")
        for record in view.rejected:
            recent.add_row(record.name, record.reason, relative_age(record.recorded_at, now))
        out.print(recent)


# -- flush ----------------------------------------------------------------------------------


@cli.command()
@click.argument("folder")
@click.argument("key", type=click.Choice([key.value for key in ManifestKey]))
@click.option("--bucket", default=None, help="Only the buffer of this source bucket.")
@click.option(
    "--sequence/--group",
    "sequence",
    default=None,
    help="For image_groups: only the image-sequence (or only the image-group) buffer.",
)
@click.pass_obj
def flush(
    state: CliState, folder: str, key: str, bucket: str | None, sequence: bool | None
) -> None:
    """Write the pending objects of FOLDER's KEY buffer now, full or not.

    FOLDER is the object's parent path ('site-a/cam 1'); '/' is the bucket's root.
    A group buffer flushed this way seals the groups it holds as they are.
    """
    io_ = streams()
    folder = folder.strip("/")
    with routed_logs(state, io_.err):
        ctx = _context()
        buffers = find_buffers(ctx, folder, ManifestKey(key), bucket=bucket, sequence=sequence)
        if not buffers:
            raise click.ClickException(
                f"no {key} buffer for folder {folder or '(root)'!r}; "
                "`python -m registration status` lists the buffers"
            )
        for buffer in buffers:
            report = force_flush(ctx, buffer)
            written = report.manifests + report.completed
            io_.out.print(
                f"{buffer.label}: "
                + (f"{len(written)} manifest(s) written" if written else "nothing pending")
            )
            for path in written:
                io_.out.print(f"  gs://{ctx.settings.manifest_bucket_for(buffer.bucket)}/{path}")


# -- backfill -------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and list from the start.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.option("--chunk-size", default=BACKFILL_CHUNK, hidden=True, type=int)
@click.option("--stop-after", default=None, hidden=True, type=int)
@click.pass_obj
def backfill(
    state: CliState,
    url: str,
    restart: bool,
    as_json: bool,
    chunk_size: int,
    stop_after: int | None,
) -> None:
    """Register the objects that already exist under gs://BUCKET/PREFIX.

    Objects go through the same classification, buffers and idempotency as events, with
    one Firestore commit per 500 objects. Interrupt it at any time (Ctrl-C) and run the
    same command again: it resumes after the last committed chunk, and nothing is
    registered twice. Partial batches are written by the sweep after the max age.
    """
    bucket, prefix = parse_gs_url(url, need_name=False)
    if not 1 <= chunk_size <= BACKFILL_CHUNK:
        raise click.BadParameter(f"must be 1..{BACKFILL_CHUNK}", param_hint="chunk")
    io_ = streams()
    progress = progress_bar(
        "backfill",
        io_.err,
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} objects"),
        TextColumn("{task.fields[rate]:,.0f} objects/s"),
    )
    task = progress.add_task(url, total=None, rate=0.0)

    def show(report: BackfillReport) -> None:
        progress.update(task, completed=report.listed, rate=report.rate)

    with routed_logs(state, io_.err), progress:
        ctx = _context()
        try:
            report = run_backfill(
                ctx,
                bucket,
                prefix,
                chunk_size=chunk_size,
                restart=restart,
                stop_after=stop_after,
                on_progress=show,
            )
        except (KeyboardInterrupt, BackfillStoppedError) as stop:
            progress.stop()
            done = stop.report.listed if isinstance(stop, BackfillStoppedError) else None
            io_.err.print(
                "Interrupted"
                + (f" after {done} objects" if done is not None else "")
                + ". Run the same command again to resume; nothing will be registered twice."
            )
            sys.exit(EXIT_INTERRUPTED)
    if as_json:
        json_out(io_, report.as_dict())
        return
    rejected = sum(report.rejected.values())
    io_.out.print(
        f"Backfill of {url}: {report.listed:,} objects in {report.elapsed_seconds:.1f} s "
        f"= {report.rate:,.0f} objects/s"
        + (f" (resumed after {report.resumed_after!r})" if report.resumed_after else "")
    )
    io_.out.print(
        f"  buffered {report.buffered:,}, already known {report.already_known:,}, "
        f"rejected {rejected:,} ({_counts(dict(report.rejected))}), ignored {report.ignored:,}"
    )
    io_.out.print(
        f"  {len(report.manifests)} full manifest(s) written; the rest is written by the "
        f"sweep once it is {ctx.settings.max_age_seconds} s old"
    )


# -- reconcile ------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--repair", is_flag=True, help="Register the missed objects, replay missed deletes.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--show", default=20, show_default=True, help="Names to list per finding.")
@click.pass_obj
def reconcile(state: CliState, url: str, repair: bool, as_json: bool, show: int) -> None:
    """Compare gs://BUCKET/PREFIX with Firestore: missed events, both ways.

    Reports live objects that were never registered (a missed finalize) and registered or
    pending objects that no longer exist (a missed delete). --repair registers the missed
    ones through the backfill path and withdraws pending objects that are gone. Exits 1 when
    it found something to repair and --repair was not given.
    """
    bucket, prefix = parse_gs_url(url, need_name=False)
    io_ = streams()
    progress = progress_bar(
        "reconcile", io_.err, TextColumn("{task.completed:,.0f} objects checked")
    )
    task = progress.add_task(url, total=None)
    with routed_logs(state, io_.err), progress:
        report = run_reconcile(
            _context(),
            bucket,
            prefix,
            repair=repair,
            on_progress=lambda listed: progress.update(task, completed=listed),
        )
    if as_json:
        json_out(io_, report.as_dict())
    else:
        _print_reconcile(io_, url, report, show)
    if not repair and (report.missed or report.pending_gone):
        sys.exit(EXIT_DISCREPANCIES)


def _print_reconcile(io_: Io, url: str, report: ReconcileReport, show: int) -> None:
    io_.out.print(
        f"Reconcile of {url}: {report.listed:,} objects listed, {report.in_order:,} in order"
    )
    sections: list[tuple[str, list[str]]] = [
        (
            "never registered (missed events)",
            [f"{item.obj.name}  [{item.outcome}]" for item in report.missed],
        ),
        (
            "pending but no longer in the bucket (missed deletes)",
            [record.obj.name for record in report.pending_gone],
        ),
        (
            "in a manifest but no longer in the bucket",
            [record.obj.name for record in report.registered_gone],
        ),
    ]
    for title, names in sections:
        io_.out.print(f"  {len(names):,} {title}")
        for name in names[:show]:
            io_.out.print(f"    {name}", markup=False)
        if len(names) > show:
            io_.out.print(f"    … and {len(names) - show:,} more (--json lists all)")
    if report.repair is not None:
        io_.out.print(
            f"  repaired: {report.repair.buffered:,} registered, "
            f"{sum(report.repair.rejected.values()):,} rejections recorded, "
            f"{report.withdrawn:,} withdrawn, {len(report.repair.manifests)} manifest(s) written"
        )


# -- trace ----------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_obj
def trace(state: CliState, url: str, as_json: bool) -> None:
    """Show the fate of one object: gs://BUCKET/NAME (or its Encord objectUrl).

    The name after gs://BUCKET/ is taken literally, spaces and '%' included.
    """
    bucket, name = parse_gs_url(url, need_name=True)
    io_ = streams()
    with routed_logs(state, io_.err):
        result = run_trace(_context(), bucket, name)
    if as_json:
        json_out(io_, result.as_dict())
        return
    now = _now()
    out = io_.out
    out.print(f"gs://{bucket}/{name}", markup=False, style="bold")
    out.print(f"Fate: {result.fate}", markup=False)
    if result.live is None:
        out.print("Object: not in the bucket", markup=False)
    else:
        live = result.live
        out.print(
            f"Object: generation {live.generation}, {live.size} bytes, "
            f"content type {live.content_type or 'unknown'}",
            markup=False,
        )
    out.print(f"Classification: {result.classification}", markup=False)
    for item in result.records:
        record = item.record
        line = (
            f"Record: {record.buffer.label} generation "
            f"{record.obj.generation} {record.state}, buffered "
            f"{relative_age(record.created_at, now)} by {record.source or 'event'}"
        )
        if item.batch is not None:
            line += (
                f"; batch {item.batch.seq} {item.batch.state}, manifest "
                f"gs://{item.batch.manifest_bucket}/{item.batch.manifest_path}"
                + (" (missing!)" if item.manifest_exists is False else "")
            )
        out.print(line, markup=False)
    for rejection in result.rejections:
        out.print(
            f"Rejected: generation {rejection.generation} {rejection.reason} "
            f"{relative_age(rejection.recorded_at, now)}: {rejection.detail}",
            markup=False,
        )


# -- Encord submissions ----------------------------------------------------------------------

JOBS_LIMIT = 500


@cli.command()
@click.option("--failed", is_flag=True, help="List refused submissions and jobs in ERROR instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the batches as JSON.")
@click.option("--limit", default=JOBS_LIMIT, show_default=True, help="At most this many.")
@click.pass_obj
def jobs(state: CliState, failed: bool, as_json: bool, limit: int) -> None:
    """Batches whose Encord submission is not finished (pending, submitting, submitted).

    With --failed: those Encord refused, or whose job ended in ERROR, for a person to look
    at; `resubmit` hands one to Encord again.
    """
    io_ = streams()
    with routed_logs(state, io_.err):
        ctx = _context()
        _require_target(ctx)
        submissions = ctx.backends.submissions
        batches = (
            submissions.failed_submissions(limit) if failed else submissions.submissions_due(limit)
        )
    batches.sort(key=lambda batch: (batch.manifest_bucket, batch.manifest_path))
    if as_json:
        json_out(
            io_,
            [
                {"manifest": _manifest_url(batch), "buffer": batch.buffer.label}
                | (submission_dict(batch) or {})
                for batch in batches
            ],
        )
        return
    now = _now()
    out = io_.out
    if not batches:
        out.print(
            "No refused submissions and no jobs in ERROR."
            if failed
            else "Every written manifest's Encord job has finished."
        )
        return
    table = Table(
        title="Encord submissions " + ("failed" if failed else "not finished"),
        title_justify="left",
    )
    for column in ("Manifest", "State", "Job", "Attempts", "Next attempt", "Problem"):
        table.add_column(column, overflow="fold")
    for batch in batches:
        submission = batch.submission
        assert submission is not None
        next_attempt = "—"
        if submission.state is SubmissionState.PENDING and submission.next_attempt_at:
            next_attempt = (
                "due now"
                if submission.next_attempt_at <= now
                else f"in {int((submission.next_attempt_at - now).total_seconds())} s"
            )
        table.add_row(
            _manifest_url(batch),
            submission.state.value,
            submission.job_id or "—",
            str(submission.attempts),
            next_attempt,
            submission.problem or "—",
        )
    out.print(table)
    out.print(f"{len(batches)} batch(es).")


@cli.command()
@click.argument("url")
@click.pass_obj
def resubmit(state: CliState, url: str) -> None:
    """Hand one written manifest to Encord again, now: gs://BUCKET/PATH-OF-MANIFEST.

    Whatever its submission's state (refused, ERROR, DONE, or stuck): its job id is
    forgotten and a new job is started. The manifest's skip_duplicate_urls keeps files
    Encord already registered from being registered twice.
    """
    bucket, path = parse_gs_url(url, need_name=True)
    io_ = streams()
    with routed_logs(state, io_.err):
        ctx = _context()
        _require_target(ctx)
        batch = _batch_of_manifest(ctx, bucket, path)
        if batch is None:
            raise click.ClickException(
                f"no written batch has the manifest gs://{bucket}/{path}; "
                "`python -m registration jobs` lists manifests with their submission"
            )
        if not ctx.backends.submissions.resubmit(batch, ctx.clock()):
            raise click.ClickException(f"gs://{bucket}/{path} is not a written manifest")
        again = ctx.backends.batches.get(batch.buffer, batch.seq)
        submitted = again is not None and submit(ctx, again)
        after = ctx.backends.batches.get(batch.buffer, batch.seq)
    submission = None if after is None else after.submission
    if submitted and submission is not None:
        io_.out.print(f"gs://{bucket}/{path}: submitted, Encord job {submission.job_id}")
        return
    problem = "" if submission is None or not submission.problem else f": {submission.problem}"
    state_text = "unknown" if submission is None else submission.state.value
    io_.out.print(
        f"gs://{bucket}/{path}: marked for submission, not submitted now "
        f"({state_text}{problem}); the sweep retries it",
        markup=False,
    )
    if submission is not None and submission.state is SubmissionState.FAILED:
        raise click.exceptions.Exit(1)


def _require_target(ctx: Context) -> None:
    if ctx.backends.encord is None:
        raise click.ClickException(
            "no Encord target is configured: set REGISTRATION_ENCORD_FOLDER (or "
            "REGISTRATION_ENCORD_DATASET) and REGISTRATION_ENCORD_INTEGRATION, and ENCORD_SSH_KEY"
        )


def _manifest_url(batch: BatchRecord) -> str:
    return f"gs://{batch.manifest_bucket}/{batch.manifest_path}"


def _batch_of_manifest(ctx: Context, bucket: str, path: str) -> BatchRecord | None:
    """The batch that wrote gs://bucket/path. A manifest is named
    {prefix}{folder}/{key}/{seq:06d}-{claim time}-{buffer tag}.{ext}: the key, the number and
    the first 8 characters of the buffer's id are in the name, so one read of the buffer
    catalogue and one batch read find it."""
    name = PurePosixPath(path)
    seq_text, _, rest = name.stem.partition("-")
    tag = rest.rpartition("-")[2]
    try:
        key = ManifestKey(name.parent.name)
        seq = int(seq_text)
    except ValueError:
        return None
    for summary in ctx.backends.buffers.all():
        buffer = summary.buffer
        if buffer.key is not key or not buffer.ident.startswith(tag):
            continue
        batch = ctx.backends.batches.get(buffer, seq)
        if batch is not None and (batch.manifest_bucket, batch.manifest_path) == (bucket, path):
            return batch
    return None


def main() -> None:
    cli(prog_name="python -m registration")


from registration.cli.migrate import migrate  # noqa: E402 (one module per command)

cli.add_command(migrate)
