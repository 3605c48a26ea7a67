"""`jobs [--failed]`: the batches whose Encord submission is unfinished, or needs a person.

It reads the batches only, like the status function: no Encord setting or key is needed.
"""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from registration.cli.app import cli, context
from registration.cli.output import CliState, json_out, routed_logs, streams
from registration.clock import utc_now
from registration.domain.model import BatchRecord
from registration.domain.submission import SubmissionState
from registration.presenters import wire
from registration.services.jobs import JOBS_LIMIT
from registration.services.jobs import jobs as list_jobs

COLUMNS = ("Manifest", "State", "Job", "Attempts", "Next attempt", "Problem")


@cli.command()
@click.option(
    "--failed", is_flag=True, help="List refused submissions and ended jobs (ERROR, cancelled)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the batches as JSON.")
@click.option("--limit", default=JOBS_LIMIT, show_default=True, help="At most this many.")
@click.pass_obj
def jobs(state: CliState, failed: bool, as_json: bool, limit: int) -> None:
    """Batches whose Encord submission is not finished (pending, submitting, submitted).

    With --failed: those Encord refused, or whose job ended in ERROR or was cancelled, for
    a person to look at; `resubmit` hands one to Encord again.
    """
    io_ = streams()
    with routed_logs(state, io_.err):
        batches = list_jobs(context(), failed=failed, limit=limit)
    if as_json:
        json_out(io_, wire.jobs_json(batches))
        return
    out = io_.out
    if not batches:
        out.print(
            "No refused submissions and no jobs in ERROR or cancelled."
            if failed
            else "Every written manifest's Encord job has finished."
        )
        return
    now = utc_now()
    table = Table(
        title="Encord submissions " + ("failed" if failed else "not finished"),
        title_justify="left",
    )
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for batch in batches:
        table.add_row(*row(batch, now))
    out.print(table)
    out.print(f"{len(batches)} batch(es).")


def row(batch: BatchRecord, now: datetime) -> tuple[str, ...]:
    submission = batch.submission
    assert submission is not None  # both listings select batches with a submission
    next_attempt = "—"
    if submission.state is SubmissionState.PENDING and submission.next_attempt_at:
        next_attempt = (
            "due now"
            if submission.next_attempt_at <= now
            else f"in {int((submission.next_attempt_at - now).total_seconds())} s"
        )
    return (
        batch.manifest_url,
        submission.state.value,
        submission.job_id or "—",
        str(submission.attempts),
        next_attempt,
        submission.problem or "—",
    )
