"""The HTML status pages, rendered from the typed read model (pure; no emulator)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import escape

from registration.domain.model import (
    BatchRecord,
    BatchState,
    BufferQuery,
    BufferRef,
    ManifestKey,
    RejectionCounts,
    RejectionReason,
    RejectionRecord,
)
from registration.services.status import (
    Attention,
    AttentionKind,
    BufferDetail,
    BufferState,
    BufferView,
    StatusView,
    Totals,
)
from registration.visible import visible
from registration.web.status_page import (
    CONTENT_SECURITY_POLICY,
    Filters,
    Sort,
    asset,
    relative_age,
    render_detail,
    render_overview,
    select_rows,
)
from tests.support.legal_names import NAME_CASES, NameCase

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FOLDER = "site-a/cam 1"


class Page(HTMLParser):
    """The parts of a page the tests look at: rows, links, scripts, styles, text order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.hrefs: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = ""
        self.styles = 0
        self.style_attributes = 0
        self.ids: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if "style" in found:
            self.style_attributes += 1
        if any(name.startswith("on") for name, _ in attrs):
            self.style_attributes += 100  # an inline handler: never allowed
        if tag == "tr" and "buffer-row" in (found.get("class") or ""):
            self.rows.append(found)
        elif tag == "a" and found.get("href") is not None:
            self.hrefs.append(str(found["href"]))
        elif tag == "script":
            self.scripts.append(found)
            self._in_script = True
        elif tag == "style":
            self.styles += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script += data.strip()
        elif data.strip():
            self.text.append(" ".join(data.split()))

    @property
    def visible(self) -> str:
        return " ".join(self.text)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    return parser


def ref(folder: str = FOLDER, key: ManifestKey = ManifestKey.IMAGES, **kw: Any) -> BufferRef:
    return BufferRef("bkt", folder, key, **kw)


def row(folder: str = FOLDER, **overrides: Any) -> BufferView:
    fields: dict[str, Any] = {
        "buffer": ref(folder, overrides.pop("key", ManifestKey.IMAGES)),
        "state": BufferState.PENDING,
        "pending": 7,
        "batch_size": 1000,
        "oldest_pending_at": NOW - timedelta(minutes=3),
        "last_flush_at": NOW - timedelta(hours=2),
        "last_manifest_url": f"gs://bkt/encord-manifests/{folder}/images/000001.json",
        "batches_written": 4,
        "objects_registered": 4000,
        "rejected_by_reason": {"unknown_type": 2, "hidden_file": 1},
    }
    fields.update(overrides)
    return BufferView(**fields)


def rejection(name: str = f"{FOLDER}/model.onnx") -> RejectionRecord:
    return RejectionRecord(
        "bkt",
        name,
        3,
        RejectionReason.UNKNOWN_TYPE,
        "no type Encord registers",
        FOLDER,
        NOW - timedelta(40),
    )


def view(
    buffers: list[BufferView] | None = None,
    attention: list[Attention] | None = None,
    total: int | None = None,
    **overrides: Any,
) -> StatusView:
    rows = [row()] if buffers is None else buffers
    fields: dict[str, Any] = {
        "generated_at": NOW,
        "max_age_seconds": 900,
        "attention": attention or [],
        "buffers": rows,
        "totals": Totals(
            buffers=len(rows) if total is None else total,
            buffers_shown=len(rows),
            pending_shown=sum(item.pending for item in rows),
            rejected_by_reason={"unknown_type": 2, "hidden_file": 1},
        ),
        "rejected": [rejection()],
        "rejected_counts": [
            RejectionCounts("bkt", FOLDER, {"unknown_type": 2, "hidden_file": 1}, NOW)
        ],
    }
    fields.update(overrides)
    return StatusView(**fields)


def stuck(folder: str = "site-b") -> Attention:
    return Attention(
        AttentionKind.STUCK_BATCH,
        ref(folder),
        "batch 3 (1000 objects) is claimed but its manifest is not written",
        NOW - timedelta(minutes=20),
        f"encord-manifests/{folder}/images/000003.json",
    )


def test_relative_ages_read_as_people_say_them() -> None:
    assert relative_age(NOW - timedelta(seconds=5), NOW) == "5 s ago"
    assert relative_age(NOW - timedelta(minutes=3, seconds=59), NOW) == "3 min ago"
    assert relative_age(NOW - timedelta(hours=2), NOW) == "2 h ago"
    assert relative_age(NOW - timedelta(days=3), NOW) == "3 d ago"
    assert relative_age(NOW + timedelta(seconds=2), NOW) == "just now"
    assert relative_age(None, NOW) == "—"


def test_the_page_opens_on_needs_attention_before_the_buffer_rows() -> None:
    page = render_overview(view([row(), row("site-b", state=BufferState.STUCK)], [stuck()]))
    parsed = parse(page)
    assert parsed.ids.index("attention") < parsed.ids.index("buffer-table")
    text = parsed.visible
    assert text.index("Needs attention") < text.index("Stuck batch") < text.index("Buffers")
    assert "batch 3 (1000 objects) is claimed" in text
    assert "since 20 min ago" in text
    assert "Rejected objects by reason hidden_file 1 unknown_type 2" in text


def test_a_calm_page_says_nothing_needs_attention() -> None:
    text = parse(render_overview(view())).visible
    assert "Nothing is stuck, invalid or overdue" in text


def test_one_compact_row_per_buffer_with_fill_age_manifest_and_totals() -> None:
    overdue = row("late", state=BufferState.OVERDUE, oldest_pending_at=NOW - timedelta(hours=1))
    page = render_overview(view([row(), overdue]))
    parsed = parse(page)
    assert [item["data-folder"] for item in parsed.rows] == [FOLDER, "late"]
    assert '<meter min="0" max="1000" value="7"' in page
    assert "7 / 1000" in parsed.visible
    # Ages are coloured against the max age (900 s): 3 min is fine, 1 h is past it.
    assert re.search(r'class="age age-ok"[^>]*>3 min ago<', page)
    assert re.search(r'class="age age-over"[^>]*>1 h ago<', page)
    assert f"gs://bkt/encord-manifests/{FOLDER}/images/000001.json" in parsed.visible
    assert "4 batches, 4000 registered, 3 rejected" in parsed.visible


def test_a_row_links_to_its_buffer_detail_and_the_rest_is_totalled_with_a_next_page() -> None:
    page = render_overview(view(total=120, next_cursor="abc123"))
    parsed = parse(page)
    assert f"?buffer={ref().ident}" in parsed.hrefs
    assert "119 more buffers not shown" in parsed.visible
    assert "?cursor=abc123" in parsed.hrefs
    assert "?all=1" in parsed.hrefs


def test_without_a_next_page_the_hidden_buffers_are_the_idle_ones() -> None:
    text = parse(render_overview(view(total=40))).visible
    assert "39 more idle buffers not shown ( show idle too )" in text


def test_filters_narrow_the_rows_of_the_page_and_keep_their_values_in_the_form() -> None:
    rows = [
        row("site-a/cam 1"),
        row("site-a/cam 2", key=ManifestKey.VIDEOS),
        row("site-b/cam 1", state=BufferState.IDLE, pending=0, oldest_pending_at=None),
    ]
    filters = Filters.from_query({"prefix": "/site-a/", "type": "videos", "state": "bogus"})
    assert (filters.prefix, filters.type, filters.state) == ("site-a", "videos", "")
    page = render_overview(view(rows), filters)
    assert [item["data-folder"] for item in parse(page).rows] == ["site-a/cam 2"]
    assert 'name="prefix" value="site-a"' in page
    assert '<option value="videos" selected>' in page
    assert "1 of 3 rows on this page match the filters" in parse(page).visible
    assert filters.buffer_query() == BufferQuery("site-a", ManifestKey.VIDEOS)
    assert Filters(type="image_sequences").buffer_query().sequence is True
    assert Filters(type="image_groups").buffer_query().sequence is False
    idle = Filters.from_query({"state": "idle"})
    assert idle.include_idle and [v.buffer.folder for v in select_rows(rows, idle)] == [
        "site-b/cam 1"
    ]
    assert Filters.from_query({"all": "1"}).include_idle
    assert not Filters.from_query({}).include_idle


def test_sorting_by_urgency_age_and_fill() -> None:
    rows = [
        row("a", pending=10, oldest_pending_at=NOW - timedelta(minutes=1)),
        row("b", state=BufferState.STUCK, pending=1, oldest_pending_at=NOW - timedelta(minutes=2)),
        row("c", pending=900, oldest_pending_at=NOW - timedelta(minutes=30)),
    ]

    def order(sort: Sort) -> list[str]:
        return [item.buffer.folder for item in select_rows(rows, Filters(sort=sort))]

    assert order(Sort.FOLDER) == ["a", "b", "c"]
    assert order(Sort.URGENCY) == ["b", "c", "a"]
    assert order(Sort.AGE) == ["c", "b", "a"]
    assert order(Sort.FILL) == ["c", "a", "b"]


def test_next_page_links_keep_the_filters() -> None:
    filters = Filters.from_query({"prefix": "site a", "sort": "age"})
    assert filters.query(cursor="xyz") == "?prefix=site+a&sort=age&cursor=xyz"


def test_hostile_names_render_inert() -> None:
    hostile = [
        '<script>alert("x")</script>',
        'it\'s "quoted"',
        "javascript:alert(1)",
        "invoice\u202egpj.exe",
    ]
    rows = [row(name) for name in hostile]
    attention = [stuck(hostile[0])]
    records = [rejection(f"{name}/file.onnx") for name in hostile]
    page = render_overview(view(rows, attention, rejected=records))
    parsed = parse(page)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert parsed.inline_script == ""
    assert [script.get("src") for script in parsed.scripts] == ["?asset=app.js"]
    assert not any(href.lower().startswith("javascript:") for href in parsed.hrefs)
    assert all(href.startswith("?") for href in parsed.hrefs)
    assert "\u202e" not in page
    assert "<bdi>invoice⟨U+202E⟩gpj.exe</bdi>" in page
    assert "it&#39;s &#34;quoted&#34;" in page


@pytest.mark.parametrize("case", NAME_CASES, ids=lambda case: case.ident)
def test_every_legal_character_class_shows_visibly_on_the_page(case: NameCase) -> None:
    page = render_overview(view([row()], [], rejected=[rejection(case.name)]))
    shown = visible(case.name)
    # Nothing invisible reaches the page raw; what stands for it is there, HTML-escaped.
    assert not any(not char.isprintable() and char not in "\n" for char in page)
    assert str(escape(shown)) in page


def test_no_inline_script_or_style_and_assets_are_served_from_the_package() -> None:
    for page in (
        render_overview(view([row()], [stuck()])),
        render_detail(BufferDetail(row(), [], [rejection()]), NOW, 900),
    ):
        parsed = parse(page)
        assert parsed.inline_script == "" and parsed.styles == 0
        assert parsed.style_attributes == 0
        assert '<link rel="stylesheet" href="?asset=app.css">' in page
    script = asset("app.js")
    style = asset("app.css")
    assert script is not None and script[1].startswith("text/javascript")
    assert b"addEventListener" in script[0]
    assert style is not None and style[1].startswith("text/css")
    assert asset("../status_page.py") is None and asset("overview.html") is None
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_the_detail_page_lists_recent_batches_with_manifests_and_folder_rejections() -> None:
    batches = [
        BatchRecord(
            ref(), 2, BatchState.CLAIMED, "bkt", "encord-manifests/m/000002.json", 1000, NOW
        ),
        BatchRecord(
            ref(),
            1,
            BatchState.WRITTEN,
            "bkt",
            "encord-manifests/m/000001.json",
            1000,
            NOW - timedelta(hours=3),
            NOW - timedelta(hours=3),
        ),
    ]
    page = render_detail(BufferDetail(row(), batches, [rejection()]), NOW, 900)
    text = parse(page).visible
    assert "gs://bkt/encord-manifests/m/000002.json" in text
    assert "1 written 1000 gs://bkt/encord-manifests/m/000001.json 3 h ago 3 h ago" in text
    assert f"{FOLDER}/model.onnx unknown_type" in text
    assert "Pending 7 / 1000" in text


def test_an_empty_view_says_so_instead_of_showing_empty_tables() -> None:
    text = parse(render_overview(view([], rejected=[], rejected_counts=[]))).visible
    assert "No buffers to show." in text
    assert "No rejected objects." in text
