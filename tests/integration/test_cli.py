"""`python -m registration` against the emulators: status, flush, backfill, reconcile, trace.

The CLI runs in this process (click's CliRunner) with the environment the `emulators`
fixture sets. Backfill and reconcile read a bucket that "already holds data": a Storage
emulator seeded on disk (tests/bulk_storage.py says why uploading would take hours).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from devstack.stack import PROJECT, Process, Stack
from registration.cli.commands import cli
from registration.config import load_settings
from registration.domain.model import BufferQuery, StorageObject
from registration.manifest.urls import parse_object_url
from tests.support.app import App, app_on_emulators
from tests.support.bulk_storage import FIRST_GENERATION, seeded_storage

BUCKET = "already-full"


def invoke(*args: str) -> Result:
    # A wide virtual terminal, so rich does not fold table cells in the assertions.
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args), catch_exceptions=False)


def service() -> App:
    return app_on_emulators(load_settings())


def seeded_object(names: list[str], name: str, **fields: Any) -> StorageObject:
    """The StorageObject of a seeded name, as its finalize event would describe it."""
    return StorageObject(BUCKET, name, FIRST_GENERATION + names.index(name), **fields)


def manifest_names(url: str, *, seeded: tuple[str, ...] = ()) -> tuple[Counter[str], list[int]]:
    """Object names in the manifests the function wrote (not the `seeded` look-alikes)."""
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )
    names: Counter[str] = Counter()
    sizes = []
    for blob in client.list_blobs(BUCKET, prefix="encord-manifests/"):
        if blob.name in seeded:
            continue
        items = json.loads(blob.download_as_bytes())["images"]
        sizes.append(len(items))
        names.update(parse_object_url(item["objectUrl"])[1] for item in items)
    return names, sizes


@pytest.fixture
def seeded(emulators: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """seeded(names) -> the Storage emulator holding them, and this process pointed at it."""
    with contextlib.ExitStack() as stack:

        def start(names: list[str]) -> Process:
            process = stack.enter_context(seeded_storage(emulators.log_dir, BUCKET, names))
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", process.url)
            return process

        yield start


# -- backfill -------------------------------------------------------------------------------

IMAGES = 20_000
REJECTED = {
    "site/.cache/thumb.jpg": "hidden_file",
    "site/cam 0/model.onnx": "unknown_type",
    "site/cam 1/": "folder_placeholder",
}


def test_a_backfill_of_20000_objects_interrupted_and_resumed_registers_each_exactly_once(
    seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [f"site/cam {index % 8}/frame_{index:06d}.jpg" for index in range(IMAGES)]
    older_manifest = "encord-manifests/older/images/000001.json"
    names = [*images, *REJECTED, older_manifest]
    gcs = seeded(names)
    monkeypatch.setenv("REGISTRATION_MAX_AGE_SECONDS", "1")
    # One object's event was handled before the backfill: the backfill must not repeat it.
    service().register(seeded_object(names, images[0], content_type="image/jpeg"))
    listing = sorted(names)

    # Dies after the 14th chunk of 500 is committed and flushed but before its checkpoint:
    # the worst moment, since the rerun must repeat that chunk.
    first = invoke("backfill", f"gs://{BUCKET}/", "--stop-after", "7000")
    assert first.exit_code == 130, first.output
    assert "Run the same command again to resume" in first.stderr

    second = invoke("backfill", f"gs://{BUCKET}/", "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["resumed_after"] == listing[6499]
    assert report["listed"] == len(names) - 6500
    assert report["already_known"] == 500  # the repeated chunk, every name a duplicate
    assert report["buffered"] == len(names) - 7000
    assert report["finished"] is True
    assert report["objects_per_second"] > 0

    time.sleep(1.1)  # the partial batches reach the max age
    assert service().sweep().errors == []
    registered, sizes = manifest_names(gcs.url, seeded=(older_manifest,))
    assert set(registered.values()) == {1}, "an object is in more than one manifest"
    assert sorted(registered) == sorted(images)
    assert max(sizes) == 1000 and sizes.count(1000) >= 16  # threshold flushes are full

    status = json.loads(invoke("status", "--json", "--rejected", "10").stdout)
    assert {item["name"]: item["reason"] for item in status["rejected"]} == REJECTED


def test_a_backfill_run_again_from_scratch_registers_nothing_twice_and_reports_its_rate(
    seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [f"again/f{index:04d}.jpg" for index in range(1200)]
    gcs = seeded(images)
    monkeypatch.setenv("REGISTRATION_BATCH_IMAGES", "500")
    assert invoke("backfill", f"gs://{BUCKET}/again/").exit_code == 0
    rerun = invoke("backfill", f"gs://{BUCKET}/again/", "--restart")
    assert rerun.exit_code == 0, rerun.output
    assert "1,200 objects in" in rerun.stdout and "objects/s" in rerun.stdout
    assert "buffered 0, already known 1,200" in rerun.stdout
    registered, sizes = manifest_names(gcs.url)
    assert sizes == [500, 500]
    assert set(registered.values()) == {1} and len(registered) == 1000


def test_a_backfill_url_must_be_a_gs_url() -> None:
    result = CliRunner().invoke(cli, ["backfill", "s3://bucket/x"])
    assert result.exit_code == 2
    assert "expected gs://BUCKET/PREFIX" in result.output


# -- status and flush -----------------------------------------------------------------------


def test_status_prints_a_table_of_buffers_and_recent_rejections(seeded: Any) -> None:
    names = ["st/a.jpg", "st/b.jpg", "st/notes.onnx"]
    seeded(names)
    svc = service()
    for name in names:
        svc.register(seeded_object(names, name))
    result = invoke("status")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "│ st " in line)
    assert "images" in row and "2 / 1000" in row and "s ago" in row
    assert "st/notes.onnx" in result.stdout and "unknown_type" in result.stdout


def test_status_prints_needs_attention_first_then_rows_then_totals(seeded: Any) -> None:
    names = [f"{folder}/a.jpg" for folder in ("north/cam", "north/dock", "south/cam")]
    seeded(names)
    svc = service()
    for name in names:
        svc.register(seeded_object(names, name))
    out = invoke("status").stdout
    attention = out.index("Needs attention")
    table = out.index("Buffers")
    totals = out.index("3 of 3 rows shown, 3 objects pending; 3 buffers in all")
    assert attention < out.index("Nothing is stuck") < table < totals
    narrowed = invoke("status", "--prefix", "north").stdout
    # The store answers the prefix: only the matching buffers are read and shown.
    assert "2 of 2 rows shown" in narrowed and "south/cam" not in narrowed
    as_json = json.loads(invoke("status", "--json").stdout)
    assert {row["folder"] for row in as_json["buffers"]} == {"north/cam", "north/dock", "south/cam"}


def test_flush_writes_a_partial_buffer_into_one_manifest_now(seeded: Any) -> None:
    names = ["fl/a b/1.jpg", "fl/a b/2.jpg", "fl/a b/3.jpg"]
    gcs = seeded(names)
    svc = service()
    for name in names:
        svc.register(seeded_object(names, name))
    result = invoke("flush", "fl/a b", "images")
    assert result.exit_code == 0, result.output
    assert f"{BUCKET}/fl/a b:images: 1 manifest(s) written" in result.stdout
    registered, sizes = manifest_names(gcs.url)
    assert sizes == [3] and sorted(registered) == names
    [row] = [row for row in svc.status()["buffers"] if row["folder"] == "fl/a b"]
    assert row["pending"] == 0 and row["batches_written"] == 1


def test_flush_of_a_buffer_that_does_not_exist_fails_with_a_hint(emulators: Stack) -> None:
    result = invoke("flush", "nowhere", "videos")
    assert result.exit_code == 1
    assert "no videos buffer for folder 'nowhere'" in result.output
    assert "status` lists the buffers" in result.output


# -- reconcile ------------------------------------------------------------------------------


def test_reconcile_finds_missed_events_both_ways_and_repair_replays_them(seeded: Any) -> None:
    names = ["rec/seen.jpg", "rec/missed 1.jpg", "rec/missed 2.jpg", "rec/notes.onnx"]
    seeded(names)
    svc = service()
    svc.register(seeded_object(names, "rec/seen.jpg"))
    # Registered, but the objects are gone and their delete events were missed.
    svc.register(StorageObject(BUCKET, "rec/gone.jpg", 5))
    svc.register(StorageObject(BUCKET, "rec/old/shipped.jpg", 6))
    [shipped_buffer] = [
        s.buffer
        for s in svc.store.buffers.page(BufferQuery("rec/old"), None, 10)
        if s.buffer.folder == "rec/old"
    ]
    svc.flush(shipped_buffer, full_only=False)

    found = invoke("reconcile", f"gs://{BUCKET}/rec/", "--json")
    assert found.exit_code == 1, found.output
    report = json.loads(found.stdout)
    assert report["listed"] == 4
    assert {(item["name"], item["fix"]) for item in report["missed"]} == {
        ("rec/missed 1.jpg", "register"),
        ("rec/missed 2.jpg", "register"),
        ("rec/notes.onnx", "unknown_type"),
    }
    assert [item["name"] for item in report["pending_but_gone"]] == ["rec/gone.jpg"]
    assert [item["name"] for item in report["registered_but_gone"]] == ["rec/old/shipped.jpg"]

    repaired = invoke("reconcile", f"gs://{BUCKET}/rec/", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: 2 registered, 1 rejections recorded, 1 withdrawn" in repaired.stdout

    again = json.loads(invoke("reconcile", f"gs://{BUCKET}/rec/", "--json").stdout)
    assert again["missed"] == [] and again["pending_but_gone"] == []
    # Already in Encord: nothing can undo it, so it stays reported (and is now recorded).
    assert [item["name"] for item in again["registered_but_gone"]] == ["rec/old/shipped.jpg"]
    rejected = {(r["name"], r["reason"]) for r in svc.status()["rejected"]}
    assert ("rec/old/shipped.jpg", "deleted_after_registration") in rejected
    pending = {row["folder"]: row["pending"] for row in svc.status()["buffers"]}
    assert pending["rec"] == 3  # seen + the two repaired; gone.jpg left its buffer


# -- trace ----------------------------------------------------------------------------------


def fate(*args: str) -> str:
    result = invoke("trace", *args)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Fate: ")]
    return line.removeprefix("Fate: ")


def test_trace_tells_the_fate_of_any_object_in_one_call(seeded: Any) -> None:
    names = [
        "tr/in manifest #1.jpg",
        "tr/waiting.jpg",
        "tr/model.onnx",
        "tr/never.jpg",
        "tr/overwritten.jpg",
    ]
    seeded(names)
    svc = service()
    svc.register(seeded_object(names, "tr/in manifest #1.jpg"))
    svc.register(seeded_object(names, "tr/model.onnx"))
    [buffer] = [
        s.buffer
        for s in svc.store.buffers.page(BufferQuery("tr"), None, 10)
        if s.buffer.folder == "tr"
    ]
    claimed = svc.flush(buffer, full_only=False).manifests
    svc.register(seeded_object(names, "tr/waiting.jpg"))
    svc.register(StorageObject(BUCKET, "tr/overwritten.jpg", 2))  # then its newer event got lost
    svc.register(StorageObject(BUCKET, "tr/late.jpg", 9))
    svc.withdraw(StorageObject(BUCKET, "tr/late.jpg", 9))

    registered = fate(f"gs://{BUCKET}/tr/in manifest #1.jpg")
    assert registered.startswith("registered: generation ")
    assert f"gs://{BUCKET}/{claimed[0]}" in registered
    # The Encord objectUrl of the same object traces the same way.
    encoded = f"https://storage.cloud.google.com/{BUCKET}/tr/in%20manifest%20%231.jpg"
    assert fate(encoded) == registered
    assert fate(f"gs://{BUCKET}/tr/waiting.jpg").startswith(
        f"pending: generation {FIRST_GENERATION + 1} waits"
    )
    overwritten = fate(f"gs://{BUCKET}/tr/overwritten.jpg")
    assert overwritten.startswith("pending: generation 2 waits")
    assert f"the live generation {FIRST_GENERATION + 4} has no record" in overwritten
    assert fate(f"gs://{BUCKET}/tr/model.onnx").startswith("rejected: unknown_type")
    assert fate(f"gs://{BUCKET}/tr/late.jpg").startswith("withdrawn: generation 9 was deleted")
    assert fate(f"gs://{BUCKET}/tr/never.jpg").startswith("never seen: the object exists")
    assert fate(f"gs://{BUCKET}/tr/nothing.jpg").startswith("unknown: no such object")


def test_trace_as_json_lists_the_record_batch_and_manifest(seeded: Any) -> None:
    names = ["tj/a.jpg"]
    seeded(names)
    svc = service()
    svc.register(seeded_object(names, "tj/a.jpg"))
    [buffer] = [
        s.buffer
        for s in svc.store.buffers.page(BufferQuery("tj"), None, 10)
        if s.buffer.folder == "tj"
    ]
    [path] = svc.flush(buffer, full_only=False).manifests
    result = invoke("trace", f"gs://{BUCKET}/tj/a.jpg", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    [record] = body["records"]
    assert record["state"] == "claimed" and record["batch"] == 1
    assert record["manifest"] == f"gs://{BUCKET}/{path}"
    assert record["manifest_exists"] is True and record["source"] == "event"
    assert body["live_generation"] == FIRST_GENERATION
