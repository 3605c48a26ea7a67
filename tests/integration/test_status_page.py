"""The `status` function: JSON for machines, and an HTML page checked in headless Chromium.

The page test runs the real stack: events go through functions-framework into the Firestore
emulator, `status` serves the page, and Debian's chromium loads it with its default Accept
header (text/html first), runs its script, and dumps the DOM. The assertions are on the
text a person would see: head, style and script contents are left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from google.cloud import firestore

from devstack import cloudevents
from devstack.stack import PROJECT, Process, Stack, start_function
from registration.config import Settings
from registration.domain.model import BufferRef, ManifestKey, StorageObject, stable_id
from registration.services.rejection_summary import summarize_rejections
from tests.support.app import App, app_on_emulators
from tests.support.clock import FakeClock

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
FOLDER = "site-a/cam 1"


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    message = (
        "headless Chromium is not installed (looked for "
        + ", ".join(CHROMIUM_NAMES)
        + "); on Debian: apt-get install -y chromium"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


class VisibleText(HTMLParser):
    """The page's text as rendered: nothing from head, style or script."""

    HIDDEN = frozenset({"head", "style", "script", "title", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def rendered_text(url: str) -> str:
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    parser = VisibleText()
    parser.feed(completed.stdout)
    return parser.text


@pytest.fixture
def functions(emulators: Stack) -> Iterator[dict[str, Process]]:
    env = emulators.env({"REGISTRATION_BATCH_IMAGES": "1000"})
    started = {
        target: start_function(target, env, emulators.log_dir)
        for target in ("on_storage_event", "status")
    }
    yield started
    for process in started.values():
        process.stop()


def drop_events(url: str, bucket: str) -> None:
    events = [
        cloudevents.object_data(bucket, f"{FOLDER}/frame_{index}.jpg", 10 + index)
        for index in range(3)
    ]
    events.append(cloudevents.object_data(bucket, f"{FOLDER}/model.onnx", 7))
    events.append(cloudevents.object_data(bucket, f"{FOLDER}/.thumbs.jpg", 8))
    for data in events:
        assert cloudevents.finalize(url, data).status_code == 200


def summarize() -> None:
    # What the sweep does after flushing: recount the rejected objects per folder. (The
    # `emulators` fixture points this process at the emulators.)
    assert summarize_rejections(app_on_emulators().ctx).folders == 1


def test_a_person_opening_the_status_page_sees_buffers_ages_and_rejected_objects(
    functions: dict[str, Process], bucket: str, emulators: Stack
) -> None:
    drop_events(functions["on_storage_event"].url, bucket)
    summarize()
    text = rendered_text(functions["status"].url)
    assert "Needs attention Nothing is stuck, invalid or overdue" in text
    assert "Rejected objects by reason hidden_file 1 unknown_type 1" in text
    assert f"pending {FOLDER} images 3 / 1000" in text
    assert " s ago" in text
    assert f"{FOLDER}/model.onnx unknown_type" in text
    assert f"{FOLDER}/.thumbs.jpg hidden_file" in text
    assert "1 buffers, 1 shown with 3 objects pending" in text


def test_the_status_function_answers_json_by_default_with_the_documented_keys(
    functions: dict[str, Process], bucket: str, emulators: Stack
) -> None:
    drop_events(functions["on_storage_event"].url, bucket)
    summarize()
    response = requests.get(functions["status"].url, timeout=60)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    [row] = body["buffers"]
    assert {
        "folder",
        "key",
        "pending",
        "oldest_pending_at",
        "last_flush_at",
        "batches_written",
    } <= set(row)
    assert (row["folder"], row["key"], row["pending"]) == (FOLDER, "images", 3)
    assert row["oldest_pending_at"] is not None and row["last_flush_at"] is None
    assert row["rejected_by_reason"] == {"unknown_type": 1, "hidden_file": 1}
    assert {(item["name"], item["reason"]) for item in body["rejected"]} == {
        (f"{FOLDER}/model.onnx", "unknown_type"),
        (f"{FOLDER}/.thumbs.jpg", "hidden_file"),
    }
    [counts] = body["rejected_counts"]
    assert (counts["folder"], counts["total"]) == (FOLDER, 2)


def test_status_serves_html_only_to_clients_that_prefer_it(
    functions: dict[str, Process], bucket: str
) -> None:
    url = functions["status"].url
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = requests.get(url, headers={"Accept": browser_accept}, timeout=60)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Encord registration status</h1>" in page.text
    curl = requests.get(url, headers={"Accept": "*/*"}, timeout=60)
    assert curl.headers["Content-Type"].startswith("application/json")
    assert requests.post(url, timeout=60).status_code == 405


# -- the dashboard's one-document read ----------------------------------------------------


def service_with(clock: FakeClock, **settings: Any) -> App:
    return app_on_emulators(Settings(**settings), clock)


def buffer_document(bucket: str, folder: str) -> dict[str, Any]:
    ref = BufferRef(bucket, folder, ManifestKey.IMAGES)
    client = firestore.Client(project=PROJECT)
    return client.collection("buffers").document(ref.ident).get().to_dict() or {}


def folder_document(bucket: str, folder: str) -> dict[str, Any]:
    client = firestore.Client(project=PROJECT)
    snapshot = client.collection("folders").document(stable_id(bucket, folder)).get()
    return snapshot.to_dict() or {}


def test_a_dashboard_reads_every_summary_of_a_buffer_from_its_one_document(
    emulators: Stack, bucket: str
) -> None:
    clock = FakeClock()
    svc = service_with(clock, batch_images=2)
    for index in range(3):
        svc.register(StorageObject(bucket, f"dash/f{index}.jpg", 1))  # 2 flushed, 1 waits
        clock.advance(1)
    for name in ("dash/a.onnx", "dash/b.onnx", "dash/.c.jpg"):
        svc.register(StorageObject(bucket, name, 1))
    svc.sweep()
    assert summarize_rejections(svc.ctx).folders == 1

    doc = buffer_document(bucket, "dash")
    assert doc["pending"] == 1 and doc["oldest_pending_at"] is not None
    assert doc["last_flush_at"] is not None and doc["batches_written"] == 1
    assert doc["last_manifest_path"].startswith(f"gs://{bucket}/encord-manifests/dash/images/")
    assert doc["objects_registered"] == 2
    assert doc["rejected"] == {"unknown_type": 2, "hidden_file": 1}
    assert doc["rejected_total"] == 3


def test_rejected_counts_are_exact_after_concurrent_rejections_and_summaries(
    emulators: Stack, bucket: str
) -> None:
    svc = service_with(FakeClock())
    names = [f"busy/file_{index:03d}.bin" for index in range(120)]
    with ThreadPoolExecutor(16) as pool:
        summaries = [pool.submit(summarize_rejections, svc.ctx) for _ in range(4)]
        list(pool.map(lambda name: svc.register(StorageObject(bucket, name, 1)), names))
    assert all(future.result().problem is None for future in summaries)
    summarize_rejections(svc.ctx)
    assert folder_document(bucket, "busy")["rejected"] == {"unknown_type": 120}


def test_the_summary_recounts_only_folders_that_changed_or_whose_rejections_expired(
    emulators: Stack, bucket: str
) -> None:
    clock = FakeClock()
    svc = service_with(clock)
    svc.register(StorageObject(bucket, "quiet/x.bin", 1))
    svc.register(StorageObject(bucket, "loud/x.bin", 1))
    start = clock.now
    summarize_rejections(svc.ctx)
    clock.advance(600)
    summarize_rejections(svc.ctx)  # still inside the rescan overlap: both recounted
    clock.advance(300)
    svc.register(StorageObject(bucket, "loud/y.bin", 1))
    clock.advance(300)
    summarize_rejections(svc.ctx)
    assert folder_document(bucket, "quiet")["counted_at"] == start + timedelta(minutes=10)
    loud = folder_document(bucket, "loud")
    assert loud["counted_at"] == start + timedelta(minutes=20)
    assert loud["rejected"] == {"unknown_type": 2}
    clock.advance(86400)
    summarize_rejections(svc.ctx)  # a quiet day: nothing to recount
    assert folder_document(bucket, "quiet")["counted_at"] == start + timedelta(minutes=10)
    # Once its oldest rejection has expired (the TTL policy removes it), the folder is
    # recounted: a cost that follows expiries, not the number of folders.
    assert folder_document(bucket, "quiet")["recount_at"] == start + timedelta(days=90)
    clock.advance(90 * 86400)
    summarize_rejections(svc.ctx)
    assert folder_document(bucket, "quiet")["counted_at"] == clock.now
