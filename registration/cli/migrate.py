"""python -m registration migrate: move data of the layout before the redesign into today's
(docs/upgrade.md). Parse, call services/migrate.py, print."""

from __future__ import annotations

import sys

import click
from rich.progress import MofNCompleteColumn, TextColumn

from registration.cli.output import CliState, json_out, progress_bar, routed_logs, streams
from registration.exceptions import ConfigurationError
from registration.services.migrate import MigrationReport
from registration.services.migrate import migrate as run_migrate

# Exit status of an interrupted command, as a shell reports Ctrl-C.
EXIT_INTERRUPTED = 130


@click.command()
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and start from the top.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.option("--stop-after", default=None, hidden=True, type=int)
@click.pass_obj
def migrate(state: CliState, restart: bool, as_json: bool, stop_after: int | None) -> None:
    """Move data written before the redesign into today's layout.

    Object records move from buffers/*/objects to objects/, and batch documents gain
    their buffer's identity. Safe beside the running function, idempotent, and resumable:
    interrupt it (Ctrl-C) and run it again to carry on after the last buffer it finished.
    """
    from registration.bootstrap import build_context, build_legacy_layout
    from registration.config import load_settings

    io_ = streams()
    progress = progress_bar("migrate", io_.err, MofNCompleteColumn(), TextColumn("buffers"))
    with routed_logs(state, io_.err), progress:
        try:
            ctx = build_context(load_settings())
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from error
        legacy = build_legacy_layout()
        task = progress.add_task("layout", total=legacy.count_buffers())

        def show(report: MigrationReport) -> None:
            progress.update(task, completed=report.buffers)

        try:
            report = run_migrate(
                legacy,
                ctx.backends.checkpoints,
                ctx.clock,
                restart=restart,
                stop_after=stop_after,
                on_buffer=show,
            )
        except KeyboardInterrupt:
            progress.stop()
            io_.err.print("Interrupted. Run the same command again to carry on.")
            sys.exit(EXIT_INTERRUPTED)
    if as_json:
        json_out(io_, report.as_dict())
        return
    io_.out.print(
        f"Migrated {report.buffers:,} buffer(s)"
        + (f" (resumed after {report.resumed_after})" if report.resumed_after else "")
        + f": {report.records_moved:,} record(s) moved, {report.records_superseded:,} "
        f"superseded by newer ones, {report.batches_upgraded:,} batch document(s) upgraded"
    )
    if report.unreadable:
        io_.out.print(f"  {len(report.unreadable)} document(s) left as they are (unreadable):")
        for path in report.unreadable:
            io_.out.print(f"    {path}")
    if not report.finished:
        io_.out.print("  Stopped early: run the same command again to carry on.")
