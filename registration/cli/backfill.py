"""`backfill gs://BUCKET/PREFIX`: register the objects that already exist (resumable)."""

from __future__ import annotations

import sys

import click
from rich.progress import TaskProgressColumn, TextColumn

from registration.cli.app import EXIT_INTERRUPTED, cli, context
from registration.cli.arguments import parse_gs_url
from registration.cli.output import CliState, json_out, progress_bar, routed_logs, streams
from registration.presenters.display import counts_text
from registration.services.backfill import (
    BACKFILL_CHUNK,
    BackfillReport,
    BackfillStoppedError,
)
from registration.services.backfill import backfill as run_backfill


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
        ctx = context()
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
        f"rejected {rejected:,} ({counts_text(dict(report.rejected))}), ignored {report.ignored:,}"
    )
    io_.out.print(
        f"  {len(report.manifests)} full manifest(s) written; the rest is written by the "
        f"sweep once it is {ctx.settings.max_age_seconds} s old"
    )
