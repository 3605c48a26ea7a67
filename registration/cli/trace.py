"""`trace gs://BUCKET/NAME`: one object's fate, from its classification to its manifest."""

from __future__ import annotations

import click

from registration.cli.app import cli, context
from registration.cli.arguments import parse_gs_url
from registration.cli.output import CliState, json_out, routed_logs, streams
from registration.clock import utc_now
from registration.domain.model import gs_url
from registration.presenters import wire
from registration.presenters.display import relative_age
from registration.services.trace import trace as run_trace


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
        result = run_trace(context(), bucket, name)
    if as_json:
        json_out(io_, wire.trace_json(result))
        return
    now = utc_now()
    out = io_.out
    out.print(gs_url(bucket, name), markup=False, style="bold")
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
            f"{record.obj.generation} {record.state.value}, buffered "
            f"{relative_age(record.created_at, now)} by {record.source or 'event'}"
        )
        if item.batch is not None:
            line += (
                f"; batch {item.batch.seq} {item.batch.state}, manifest "
                f"{item.batch.manifest_url}"
                + (" (missing!)" if item.manifest_exists is False else "")
            )
        out.print(line, markup=False)
    for rejection in result.rejections:
        out.print(
            f"Rejected: generation {rejection.generation} {rejection.reason.value} "
            f"{relative_age(rejection.recorded_at, now)}: {rejection.detail}",
            markup=False,
        )
