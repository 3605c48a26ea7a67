"""What follows an Encord job (issue 20), measured: Firestore operations and SDK calls per
batch for each new step, the idle sweep's cost, and how long a sweep that records a job's end
takes (the deployed latency is at most the schedule's minute plus that).

    .venv/bin/python -m bench.after_registration [--items 100]

Against the emulators (started here) and the local Encord stub, with the real SDK. Firestore
operations are counted as they cross the wire (bench/firestore_ops.py: billed reads, writes,
deletes). SDK calls are the requests the stub received. Pub/Sub publishes are counted by a
recording publisher. Each figure is the difference between two runs of the same path with
the step on and off, so it is what the step adds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

OPS = ("reads", "writes", "deletes")


def measure(action: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    from bench import firestore_ops

    before = firestore_ops.COUNTER.snapshot()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    after = firestore_ops.COUNTER.snapshot()
    ops: dict[str, float] = {key: int(after[key]) - int(before[key]) for key in OPS}
    ops["seconds"] = round(seconds, 3)
    return result, ops


def diff(on: dict[str, float], off: dict[str, float]) -> dict[str, float]:
    return {key: on[key] - off[key] for key in OPS}


def run(items: int) -> dict[str, Any]:
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    from bench import firestore_ops

    firestore_ops.install()  # before the first Firestore client opens its channel
    from registration.clock import utc_now
    from registration.domain.model import StorageObject
    from registration.services import follow_up, invocation, submit
    from tests.support.encord_stub import EncordStub
    from tests.support.encord_target import EncordTarget, app_with_encord, fill
    from tests.support.memory import RecordingNotifications

    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    out: dict[str, Any] = {"items_per_batch": items}
    with EncordStub(polls_until_done=1) as stub:
        target = EncordTarget.on(stub)
        os.environ["ENCORD_SSH_KEY"] = target.private_key
        dataset = stub.add_dataset()

        def batch_end(features: bool) -> dict[str, Any]:
            """One batch of `items` images to its job's end; the finishing sweep measured."""
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            client.create_bucket(bucket)
            settings = target.settings(
                batch_images=items,
                encord_datasets=(dataset,) if features else (),
                encord_on_delete="delete",
            )
            notes = RecordingNotifications()

            def wrap(backends: Any) -> Any:
                if features:
                    return replace(backends, notifications=notes)
                return replace(backends, outcomes=None, links=None, notifications=None)

            app = app_with_encord(settings, wrap=wrap)
            objects = fill(app, bucket, "cam", items)  # the last event writes and submits
            app.sweep()  # PENDING at the first poll
            [batch] = app.store.submissions.submissions_due(10)
            ctx = invocation.begin(app.ctx, 60)
            requests_before = len(stub.requests())
            # The step that records a job's end (services/submit.follow), alone: the poll,
            # then (with the features) items, records, message, the end, the first links.
            result, ops = measure(lambda: submit.follow(ctx, batch))
            assert result is not None and result.finished
            calls = stub.requests()[requests_before:]
            return {
                "ops": ops,
                "sdk_calls": len(calls),
                "sdk_routes": [f"{r.method} {r.path} {r.query_type or ''}".strip() for r in calls],
                "published": len(notes.published),
                "app": app,
                "objects": objects,
                "bucket": bucket,
            }

        with_steps = batch_end(True)
        without = batch_end(False)
        out["job_end_sweep_with_items_notify_link"] = with_steps["ops"]
        out["job_end_sweep_baseline"] = without["ops"]
        out["added_by_items_notify_first_link"] = diff(with_steps["ops"], without["ops"])
        out["sdk_calls_job_end_with"] = with_steps["sdk_calls"]
        out["sdk_calls_job_end_baseline"] = without["sdk_calls"]
        out["sdk_routes_job_end_with"] = with_steps["sdk_routes"]
        out["pubsub_publishes_per_job"] = with_steps["published"]

        app = with_steps["app"]

        # A delete under ON_DELETE=delete: the event, then the sweep's follow-up.
        victim: StorageObject = with_steps["objects"][0]  # never uploaded: stat says gone
        from registration.services import intake

        _, event_ops = measure(lambda: intake.withdraw(app.ctx, victim))
        requests_before = len(stub.requests())
        ctx = invocation.begin(app.ctx, 60)
        tally, follow_ops = measure(lambda: follow_up.carry_due(ctx))
        out["delete_event"] = event_ops
        out["delete_follow_up"] = follow_ops
        out["delete_follow_up_sdk_calls"] = len(stub.requests()) - requests_before
        out["delete_follow_ups"] = tally.carried

        # The idle sweep: nothing due anywhere, with everything configured.
        idle_settings = target.settings(
            encord_datasets=(dataset,), encord_on_delete="delete", encord_on_overwrite="replace"
        )

        # Ten minutes on: past the rejection summary's 5-minute look-back, as a deployment
        # with nothing happening sees it.
        def later() -> datetime:
            return utc_now() + timedelta(minutes=10)

        idle = app_with_encord(idle_settings, clock=later)
        idle.sweep()  # warm: channels open, the watermark moves past the activity
        rounds = [measure(idle.sweep)[1] for _ in range(5)]
        out["idle_sweep"] = rounds[-1]
        out["idle_sweep_seconds_max"] = max(r["seconds"] for r in rounds)
        plain = app_with_encord(target.settings(), clock=later)
        plain.sweep()
        out["idle_sweep_without_issue_20_settings"] = measure(plain.sweep)[1]
        per_day = 24 * 60
        out["idle_reads_per_day_every_minute"] = out["idle_sweep"]["reads"] * per_day
        out["idle_reads_per_day_every_5_minutes"] = out["idle_sweep"]["reads"] * per_day / 5
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args(argv)
    from devstack.stack import local_stack

    log_path = Path(tempfile.gettempdir()) / "bench-after-registration.log"
    workdir = Path(tempfile.mkdtemp(prefix="bench-after-registration-"))
    with (
        log_path.open("w") as log,
        contextlib.redirect_stdout(log),
        local_stack(workdir) as stack,
    ):
        stack.apply_to_this_process()
        figures = run(args.items)
    print(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
