"""`python -m registration ...`: the ops CLI (registration/cli.py)."""

from registration.cli.commands import main

main()
