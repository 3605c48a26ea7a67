"""`status`: what needs attention, then one row per buffer, then totals and rejections."""

from __future__ import annotations

import click
from rich.table import Table

from registration.cli.app import cli, context
from registration.cli.output import CliState, Io, json_out, routed_logs, streams
from registration.presenters import wire
from registration.presenters.display import (
    ATTENTION_LABELS,
    STATES,
    TYPES,
    Filters,
    clean_prefix,
    counts_text,
    relative_age,
    select_rows,
    type_label,
)
from registration.services.status import StatusView
from registration.services.status import status as status_view

COLUMNS = (
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
)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status function's JSON.")
@click.option("--rejected", default=20, show_default=True, help="Recent rejections to list.")
@click.option("--prefix", default="", help="Only folders under this prefix.")
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
    filters = Filters(
        prefix=clean_prefix(prefix),
        type=kind or "",
        state=state_filter or "",
        cursor=cursor or None,
        everything=everything,
    )
    with routed_logs(state, io_.err):
        view = status_view(
            context(),
            recent_rejections=rejected,
            cursor=filters.cursor,
            everything=filters.everything,
            query=filters.buffer_query(),
            state=filters.buffer_state(),
        )
    if as_json:
        json_out(io_, wire.status_json(view))
        return
    print_status(io_, view, filters)


def print_status(io_: Io, view: StatusView, filters: Filters) -> None:
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
    out.print(f"  Rejected objects by reason: {counts_text(view.totals.rejected_by_reason)}")
    if view.totals.malformed_events_by_day:
        out.print(f"  Malformed events by day: {counts_text(view.totals.malformed_events_by_day)}")
    if view.totals.submissions_by_state:
        out.print(f"  Encord submissions: {counts_text(view.totals.submissions_by_state)}")
    if view.totals.links_by_state:
        out.print(f"  Dataset links not done: {counts_text(view.totals.links_by_state)}")
    rows = select_rows(view.buffers, filters)
    table = Table(title="Buffers", title_justify="left")
    for column in COLUMNS:
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
            row.last_manifest_url or "—",
            str(row.batches_written),
            str(row.objects_registered),
            counts_text(row.rejected_by_reason),
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
            recent.add_row(record.name, record.reason.value, relative_age(record.recorded_at, now))
        out.print(recent)
