"""The status page as a person sees it: headless Chromium against the real stack.

Firestore (emulator) is seeded through the use cases (tests/support/app.py), `status` runs
under functions-framework, and Debian's chromium loads it. Screenshots of the overview with
3 buffers, with 500 buffers and with a stuck batch are kept as artifacts in $ARTIFACTS_DIR
(default build/screenshots/). Where a test needs to know where things are on the screen, a
tiny same-origin proxy adds one measuring script (served from the same origin, so the
page's own Content-Security-Policy allows it) that writes getBoundingClientRect() values
into the DOM, which --dump-dom then shows. Nothing in registration/ knows about it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from devstack.stack import ROOT, Process, Stack, start_function
from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject
from registration.services.ports import Context
from registration.services.rejection_summary import summarize_rejections
from tests.integration.test_status_page import CHROMIUM_FLAGS, VisibleText, chromium
from tests.support.app import App, app_on_emulators
from tests.support.faults import FaultPlan, InjectedFaultError, with_faults

WINDOW = (1280, 900)
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def artifacts_dir() -> Path:
    path = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "build" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_chromium(url: str, *flags: str) -> str:
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "--hide-scrollbars",
                *flags,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def dump_dom(url: str) -> str:
    return run_chromium(url, "--dump-dom", "--virtual-time-budget=3000")


def screenshot(url: str, name: str) -> Path:
    path = artifacts_dir() / name
    path.unlink(missing_ok=True)
    run_chromium(url, f"--screenshot={path}", "--virtual-time-budget=3000")
    assert path.is_file() and path.stat().st_size > 10_000, f"no screenshot at {path}"
    return path


class Dom(HTMLParser):
    """Buffer rows (and whether hidden), elements by id with their data-* values, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.first_stuck: dict[str, str | None] | None = None
        self.scripts: list[dict[str, str | None]] = []
        self.order: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.by_id[str(found["id"])] = found
            self.order.append(str(found["id"]))
        classes = (found.get("class") or "").split()
        if tag == "tr" and "buffer-row" in classes:
            self.rows.append(found)
        if "kind-stuck_batch" in classes and self.first_stuck is None:
            self.first_stuck = found
        if tag == "script":
            self.scripts.append(found)

    @property
    def visible_rows(self) -> list[dict[str, str | None]]:
        return [row for row in self.rows if "hidden" not in row]


def dom_of(html: str) -> Dom:
    parser = Dom()
    parser.feed(html)
    return parser


def text_of(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return parser.text


# -- a same-origin proxy that adds one measuring script -------------------------------------

MEASURE_JS = """
(function () {
  function top(el) { return String(Math.round(el.getBoundingClientRect().top)); }
  function mark() {
    var root = document.documentElement;
    root.setAttribute("data-viewport", String(window.innerHeight));
    ["attention", "buffer-table", "filters"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.setAttribute("data-top", top(el));
    });
    var stuck = document.querySelector(".kind-stuck_batch");
    if (stuck) stuck.setAttribute("data-top", top(stuck));
    var probe = PROBE;
    var form = document.getElementById("filters");
    if (probe && form) {
      root.setAttribute("data-rows-before",
        String(document.querySelectorAll("tr.buffer-row:not([hidden])").length));
      form.elements.prefix.value = probe;
      form.dispatchEvent(new Event("input", { bubbles: true }));
      root.setAttribute("data-rows-after",
        String(document.querySelectorAll("tr.buffer-row:not([hidden])").length));
    }
  }
  window.addEventListener("load", mark);
})();
"""


@contextlib.contextmanager
def measuring_proxy(upstream: str, probe_prefix: str = "") -> Iterator[str]:
    """http://127.0.0.1:PORT/ forwarding to upstream, adding /measure.js to HTML pages."""
    script = MEASURE_JS.replace("PROBE", json.dumps(probe_prefix))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/measure.js"):
                self._answer(200, script.encode(), {"Content-Type": "text/javascript"})
                return
            answer = requests.get(
                upstream + self.path, headers={"Accept": self.headers.get("Accept", "")}
            )
            body = answer.content
            headers = {
                name: value
                for name, value in answer.headers.items()
                if name.lower()
                in ("content-type", "content-security-policy", "x-content-type-options")
            }
            if answer.headers.get("Content-Type", "").startswith("text/html"):
                body = body.replace(
                    b"</head>", b'<script src="/measure.js" defer></script></head>', 1
                )
            self._answer(answer.status_code, body, headers)

        def _answer(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# -- seeding --------------------------------------------------------------------------------


@pytest.fixture
def serve_status(emulators: Stack) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(**settings: Any) -> Process:
        env = emulators.env({f"REGISTRATION_{k.upper()}": str(v) for k, v in settings.items()})
        process = start_function("status", env, emulators.log_dir)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def app(**settings: Any) -> App:
    return app_on_emulators(Settings(**settings))


def register_all(svc: App, bucket: str, names: list[str], threads: int = 8) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda name: svc.register(StorageObject(bucket, name, 1)), names))


def seed_stuck_batch(bucket: str, folder: str) -> None:
    """A batch claimed by an instance that died before writing its manifest."""
    base = app(batch_images=2)
    faulty = with_faults(base.store, FaultPlan("flush.after_claim=raise"))
    dying = App(Context(base.settings, faulty, base.ctx.clock))
    dying.register(StorageObject(bucket, f"{folder}/a.jpg", 1))
    with pytest.raises(InjectedFaultError):
        dying.register(StorageObject(bucket, f"{folder}/b.jpg", 1))


# -- the tests ------------------------------------------------------------------------------


def test_a_few_buffers_fit_on_one_screen_with_their_fill_and_rejections(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    svc = app(batch_images=10, batch_videos=5)
    names = [f"site-a/cam 1/frame_{i}.jpg" for i in range(7)]
    names += [f"site-a/cam 2/clip_{i}.mp4" for i in range(2)]
    names += [f"site-b/scan_{i}.png" for i in range(3)]
    names += ["site-a/cam 1/model.onnx", "site-a/cam 1/.thumbs.jpg"]
    register_all(svc, bucket, names)
    summarize_rejections(svc.ctx)
    status = serve_status(batch_images=10, batch_videos=5)

    shot = screenshot(status.url, "overview-3-buffers.png")
    with measuring_proxy(status.url) as url:
        dom = dump_dom(url)
    parsed = dom_of(dom)
    assert [row["data-folder"] for row in parsed.rows] == ["site-a/cam 1", "site-a/cam 2", "site-b"]
    text = text_of(dom)
    assert "site-a/cam 1 images 7 / 10" in text
    assert "site-a/cam 2 videos 2 / 5" in text
    assert "Rejected objects by reason hidden_file 1 unknown_type 1" in text
    table = int(parsed.by_id["buffer-table"]["data-top"] or 0)
    assert 0 < table < WINDOW[1], "the buffer table starts on the first screen"
    print(f"screenshot: {shot}")


def test_500_buffers_page_by_100_with_totals_and_a_next_page_link(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    svc = app()
    folders = [f"fleet/unit-{i:03d}" for i in range(497)]
    # Three more folders that a filter finds, all of them past the first page (which is in
    # buffer id order): chosen by their ids, after the 100th id of the others.
    ids = sorted(BufferRef(bucket, folder, ManifestKey.IMAGES).ident for folder in folders)
    later = (f"fleet/match-{n}" for n in range(1000))
    matching = [
        folder for folder in later if BufferRef(bucket, folder, ManifestKey.IMAGES).ident > ids[99]
    ][:3]
    names = [f"{folder}/frame.jpg" for folder in folders + matching]
    register_all(svc, bucket, names, threads=16)
    status = serve_status()
    started = time.perf_counter()
    page = requests.get(status.url, headers={"Accept": HTML}, timeout=120)
    elapsed = time.perf_counter() - started
    assert page.status_code == 200
    parsed = dom_of(page.text)
    assert len(parsed.rows) == 100
    assert "500 buffers, 100 shown" in text_of(page.text)
    assert "400 more buffers not shown" in text_of(page.text)
    next_link = parsed.by_id.get("rest")
    assert next_link is not None
    shot = screenshot(status.url, "overview-500-buffers.png")
    assert 'rel="next" href="?cursor=' in page.text
    cursor = page.text.split('rel="next" href="?cursor=', 1)[1].split('"', 1)[0]
    second = requests.get(f"{status.url}?cursor={cursor}", headers={"Accept": HTML}, timeout=120)
    first = {row["data-folder"] for row in parsed.rows}
    rows = dom_of(second.text).rows
    assert len(rows) == 100 and not first & {row["data-folder"] for row in rows}
    # A filter is answered by the store, not by the page already read: the three folders
    # past the first page are exactly what the filtered page shows.
    assert not first & set(matching)
    filtered = requests.get(
        status.url, params={"prefix": "fleet/match-"}, headers={"Accept": HTML}, timeout=120
    )
    assert sorted(str(row["data-folder"]) for row in dom_of(filtered.text).rows) == sorted(matching)
    assert "3 buffers in all match the prefix and type" in text_of(filtered.text)
    answer = requests.get(status.url, params={"prefix": "fleet/match-"}, timeout=120).json()
    assert sorted(row["folder"] for row in answer["buffers"]) == sorted(matching)
    assert answer["totals"]["buffers_matching"] == 3
    print(f"screenshot: {shot}; first page served in {elapsed:.1f} s")


def test_a_stuck_batch_is_on_the_first_screen_above_the_buffer_rows(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    svc = app()
    register_all(svc, bucket, [f"area-{i:02d}/frame.jpg" for i in range(40)])
    seed_stuck_batch(bucket, "zz-last/cam")
    status = serve_status(lease_seconds=1)
    time.sleep(2)  # past the lease: the claimed batch is now abandoned

    shot = screenshot(status.url, "overview-stuck-batch.png")
    with measuring_proxy(status.url) as url:
        dom = dump_dom(url)
    parsed = dom_of(dom)
    report = requests.get(status.url, timeout=60)
    assert parsed.first_stuck is not None, f"no stuck batch to see: {report.text[:2000]}"
    assert parsed.order.index("attention") < parsed.order.index("buffer-table")
    top = int(parsed.first_stuck["data-top"] or -1)
    assert 0 <= top < WINDOW[1] - 50, f"the stuck batch is at {top}px, below the first screen"
    text = text_of(dom)
    assert "Stuck batch zz-last/cam images batch 1 (2 objects) is claimed" in text
    # Its own row is far down the table, but marked.
    stuck_rows = [row for row in parsed.rows if row["data-state"] == "stuck"]
    assert [row["data-folder"] for row in stuck_rows] == ["zz-last/cam"]
    print(f"screenshot: {shot}; stuck batch at {top}px")


def test_filters_narrow_the_rows_with_and_without_javascript(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    svc = app()
    names = [f"north/cam-{i}/f.jpg" for i in range(6)] + [f"south/cam-{i}/f.jpg" for i in range(4)]
    names += ["north/cam-0/clip.mp4"]
    register_all(svc, bucket, names)
    status = serve_status()

    # JavaScript off: what the browser shows is the server's HTML (Chromium's --dump-dom
    # and --screenshot need script themselves, so the rows are read from that HTML), and
    # the plain GET form narrows the rows.
    def rows(query: str = "") -> list[dict[str, str | None]]:
        page = requests.get(status.url + query, headers={"Accept": HTML}, timeout=60)
        return dom_of(page.text).rows

    assert len(rows()) == 11
    north = rows("?prefix=north")
    assert len(north) == 7 and all(str(row["data-folder"]).startswith("north") for row in north)
    videos = rows("?prefix=north&type=videos")
    assert [(row["data-folder"], row["data-type"]) for row in videos] == [("north/cam-0", "videos")]
    # JavaScript on: typing a prefix hides the other rows at once, without a request.
    with measuring_proxy(status.url, probe_prefix="south") as url:
        dom = dump_dom(url)
    root = dom_of(dom)
    assert len(root.rows) == 11 and len(root.visible_rows) == 4
    assert 'data-rows-before="11"' in dom and 'data-rows-after="4"' in dom


def test_hostile_names_render_inert_under_a_strict_content_security_policy(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    hostile_folders = [
        "<script>alert(1)<",
        "q\"uote's",
        "javascript:alert(1)",
        "invoice\u202egpj.exe",
    ]
    names = [f"{folder}/x.jpg" for folder in hostile_folders]
    names += ["javascript:alert(2)/<img src=x onerror=alert(3)>.onnx"]
    svc = app()
    register_all(svc, bucket, names)
    summarize_rejections(svc.ctx)
    status = serve_status()

    page = requests.get(status.url, headers={"Accept": HTML}, timeout=60)
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = page.text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;" in html
    assert "\u202e" not in html and "invoice⟨U+202E⟩gpj.exe" in html
    for asset in ("app.js", "app.css"):
        served = requests.get(f"{status.url}?asset={asset}", timeout=60)
        assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"

    dom = dump_dom(status.url)
    parsed = dom_of(dom)
    assert [script.get("src") for script in parsed.scripts] == ["?asset=app.js"]
    hrefs = [href for href in (value for _, value in _attributes(dom, "href")) if href is not None]
    assert hrefs and not any(href.strip().lower().startswith("javascript:") for href in hrefs)
    assert {row["data-folder"] for row in parsed.rows} == {
        "<script>alert(1)<",
        "q\"uote's",
        "javascript:alert(1)",
        "invoice⟨U+202E⟩gpj.exe",
    }
    # Each detail page is reachable from its row and escapes the same way.
    detail_link = next(href for href in hrefs if href.startswith("?buffer="))
    detail = requests.get(status.url + detail_link, headers={"Accept": HTML}, timeout=60)
    assert detail.status_code == 200 and detail.headers["Content-Security-Policy"] == CSP
    as_json = requests.get(status.url + detail_link, timeout=60).json()
    assert as_json["buffer"]["folder"] in hostile_folders


def _attributes(html: str, name: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend((tag, value) for key, value in attrs if key == name)

    Collect().feed(html)
    return found


def test_the_detail_page_and_its_json_list_batches_with_manifests(
    serve_status: Callable[..., Process], bucket: str
) -> None:
    svc = app(batch_images=2)
    register_all(svc, bucket, [f"det/f{i}.jpg" for i in range(5)], threads=1)
    status = serve_status(batch_images=2)
    [row] = requests.get(status.url, timeout=60).json()["buffers"]
    detail = requests.get(f"{status.url}?buffer={quote(row['id'])}", timeout=60).json()
    assert [batch["items"] for batch in detail["batches"]] == [2, 2]
    assert all(
        batch["manifest"].startswith(f"gs://{bucket}/encord-manifests/det/images/")
        for batch in detail["batches"]
    )
    text = text_of(dump_dom(f"{status.url}?buffer={row['id']}"))
    assert "Recent batches" in text and f"gs://{bucket}/encord-manifests/det/images/" in text
    assert "Pending 1 / 2" in text
    missing = requests.get(f"{status.url}?buffer=nope", timeout=60)
    assert missing.status_code == 404
    # Text that cannot be a document id (a path) is a 404 with a JSON error, never a 500.
    for malformed in ("a/b", "a//b", "__x__", row["id"] + "/batches"):
        answer = requests.get(status.url, params={"buffer": malformed}, timeout=60)
        assert (answer.status_code, answer.json()) == (
            404,
            {"error": "no such buffer", "buffer": malformed},
        ), malformed
