"""`resubmit gs://BUCKET/PATH-OF-MANIFEST`: hand one written manifest to Encord again."""

from __future__ import annotations

import click

from registration.cli.app import cli, context, require_target
from registration.cli.arguments import parse_gs_url
from registration.cli.output import CliState, routed_logs, streams
from registration.domain.model import gs_url
from registration.services.jobs import Resubmission
from registration.services.jobs import resubmit as run_resubmit


@cli.command()
@click.argument("url")
@click.pass_obj
def resubmit(state: CliState, url: str) -> None:
    """Hand one written manifest to Encord again, now: gs://BUCKET/PATH-OF-MANIFEST.

    Whatever its submission's state (refused, ERROR, cancelled, DONE, or stuck): its job id
    is forgotten and a new job is started. The manifest's skip_duplicate_urls keeps files
    Encord already registered from being registered twice.
    """
    manifest = gs_url(*parse_gs_url(url, need_name=True))
    io_ = streams()
    with routed_logs(state, io_.err):
        ctx = context()
        require_target(ctx.settings)
        result = run_resubmit(ctx, manifest)
    if result.outcome is Resubmission.NOT_FOUND:
        raise click.ClickException(
            f"no written batch has the manifest {manifest}; "
            "`python -m registration jobs` lists manifests with their submission"
        )
    if result.outcome is Resubmission.NOT_WRITTEN:
        raise click.ClickException(f"{manifest} is not a written manifest")
    if result.outcome is Resubmission.SUBMITTED:
        io_.out.print(f"{manifest}: submitted, Encord job {result.job_id}", markup=False)
        return
    submission = None if result.batch is None else result.batch.submission
    state_text = "unknown" if submission is None else submission.state.value
    problem = f": {result.problem}" if result.problem else ""
    io_.out.print(
        f"{manifest}: marked for submission, not submitted now "
        f"({state_text}{problem}); the sweep retries it",
        markup=False,
    )
    if result.outcome is Resubmission.REFUSED:
        raise click.exceptions.Exit(1)
