"""The `python -m registration` command group, and what every command shares: the context
built from the settings, the Encord-target check and the exit codes.

Output discipline (registration/cli/output.py): a command's result goes to stdout, the JSON
log lines to stderr or --log-file. gs:// arguments are parsed by registration/cli/arguments.py.
"""

from __future__ import annotations

import click

from registration.cli.output import CliState
from registration.config import Settings
from registration.exceptions import ConfigurationError
from registration.services.ports import Context

# Exit status of an interrupted command, as a shell reports Ctrl-C.
EXIT_INTERRUPTED = 130
# reconcile without --repair found something to repair (for cron and CI checks).
EXIT_DISCREPANCIES = 1


def context() -> Context:
    # Imported here: the adapters (and their Google clients) load only when a command runs.
    from registration.bootstrap import build_context
    from registration.config import load_settings

    try:
        return build_context(load_settings())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def require_target(settings: Settings) -> None:
    """Stop a command that must talk to Encord when no target is set (a setting, never the
    presence of a gateway)."""
    if not settings.submits_to_encord:
        raise click.ClickException(
            "no Encord target is configured: set REGISTRATION_ENCORD_FOLDER (or "
            "REGISTRATION_ENCORD_DATASET) and REGISTRATION_ENCORD_INTEGRATION, and ENCORD_SSH_KEY"
        )


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
