"""The HTML status page, rendered from a report dict (pure; no emulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from registration.web.status_page import relative_age, render_status

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class _Tables(HTMLParser):
    """Collects each <table>'s caption and cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._in: str | None = None
        self._cell: list[str] = []
        self._scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"id": dict(attrs).get("id"), "caption": "", "cells": []})
        elif tag in ("td", "th", "caption"):
            self._in, self._cell = tag, []
        elif tag == "script":
            self._scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._in == tag:
            self.tables[-1]["cells"].append("".join(self._cell).strip())
            self._in = None
        elif tag == "caption" and self._in == "caption":
            self.tables[-1]["caption"] = "".join(self._cell).strip()
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._cell.append(data)


def buffer_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "bucket": "bkt",
        "folder": "site-a/cam 1",
        "key": "images",
        "sequence": False,
        "pending": 7,
        "batch_size": 1000,
        "oldest_pending_at": NOW - timedelta(minutes=3),
        "last_flush_at": NOW - timedelta(hours=2),
        "last_manifest_path": "gs://bkt/encord-manifests/site-a/cam 1/images/000001.json",
        "batches_written": 4,
        "objects_registered": 4000,
        "rejected_by_reason": {"unknown_type": 2, "hidden_file": 1},
    }
    row.update(overrides)
    return row


def report(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "generated_at": NOW,
        "max_age_seconds": 900,
        "buffers": [buffer_row()],
        "rejected": [
            {
                "bucket": "bkt",
                "name": "site-a/cam 1/model.onnx",
                "generation": 3,
                "reason": "unknown_type",
                "detail": "no type Encord registers",
                "recorded_at": NOW - timedelta(seconds=40),
            }
        ],
        "rejected_counts": [
            {
                "bucket": "bkt",
                "folder": "site-a/cam 1",
                "counts": {"unknown_type": 2, "hidden_file": 1},
                "total": 3,
                "counted_at": NOW - timedelta(minutes=1),
            }
        ],
    }
    data.update(overrides)
    return data


def parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def test_relative_ages_read_as_people_say_them() -> None:
    assert relative_age(NOW - timedelta(seconds=5), NOW) == "5 s ago"
    assert relative_age(NOW - timedelta(minutes=3, seconds=59), NOW) == "3 min ago"
    assert relative_age(NOW - timedelta(hours=2), NOW) == "2 h ago"
    assert relative_age(NOW - timedelta(days=3), NOW) == "3 d ago"
    assert relative_age(NOW + timedelta(seconds=2), NOW) == "just now"
    assert relative_age(None, NOW) == "—"


def test_each_buffer_gets_its_own_table_with_pending_ages_and_rejected_counts() -> None:
    second = buffer_row(folder="", key="videos", pending=0, batch_size=100, oldest_pending_at=None)
    tables = parse(render_status(report(buffers=[buffer_row(), second]))).tables
    buffers = [table for table in tables if table["id"] is None]
    assert len(buffers) == 2
    first = dict(zip(buffers[0]["cells"][::2], buffers[0]["cells"][1::2], strict=True))
    assert buffers[0]["caption"].startswith("site-a/cam 1 — images")
    assert first["Pending"] == "7 of 1000"
    assert first["Oldest pending"].startswith("3 min ago")
    assert first["Last flush"] == "2 h ago"
    assert first["Batches written"] == "4"
    assert first["Rejected in this folder"] == "hidden_file: 1, unknown_type: 2"
    root = dict(zip(buffers[1]["cells"][::2], buffers[1]["cells"][1::2], strict=True))
    assert buffers[1]["caption"].startswith("(root) — videos")
    assert root["Oldest pending"] == "—"


def test_rejected_objects_are_listed_by_name_with_reason_and_age() -> None:
    tables = {table["id"]: table for table in parse(render_status(report())).tables}
    assert tables["rejected"]["cells"][4:] == [
        "site-a/cam 1/model.onnx",
        "unknown_type",
        "no type Encord registers",
        "40 s ago",
    ]
    assert tables["rejected-counts"]["cells"][4:6] == ["gs://bkt", "site-a/cam 1"]


def test_object_names_are_escaped_so_a_name_cannot_inject_markup() -> None:
    hostile = '<script>alert("x")</script>.jpg'
    item = dict(report()["rejected"][0], name=hostile)
    page = render_status(report(rejected=[item], buffers=[buffer_row(folder="<b>f</b>")]))
    assert hostile not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.jpg" in page
    assert "<b>f</b>" not in page
    assert parse(page)._scripts == 1  # only the page's own age-ticking script


def test_an_empty_report_says_so_instead_of_showing_empty_tables() -> None:
    page = render_status(report(buffers=[], rejected=[], rejected_counts=[]))
    assert "No buffers yet." in page
    assert "No rejected objects." in page
    assert "0 buffers, 0 objects pending" in page
