"""The rejection summary's cost follows rejections (issue 21): new folders without a
rejection cost nothing, a folder is recounted only for the reasons that may have changed,
and the summary stops at the sweep's budget without losing what it has not counted yet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from registration.config import Settings
from registration.domain.model import StorageObject
from registration.services.ports import Context
from registration.services.rejection_summary import summarize_rejections
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "b"


class CountingStore(MemoryStore):
    """The in-memory store, with every count_folder call kept (folder, reasons)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.counted: list[tuple[str, tuple[str, ...]]] = []

    def count_folder(self, bucket: str, folder: str, reasons: Sequence[str]) -> dict[str, int]:
        self.counted.append((folder, tuple(reasons)))
        return super().count_folder(bucket, folder, reasons)


def app_counting() -> tuple[App, CountingStore, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    store = CountingStore(clock)
    backends = memory_backends(store, MemoryBucket())
    return App(Context(Settings(batch_images=1000), backends, clock)), store, clock


def counts(app: App, folder: str) -> dict[str, int]:
    [item] = app.store.summaries.counts_of([(BUCKET, folder)])
    return item.counts


def test_a_burst_of_new_folders_without_rejections_costs_the_summary_no_count() -> None:
    app, summaries, clock = app_counting()
    summarize_rejections(app.ctx)  # the first summary sets the watermark
    for index in range(200):
        app.register(StorageObject(BUCKET, f"drop/cam-{index}/a.jpg", 1, size=1))
    clock.advance(60)

    outcome = summarize_rejections(app.ctx)

    assert (outcome.folders, outcome.problem, summaries.counted) == (0, None, [])


def test_a_new_rejection_recounts_only_its_own_reason_and_keeps_the_others() -> None:
    app, summaries, clock = app_counting()
    for name in ("cam/a.onnx", "cam/.hidden.jpg"):
        app.register(StorageObject(BUCKET, name, 1, size=1))
    summarize_rejections(app.ctx)
    assert counts(app, "cam") == {"unknown_type": 1, "hidden_file": 1}
    clock.advance(3600)
    summarize_rejections(app.ctx)  # its watermark is now past the rescan overlap
    summaries.counted.clear()

    app.register(StorageObject(BUCKET, "cam/b.onnx", 1, size=1))
    outcome = summarize_rejections(app.ctx)

    assert outcome.folders == 1
    assert summaries.counted == [("cam", ("unknown_type",))]
    assert counts(app, "cam") == {"unknown_type": 2, "hidden_file": 1}


def test_an_expiring_rejection_recounts_only_the_reasons_its_folder_holds() -> None:
    app, summaries, clock = app_counting()
    app.register(StorageObject(BUCKET, "cam/a.onnx", 1, size=1))
    summarize_rejections(app.ctx)
    clock.advance(3600)
    summarize_rejections(app.ctx)
    clock.advance(91 * 86400)  # the fake keeps the record (no TTL): the count stays
    summaries.counted.clear()

    assert summarize_rejections(app.ctx).folders == 1
    assert summaries.counted == [("cam", ("unknown_type",))]
    assert counts(app, "cam") == {"unknown_type": 1}


def test_a_summary_out_of_budget_stops_reports_work_remaining_and_counts_it_next_time() -> None:
    app, _, clock = app_counting()
    summarize_rejections(app.ctx)
    for index in range(3):
        app.register(StorageObject(BUCKET, f"f{index}/a.onnx", 1, size=1))
    clock.advance(timedelta(hours=1).total_seconds())

    cut = summarize_rejections(app.ctx, out_of_time=lambda: True)
    assert (cut.folders, cut.work_remaining) == (0, True)
    assert app.store.summaries.counts_of([(BUCKET, "f0")]) == []

    clock.advance(timedelta(hours=1).total_seconds())
    later = summarize_rejections(app.ctx)
    assert (later.folders, later.work_remaining) == (3, False)
    assert counts(app, "f2") == {"unknown_type": 1}
