"""python -m registration: status | flush | backfill | reconcile | trace | jobs | resubmit.

One module per command (registration/cli/<command>.py): each parses its arguments, calls one
use case and prints. Importing them here registers them on the group (registration/cli/app.py).
"""

from __future__ import annotations

from registration.cli import backfill, flush, jobs, reconcile, resubmit, status, trace
from registration.cli.app import cli
from registration.cli.arguments import parse_gs_url

# Kept importable from here (tests and scripts use these names).
__all__ = ["cli", "main", "parse_gs_url"]
COMMANDS = (status, flush, backfill, reconcile, trace, jobs, resubmit)


def main() -> None:
    cli(prog_name="python -m registration")


from registration.cli.migrate import migrate  # noqa: E402 (one module per command)

cli.add_command(migrate)
