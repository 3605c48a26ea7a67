"""Encord hanging on every call, through served functions, the real SDK and the local stub
(issue 19, finding 5): one sweep still writes the manifest of every overdue buffer, and
spends one request timeout on Encord in all, not one per manifest."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from devstack import cloudevents
from registration.domain.model import BufferRef, ManifestKey
from registration.domain.submission import SubmissionState
from tests.e2e.conftest import Serve
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget, app_with_encord, the_batch

BATCH = 3
OVERDUE = 8
TIMEOUT = 2  # REGISTRATION_ENCORD_TIMEOUT_SECONDS in these servers


@pytest.fixture
def stub() -> Iterator[EncordStub]:
    with EncordStub(polls_until_done=5) as running:
        yield running


def test_with_encord_hanging_one_sweep_writes_every_overdue_manifest_within_one_timeout(
    target: EncordTarget, serve: Serve, bucket: str
) -> None:
    settings = {
        "batch_images": BATCH,
        "max_age_seconds": 1,
        "sweep_budget_seconds": 20,
        "encord_timeout_seconds": TIMEOUT,
        **target.setting_values(),
    }
    events = serve("on_storage_event", **settings)
    # A full batch while Encord answers: its job is submitted and not finished yet.
    for i in range(BATCH):
        data = cloudevents.object_data(bucket, f"first/{i}.jpg", 1, content_type="image/jpeg")
        assert cloudevents.finalize(events.url, data).status_code == 200
    [first_job] = target.jobs()
    target.stub.hang_every_call()
    # Then partial buffers, which wait for the sweep (their events call no Encord).
    for folder in range(OVERDUE):
        for i in range(BATCH - 1):
            name = f"cam-{folder}/{i}.jpg"
            data = cloudevents.object_data(bucket, name, 1, content_type="image/jpeg")
            assert cloudevents.finalize(events.url, data).status_code == 200
    time.sleep(1.5)  # past the max age
    sweeper = serve("sweep", **settings)

    began = time.monotonic()
    summary = requests.post(sweeper.url, timeout=120).json()
    took = time.monotonic() - began

    assert len(summary["manifests_written"]) == OVERDUE
    assert "submissions" in summary["cut_short"] and summary["work_remaining"]
    assert target.stub.hung_requests == 1  # the first poll; every later call was deferred
    assert took < 2 * TIMEOUT + 6  # one timeout on Encord, not one per manifest
    app = app_with_encord(target.settings(batch_images=BATCH))
    for folder in range(OVERDUE):
        batch = the_batch(app, BufferRef(bucket, f"cam-{folder}", ManifestKey.IMAGES))
        assert batch.submission is not None
        assert batch.submission.state is SubmissionState.PENDING  # kept for a later sweep
    assert target.jobs() == [first_job]
