"""A start that stalls inside Encord past the submission lease and past the client's own
timeout, on the local stack: the real `encord` SDK against the stub, state in the Firestore
emulator, manifests in the Storage emulator (issue 19, finding 2, end to end).

While the stalled instance waits, a sweep takes the submission over and starts a second
job, which is then polled to DONE. When the stalled call finally gives up, its write is
refused as a stale writer's: the batch stays DONE, and no later sweep starts a third job.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

from google.cloud import storage

from registration.adapters.encord_gateway import EncordGateway
from registration.domain.model import BufferRef, ManifestKey
from registration.domain.submission import SubmissionState
from registration.services.ports import Backends
from tests.support.clock import FakeClock
from tests.support.encord_target import EncordTarget, app_with_encord, fill, the_batch

BATCH = 3
LEASE_SECONDS = 1
CLIENT_TIMEOUT_SECONDS = 3  # the SDK's read timeout for this test's gateway
STALL_SECONDS = 8  # the stub holds the start's answer this long: past both


def with_short_client_timeout(target: EncordTarget) -> object:
    def wrap(backends: Backends) -> Backends:
        gateway = EncordGateway(
            integration=target.integration,
            folder=target.folder,
            domain=target.stub.url,
            ssh_private_key=target.private_key,
            request_timeout_seconds=CLIENT_TIMEOUT_SECONDS,
        )
        return dataclasses.replace(backends, encord=gateway)

    return wrap


def wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_start_stalled_past_the_lease_and_the_client_timeout_ends_done_with_at_most_two_jobs(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    app = app_with_encord(
        target.settings(batch_images=BATCH, lease_seconds=LEASE_SECONDS),
        clock,
        wrap=with_short_client_timeout(target),  # type: ignore[arg-type]
    )
    buffer = BufferRef(bucket, "cam", ManifestKey.IMAGES)
    target.stub.inject_accept_then_timeout(mode="delay", delay_seconds=STALL_SECONDS)

    errors: list[BaseException] = []

    def the_stalled_event() -> None:
        try:
            fill(app, bucket, "cam", BATCH)
        except BaseException as error:  # the event must not fail for Encord's sake
            errors.append(error)

    stalled = threading.Thread(target=the_stalled_event)
    stalled.start()  # the event that fills the batch, and stalls in Encord's start
    wait_for(lambda: len(target.jobs()) == 1, 30)  # Encord accepted the first job

    time.sleep(LEASE_SECONDS + 0.5)  # the lease passes (Firestore's clock)
    assert stalled.is_alive()  # still inside the start call
    batch = the_batch(app, buffer)
    assert app.sweep().submitted == [batch.manifest_path]  # taken over: a second job
    assert app.sweep().jobs_finished == [batch.manifest_path]
    done = the_batch(app, buffer).submission
    assert done is not None and done.state is SubmissionState.DONE

    stalled.join(60)  # the client gave up on its start at last
    assert not stalled.is_alive() and errors == []

    for _ in range(3):  # however late the next sweeps come, nothing starts again
        clock.advance(3600)
        app.sweep()
    jobs = target.jobs_of(batch)
    assert len(jobs) == 2
    final = the_batch(app, buffer).submission
    assert final is not None
    assert (final.state, final.job_id, final.attempts) == (SubmissionState.DONE, jobs[1].id, 2)
    assert jobs[1].registered == () and len(jobs[0].registered) == BATCH


def test_a_retry_reads_the_manifest_back_from_the_bucket_even_in_a_folder_with_a_hash(
    target: EncordTarget, bucket: str
) -> None:
    clock = FakeClock()
    app = app_with_encord(target.settings(batch_images=BATCH), clock)
    target.stub.inject_unavailable()
    fill(app, bucket, "cam #1", BATCH)  # the start answers 503: the sweep retries
    batch = the_batch(app, BufferRef(bucket, "cam #1", ManifestKey.IMAGES))
    written = (
        storage.Client(project="local-project")
        .bucket(batch.manifest_bucket)
        .blob(batch.manifest_path)
        .download_as_bytes()
    )
    clock.advance(31)
    assert app.sweep().submitted == [batch.manifest_path]
    [job] = target.jobs_of(batch)
    assert job.manifest == json.loads(written)
