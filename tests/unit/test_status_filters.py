"""The status view's filters are answered by the store (BufferCatalog.page), and every
listing pages by keyset: each buffer once, in folder order, whatever the page."""

from __future__ import annotations

from datetime import UTC, datetime

from registration.config import Settings
from registration.domain.model import BufferQuery, BufferRef, ManifestKey, StorageObject
from registration.services.ports import Context
from registration.services.status import BufferState, status
from tests.support.app import App
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "b"


def app_with(names: list[str]) -> App:
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    backends = memory_backends(MemoryStore(clock=clock), MemoryBucket())
    app = App(Context(Settings(batch_images=2), backends, clock))
    for name in names:
        app.register(StorageObject(BUCKET, name, 1, size=1))
    return app


def test_a_prefix_finds_matching_buffers_past_the_first_page_idle_ones_only_when_asked() -> None:
    names = [f"fleet/unit-{i:03d}/a.jpg" for i in range(30)]
    names += ["zz/match-1/a.jpg", "zz/match-2/a.jpg", "zz/match-2/b.jpg"]  # match-2 flushed
    app = app_with(names)

    view = status(app.ctx, page_size=10, query=BufferQuery(prefix="zz/match-"))

    assert [row.buffer.folder for row in view.buffers] == ["zz/match-1", "zz/match-2"]
    assert view.totals.buffers_matching == 2 and view.next_cursor is None
    idle = status(app.ctx, query=BufferQuery(prefix="zz/"), state=BufferState.IDLE)
    assert [row.buffer.folder for row in idle.buffers] == ["zz/match-2"]
    pending = status(app.ctx, query=BufferQuery(prefix="zz/"), state=BufferState.PENDING)
    assert [row.buffer.folder for row in pending.buffers] == ["zz/match-1"]


def test_a_type_filter_tells_image_sequences_from_image_groups() -> None:
    app = app_with(["a/1.jpg", "a/2.mp4"])
    videos = status(app.ctx, query=BufferQuery(key=ManifestKey.VIDEOS))
    assert [row.buffer.key for row in videos.buffers] == [ManifestKey.VIDEOS]
    groups = BufferQuery(key=ManifestKey.IMAGE_GROUPS, sequence=False)
    assert status(app.ctx, query=groups).buffers == []
    assert not groups.matches(BufferRef(BUCKET, "a", ManifestKey.IMAGE_GROUPS, True))


def test_paging_through_every_buffer_shows_each_once_in_folder_order() -> None:
    app = app_with([f"f{i:02d}/a.jpg" for i in range(25)])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        view = status(app.ctx, page_size=7, cursor=cursor, everything=True)
        seen += [row.buffer.folder for row in view.buffers]
        cursor = view.next_cursor
        if cursor is None:
            break
    assert seen == [f"f{i:02d}" for i in range(25)]


def test_the_flush_command_finds_its_buffer_by_folder_without_reading_deeper_folders() -> None:
    from registration.services.flush import find_buffers

    app = app_with(["cam/a.jpg", "cam/deeper/a.jpg", "cam2/a.jpg", "cam/b.mp4"])
    found = find_buffers(app.ctx, "cam", ManifestKey.IMAGES)
    assert [buffer.folder for buffer in found] == ["cam"]
    assert find_buffers(app.ctx, "cam", ManifestKey.IMAGES, bucket="other") == []
    assert [b.key for b in find_buffers(app.ctx, "cam", ManifestKey.VIDEOS)] == [ManifestKey.VIDEOS]
