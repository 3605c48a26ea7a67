"""A sweep shares its budget fairly (issue 19, finding 4): Encord submissions and polls run
before the scan within their own share, so a long scan of buffers that are not due never
starves them, and a run cut short says which kinds of work it left."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.domain.submission import EncordJobResult, SubmissionState
from registration.exceptions import EncordUnavailableError
from registration.services.ports import Context
from registration.services.sweep import sweep
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

FOLDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
BUCKET = "b"
BATCH = 2
DONE = EncordJobResult("DONE", 0, BATCH, 0, 0, ())


class FakeEncord:
    """Starts jobs job-1, job-2, ...; every poll says DONE (the port, not the SDK)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.polled: list[str] = []
        self.failing = False

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        if self.failing:
            raise EncordUnavailableError(file_name, None, job_may_exist=False)
        self.started.append(file_name)
        return f"job-{len(self.started)}"

    def poll(self, job_id: str) -> EncordJobResult:
        self.polled.append(job_id)
        return DONE


class Ticks:
    """A monotonic clock that moves one second each time it is read: every check of the
    budget costs time, so a sweep over many buffers runs out of it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def world(encord: FakeEncord, **settings: Any) -> tuple[App, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    backends = memory_backends(MemoryStore(clock=clock), MemoryBucket(), encord=encord)
    config = Settings(
        batch_images=BATCH,
        encord_folder=FOLDER,
        encord_integration="gcs",
        **settings,
    )
    return App(Context(config, backends, clock)), clock


def young_buffers(app: App, count: int) -> None:
    """Buffers with one pending object each, none of them due yet."""
    for i in range(count):
        app.register(StorageObject(BUCKET, f"young/{i:04d}/a.jpg", 1, size=1))


def test_a_finished_job_is_polled_even_when_the_scan_of_buffers_not_due_uses_up_the_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    encord = FakeEncord()
    app, _ = world(encord, sweep_budget_seconds=40)
    for i in range(BATCH):  # a full batch: written and submitted at once
        app.register(StorageObject(BUCKET, f"cam/{i}.jpg", 1, size=1))
    young_buffers(app, 300)

    report = sweep(app.ctx, monotonic=Ticks())

    batch = app.store.batches.get(BufferRef(BUCKET, "cam", ManifestKey.IMAGES), 1)
    assert batch is not None and batch.submission is not None
    assert encord.polled == ["job-1"]
    assert batch.submission.state is SubmissionState.DONE
    assert report.jobs_finished == [batch.manifest_path]
    assert report.work_remaining and "buffers" in report.cut_short
    assert '"message": "sweep cut short"' in capsys.readouterr().out


def test_once_encord_fails_in_a_sweep_its_other_submissions_wait_for_the_next_run() -> None:
    encord = FakeEncord()
    app, clock = world(encord, sweep_budget_seconds=240)
    encord.failing = True
    for folder in ("a", "b", "c"):
        for i in range(BATCH):
            app.register(StorageObject(BUCKET, f"{folder}/{i}.jpg", 1, size=1))
    clock.advance(3600)  # every retry is due

    # The fake has no sessions: a breaker that has opened is what the gateway's session
    # reports through `deferring`.
    class Tripped(FakeEncord):
        deferring = True

    tripped = Tripped()
    ctx = Context(app.ctx.settings, _with_encord(app, tripped), app.ctx.clock)
    report = sweep(ctx, monotonic=Ticks())

    assert tripped.started == []  # nothing was sent, and no attempt was spent
    assert report.cut_short == ["submissions"] and report.work_remaining


def test_a_sweep_that_finishes_everything_reports_nothing_cut_short() -> None:
    encord = FakeEncord()
    app, _ = world(encord)
    for i in range(BATCH):
        app.register(StorageObject(BUCKET, f"cam/{i}.jpg", 1, size=1))

    report = sweep(app.ctx)

    assert (report.work_remaining, report.cut_short) == (False, [])
    assert report.as_dict()["cut_short"] == []


def _with_encord(app: App, encord: FakeEncord) -> Any:
    from dataclasses import replace

    return replace(app.store, encord=encord)


class SlowEncord(FakeEncord):
    """Jobs that stay PENDING: every poll finds them running."""

    def poll(self, job_id: str) -> EncordJobResult:
        self.polled.append(job_id)
        return EncordJobResult("PENDING", BATCH, 0, 0, 0, ())


def test_with_more_running_jobs_than_one_sweep_can_poll_each_gets_its_turn() -> None:
    encord = SlowEncord()
    app, clock = world(encord, sweep_budget_seconds=40)
    for folder in range(12):  # 12 full batches: 12 jobs started at write time
        for i in range(BATCH):
            app.register(StorageObject(BUCKET, f"cam{folder:02d}/{i}.jpg", 1, size=1))
    assert len(encord.started) == 12

    for _ in range(4):  # each sweep's share of the budget polls only a few jobs
        clock.advance(60)
        sweep(app.ctx, monotonic=Ticks())

    assert len(encord.polled) < 12 * 4  # the share did cut the sweeps short
    assert set(encord.polled) == {f"job-{n}" for n in range(1, 13)}


class EndsOnSecondPoll(FakeEncord):
    """Each job is still running at its first poll and DONE at its second."""

    def poll(self, job_id: str) -> EncordJobResult:
        self.polled.append(job_id)
        if self.polled.count(job_id) == 1:
            return EncordJobResult("PENDING", BATCH, 0, 0, 0, ())
        return DONE


class Stopwatch:
    """A monotonic clock that only sleeping moves, and the sleep that moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_sweep_that_finds_a_job_running_polls_it_again_half_way_and_records_its_end() -> None:
    encord = EndsOnSecondPoll()
    app, clock = world(encord, sweep_repoll_seconds=30)
    for i in range(BATCH):  # a full batch: written and its job started at once
        app.register(StorageObject(BUCKET, f"cam/{i}.jpg", 1, size=1))
    clock.advance(60)
    watch = Stopwatch()

    report = sweep(app.ctx, monotonic=watch, sleep=watch.sleep)

    assert watch.slept == [30.0]
    assert encord.polled == ["job-1", "job-1"]
    batch = app.store.batches.get(BufferRef(BUCKET, "cam", ManifestKey.IMAGES), 1)
    assert batch is not None and batch.submission is not None
    assert batch.submission.state is SubmissionState.DONE
    assert report.jobs_finished == [batch.manifest_path]


def test_a_sweep_with_no_job_running_never_waits() -> None:
    encord = FakeEncord()
    app, _ = world(encord, sweep_repoll_seconds=30)
    young_buffers(app, 3)
    watch = Stopwatch()

    report = sweep(app.ctx, monotonic=watch, sleep=watch.sleep)

    assert watch.slept == [] and encord.polled == []
    assert report.jobs_running == 0
