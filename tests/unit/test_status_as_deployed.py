"""Issue 19, finding 1: the deployed status function has no Encord target and no key, yet
shows every submission that needs a person (read from the batches, never from a gateway)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from registration.config import Settings
from registration.domain.model import StorageObject
from registration.domain.submission import EncordJobResult
from registration.exceptions import EncordRefusedError, EncordUnavailableError
from registration.services.ports import Context
from registration.services.status import status as status_of
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends
from tests.support.scripted_encord import ScriptedEncord

FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "b"


def submitting_app(encord: ScriptedEncord) -> tuple[App, Context, FakeClock]:
    """The event and sweep side with an Encord target, and the status side as deployed:
    the same store, settings without any REGISTRATION_ENCORD_* value, and no gateway."""
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    backends = memory_backends(MemoryStore(clock=clock), MemoryBucket(), encord=encord)
    submitting = Settings(batch_images=1, encord_folder=FOLDER, encord_integration="gcs")
    deployed_status = Context(Settings(), dataclasses.replace(backends, encord=None), clock)
    return App(Context(submitting, backends, clock)), deployed_status, clock


def kinds(ctx: Context) -> list[str]:
    return [item.kind.value for item in status_of(ctx).attention]


def test_a_status_function_without_encord_settings_shows_a_manifest_encord_refused() -> None:
    app, deployed, _ = submitting_app(ScriptedEncord(EncordRefusedError("m", "no access")))
    app.register(StorageObject(BUCKET, "cam/1.jpg", 1, size=1))

    view = status_of(deployed)

    assert [item.kind.value for item in view.attention] == ["submission_failed"]
    assert "no access" in view.attention[0].detail
    assert view.totals.submissions_by_state == {"failed": 1}


def test_a_status_function_without_encord_settings_shows_a_job_pending_too_long() -> None:
    app, deployed, clock = submitting_app(
        ScriptedEncord(EncordUnavailableError("m", None, job_may_exist=False))
    )
    app.register(StorageObject(BUCKET, "cam/1.jpg", 1, size=1))
    clock.advance(3601)

    assert kinds(deployed) == ["job_pending_too_long"]


@pytest.mark.parametrize(
    ("status", "kind", "state"),
    [("ERROR", "job_errors", "error"), ("CANCELLED", "job_cancelled", "cancelled")],
)
def test_a_status_function_without_encord_settings_shows_jobs_that_ended_badly(
    status: Any, kind: str, state: str
) -> None:
    # CANCELLED needs a person as much as ERROR: its files may be partly registered.
    encord = ScriptedEncord("job-1")
    encord.polls["job-1"] = EncordJobResult(status, 0, 0, 1, 0, ())
    app, deployed, _ = submitting_app(encord)
    app.register(StorageObject(BUCKET, "cam/1.jpg", 1, size=1))
    app.sweep()

    view = status_of(deployed)

    assert [item.kind.value for item in view.attention] == [kind]
    assert "job-1" in view.attention[0].detail
    assert view.totals.submissions_by_state == {state: 1}
