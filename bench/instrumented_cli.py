"""`python -m registration ...` with Firestore operations counted (bench only).

    BENCH_OPS_FILE=ops.json python -m bench.instrumented_cli backfill gs://BUCKET/PREFIX

Same CLI, same code; bench/firestore_ops.py counts the billed operations on the way, and
the totals are written to $BENCH_OPS_FILE when the command exits (however it exits).
"""

from __future__ import annotations

import atexit
import os

from bench import firestore_ops


def main() -> None:
    firestore_ops.install()
    atexit.register(firestore_ops.COUNTER.dump, os.environ["BENCH_OPS_FILE"])
    from registration.cli.commands import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
