"""The use cases behind `jobs` and `resubmit` (services/jobs.py), over the in-memory store:
a batch is found by its manifest's URL alone, and resubmitting says what became of it."""

from __future__ import annotations

from datetime import UTC, datetime

from registration.config import Settings
from registration.domain.model import BatchRecord, BufferRef, ManifestKey, StorageObject
from registration.domain.submission import SubmissionState
from registration.exceptions import EncordRefusedError
from registration.services.jobs import Resubmission, batch_of_manifest, jobs, resubmit
from registration.services.ports import Context
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends
from tests.support.scripted_encord import ScriptedEncord

FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "b"


def written(*outcomes: str | Exception) -> tuple[App, BatchRecord]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    backends = memory_backends(
        MemoryStore(clock=clock), MemoryBucket(), encord=ScriptedEncord(*outcomes)
    )
    settings = Settings(batch_images=1, encord_folder=FOLDER, encord_integration="gcs")
    app = App(Context(settings, backends, clock))
    app.register(StorageObject(BUCKET, "cam/1.jpg", 1, size=1))
    batch = app.store.batches.get(BufferRef(BUCKET, "cam", ManifestKey.IMAGES), 1)
    assert batch is not None
    return app, batch


def test_a_batch_is_found_by_its_manifest_url_and_by_nothing_else() -> None:
    app, batch = written("job-1")
    found = batch_of_manifest(app.ctx, batch.manifest_url)
    assert found is not None and (found.buffer, found.seq) == (batch.buffer, batch.seq)
    for other in (
        batch.manifest_url.replace(f"gs://{BUCKET}/", "gs://elsewhere/"),
        batch.manifest_url.replace("/000001-", "/000002-"),
        batch.manifest_path,  # not a gs:// URL
        f"gs://{BUCKET}/",
    ):
        assert batch_of_manifest(app.ctx, other) is None, other


def test_resubmitting_a_refused_manifest_starts_a_new_job_and_lists_it_as_unfinished() -> None:
    app, batch = written(EncordRefusedError("m", "no access"), "job-2")
    assert [item.manifest_url for item in jobs(app.ctx, failed=True)] == [batch.manifest_url]

    result = resubmit(app.ctx, batch.manifest_url)

    assert (result.outcome, result.job_id) == (Resubmission.SUBMITTED, "job-2")
    assert jobs(app.ctx, failed=True) == []
    [due] = jobs(app.ctx)
    assert due.submission is not None and due.submission.state is SubmissionState.SUBMITTED


def test_resubmit_says_refused_again_and_not_found() -> None:
    app, batch = written(EncordRefusedError("m", "no access"), EncordRefusedError("m", "still"))
    again = resubmit(app.ctx, batch.manifest_url)
    assert again.outcome is Resubmission.REFUSED and again.problem is not None
    assert "still" in again.problem
    missing = resubmit(app.ctx, f"gs://{BUCKET}/encord-manifests/none.json")
    assert missing.outcome is Resubmission.NOT_FOUND and missing.batch is None
