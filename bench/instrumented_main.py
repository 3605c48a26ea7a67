"""main.py's entry points and the floor's, with Firestore operations counted (bench only).

`functions-framework --source=bench/instrumented_main.py --target=on_storage_event` (or
`sweep`, or `floor_event`) serves the real handler unchanged; bench/firestore_ops.py has
already put a counting interceptor on the Firestore client's gRPC channel. After every
request the process writes its running totals to $BENCH_OPS_FILE (atomically), which the
bench reads once the load is over. Each server process writes its own file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # functions-framework only adds bench/ itself
    sys.path.insert(0, str(ROOT))

import flask  # noqa: E402
import functions_framework  # noqa: E402
from cloudevents.http import CloudEvent  # noqa: E402
from flask.typing import ResponseReturnValue  # noqa: E402

from bench import firestore_ops  # noqa: E402

firestore_ops.install()

import main  # noqa: E402
from bench import floor_main  # noqa: E402

OPS_FILE = os.environ["BENCH_OPS_FILE"]


def _dump() -> None:
    firestore_ops.COUNTER.dump(OPS_FILE)


@functions_framework.cloud_event
def on_storage_event(event: CloudEvent) -> None:
    try:
        main.on_storage_event(event)
    finally:
        _dump()


@functions_framework.http
def sweep(request: flask.Request) -> ResponseReturnValue:
    try:
        return main.sweep(request)
    finally:
        _dump()


@functions_framework.cloud_event
def floor_event(event: CloudEvent) -> None:
    try:
        floor_main.floor_event(event)
    finally:
        _dump()
