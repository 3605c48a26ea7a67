"""`reconcile gs://BUCKET/PREFIX [--repair]`: compare the bucket with the records."""

from __future__ import annotations

import sys

import click
from rich.progress import TextColumn

from registration.cli.app import EXIT_DISCREPANCIES, cli, context
from registration.cli.arguments import parse_gs_url
from registration.cli.output import CliState, Io, json_out, progress_bar, routed_logs, streams
from registration.services.reconcile import ReconcileReport
from registration.services.reconcile import reconcile as run_reconcile


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
            context(),
            bucket,
            prefix,
            repair=repair,
            on_progress=lambda listed: progress.update(task, completed=listed),
        )
    if as_json:
        json_out(io_, report.as_dict())
    else:
        print_reconcile(io_, url, report, show)
    if not repair and (report.missed or report.pending_gone):
        sys.exit(EXIT_DISCREPANCIES)


def print_reconcile(io_: Io, url: str, report: ReconcileReport, show: int) -> None:
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
