"""domain/notification.py: the message one finished Encord job publishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from registration.domain.encord_items import EncordItem, ExpectedUnit, match_items
from registration.domain.limits import MAX_NOTIFICATION_DATA_BYTES
from registration.domain.notification import (
    SCHEMA,
    JobNotification,
    RegisteredUrl,
    job_finished,
    registered_urls,
)
from registration.domain.submission import EncordJobResult, EncordUnitError

FINISHED_AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
MANIFEST = "gs://site/encord-manifests/cam 1/images/000001-ab.json"


def done(*errors: EncordUnitError, status: str = "DONE") -> EncordJobResult:
    return EncordJobResult(
        status=status,  # type: ignore[arg-type]
        units_pending=0,
        units_done=2,
        units_error=len(errors),
        units_cancelled=0,
        unit_errors=errors,
    )


def message(
    result: EncordJobResult,
    registered: list[RegisteredUrl],
    max_data_bytes: int = MAX_NOTIFICATION_DATA_BYTES,
) -> JobNotification:
    return job_finished(
        bucket="site",
        folder="cam 1",
        key="images",
        manifest_path=MANIFEST,
        job_id="job-1",
        result=result,
        registered=registered,
        finished_at=FINISHED_AT,
        max_data_bytes=max_data_bytes,
    )


def test_the_message_carries_the_manifest_job_status_counts_items_and_refusals() -> None:
    bad = "https://storage.cloud.google.com/site/cam%201/bad.jpg"
    refused = EncordUnitError((bad,), "unreadable")
    registered = [
        RegisteredUrl("https://storage.cloud.google.com/site/cam%201/a.jpg", "item-a"),
        RegisteredUrl("https://storage.cloud.google.com/site/cam%201/b.jpg", "item-b"),
    ]
    payload = message(done(refused), registered).payload()
    assert payload["schema"] == SCHEMA
    assert payload["manifest"] == MANIFEST
    assert (payload["job_id"], payload["status"]) == ("job-1", "DONE")
    assert payload["finished_at"] == "2026-12-05T08:00:00+00:00"
    assert payload["counts"] == {
        "units_done": 2,
        "units_error": 1,
        "units_cancelled": 0,
        "urls_registered": 2,
        "urls_refused": 1,
    }
    assert payload["registered"] == [
        {"url": registered[0].url, "item_uuid": "item-a"},
        {"url": registered[1].url, "item_uuid": "item-b"},
    ]
    assert payload["refused"] == [{"url": refused.object_urls[0], "error": "unreadable"}]
    assert payload["truncated"] is False


def test_the_attributes_let_subscriptions_filter_and_consumers_deduplicate() -> None:
    note = message(done(status="ERROR"), [])
    assert dict(note.attributes) == {
        "bucket": "site",
        "folder": "cam 1",
        "key": "images",
        "status": "ERROR",
        "job_id": "job-1",
    }


def test_each_frame_of_a_refused_group_is_listed_with_the_groups_error() -> None:
    group = EncordUnitError(("gs://site/s/0.jpg", "gs://site/s/1.jpg"), "frame sizes differ")
    payload = message(done(group), []).payload()
    assert payload["refused"] == [
        {"url": "gs://site/s/0.jpg", "error": "frame sizes differ"},
        {"url": "gs://site/s/1.jpg", "error": "frame sizes differ"},
    ]


def test_any_name_survives_the_json_exactly() -> None:
    url = "https://storage.cloud.google.com/site/%E5%86%99%E7%9C%9F/x.jpg"
    note = message(done(), [RegisteredUrl(url, "i")])
    assert note.data.isascii()
    note2 = job_finished(
        bucket="site",
        folder="写真 \u202e",
        key="images",
        manifest_path=MANIFEST,
        job_id="j",
        result=done(),
        registered=[],
        finished_at=FINISHED_AT,
    )
    assert json.loads(note2.data)["folder"] == "写真 \u202e"
    assert note2.attributes["folder"] == "写真 \u202e"


def test_a_message_too_big_for_pubsub_keeps_its_counts_and_says_it_was_truncated() -> None:
    registered = [
        RegisteredUrl(f"https://storage.cloud.google.com/site/{n:05d}-{'x' * 80}.jpg", f"i{n}")
        for n in range(2000)
    ]
    limit = 50_000
    note = message(done(), registered, max_data_bytes=limit)
    payload = note.payload()
    assert len(note.data) <= limit
    assert payload["truncated"] is True
    assert payload["counts"]["urls_registered"] == 2000
    kept = payload["registered"]
    assert 0 < len(kept) < 2000
    assert kept == [{"url": r.url, "item_uuid": r.item_uuid} for r in registered[: len(kept)]]
    # As many as fit: one more entry would not have.
    assert len(note.data) + len(json.dumps(kept[0])) > limit - 200


def test_an_unfinished_job_or_a_naive_time_has_no_message() -> None:
    with pytest.raises(ValueError, match="not finished"):
        message(done(status="PENDING"), [])
    with pytest.raises(ValueError, match="timezone"):
        job_finished(
            bucket="b",
            folder="",
            key="images",
            manifest_path=MANIFEST,
            job_id="j",
            result=done(),
            registered=[],
            finished_at=datetime(2026, 1, 1),  # noqa: DTZ001
        )


def test_the_finish_time_is_written_with_its_offset() -> None:
    later = FINISHED_AT.astimezone(timezone(timedelta(hours=2)))
    note = job_finished(
        bucket="b",
        folder="",
        key="images",
        manifest_path=MANIFEST,
        job_id="j",
        result=done(),
        registered=[],
        finished_at=later,
    )
    assert datetime.fromisoformat(note.payload()["finished_at"]) == FINISHED_AT


def test_the_registered_list_comes_from_the_matched_units_frames_included() -> None:
    single = ExpectedUnit("a.jpg", ("gs://site/cam/a.jpg",))
    group = ExpectedUnit("seq", ("gs://site/seq/0.jpg", "gs://site/seq/1.jpg"))
    match = match_items([single, group], [EncordItem("i-a", "a.jpg"), EncordItem("i-g", "seq")])
    assert registered_urls(match.matched) == (
        RegisteredUrl("gs://site/cam/a.jpg", "i-a"),
        RegisteredUrl("gs://site/seq/0.jpg", "i-g"),
        RegisteredUrl("gs://site/seq/1.jpg", "i-g"),
    )


@given(
    st.lists(st.integers(min_value=0, max_value=300), max_size=300),
    st.lists(st.integers(min_value=0, max_value=300), max_size=100),
    st.integers(min_value=2_000, max_value=40_000),
)
# The whole message one byte over: "truncated": true is one byte shorter than false, and must
# not make it fit with nothing cut.
@example([0, 214, 300], [300, 300, 300], 2000)
def test_a_truncated_message_fits_keeps_its_counts_and_a_prefix_of_each_list(
    registered_lengths: list[int], refused_lengths: list[int], limit: int
) -> None:
    registered = [
        RegisteredUrl(f"gs://b/{n}-{'r' * k}", f"i{n}") for n, k in enumerate(registered_lengths)
    ]
    errors = tuple(
        EncordUnitError((f"gs://b/x{n}",), "e" * k) for n, k in enumerate(refused_lengths)
    )
    result = EncordJobResult("DONE", 0, len(registered), len(errors), 0, errors)

    note = message(result, registered, max_data_bytes=limit)
    payload = note.payload()

    assert len(note.data) <= limit
    assert payload["counts"]["urls_registered"] == len(registered)
    assert payload["counts"]["urls_refused"] == len(errors)
    expected_registered = [{"url": r.url, "item_uuid": r.item_uuid} for r in registered]
    expected_refused = [{"url": e.object_urls[0], "error": e.error} for e in errors]
    assert payload["registered"] == expected_registered[: len(payload["registered"])]
    assert payload["refused"] == expected_refused[: len(payload["refused"])]
    kept_all = (
        payload["registered"] == expected_registered and payload["refused"] == expected_refused
    )
    assert payload["truncated"] is not kept_all
    # Refusals are dropped only once every registered entry is gone.
    if payload["refused"] != expected_refused:
        assert payload["registered"] == []
