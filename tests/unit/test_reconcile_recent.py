"""The scheduled reconcile: which prefixes it covers, and that it repairs missed events."""

from __future__ import annotations

from datetime import UTC, date, datetime

from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.services.ports import Context
from registration.services.reconcile import recent_prefixes, reconcile_recent
from tests.support.clock import FakeClock
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends


def test_date_patterns_cover_today_and_the_days_before_and_plain_prefixes_stay() -> None:
    prefixes = recent_prefixes(["drops/{date}/", "static/", "drops/{date}/"], 3, date(2026, 3, 1))
    assert prefixes == ["drops/2026-03-01/", "drops/2026-02-28/", "drops/2026-02-27/", "static/"]


def test_a_scheduled_reconcile_registers_objects_whose_events_never_came() -> None:
    clock = FakeClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    settings = Settings(
        reconcile_bucket="raw", reconcile_prefixes=("drops/{date}/",), reconcile_days=2
    )
    ctx = Context(settings, memory_backends(store, bucket), clock)
    for name in ("drops/2026-11-30/a.jpg", "drops/2026-11-29/b.jpg", "drops/2026-11-01/old.jpg"):
        bucket.put(StorageObject("raw", name, 1, size=1, content_type="image/jpeg"))

    result = reconcile_recent(ctx)

    assert result.errors == []
    assert [(item["prefix"], item["missed"]) for item in result.as_dict()["prefixes"]] == [
        ("drops/2026-11-30/", 1),
        ("drops/2026-11-29/", 1),
    ]
    recent = BufferRef("raw", "drops/2026-11-30", ManifestKey.IMAGES)
    old = BufferRef("raw", "drops/2026-11-01", ManifestKey.IMAGES)
    assert (store.count_pending(recent), store.count_pending(old)) == (1, 0)
    assert reconcile_recent(ctx).as_dict()["prefixes"][0]["missed"] == 0  # nothing twice


def test_without_a_reconcile_bucket_nothing_is_scheduled() -> None:
    clock = FakeClock()
    ctx = Context(Settings(), memory_backends(MemoryStore(clock=clock), MemoryBucket()), clock)
    assert reconcile_recent(ctx).as_dict() == {"prefixes": [], "errors": []}
