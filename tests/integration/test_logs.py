"""Structured logs: Cloud Logging's JSON form, one line per decision, enough to trace an object.

The function runs under functions-framework over the emulators; its stdout is the log file
the stack keeps for it. The CLI's lines are checked in-process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from devstack import cloudevents
from devstack.stack import Process, Stack, start_function
from registration.cli.commands import cli
from tests.support.bulk_storage import seeded_storage

# Cloud Logging's LogSeverity names; anything else is stored as DEFAULT.
SEVERITIES = {"DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"}


def json_lines(text: str) -> list[dict[str, Any]]:
    """The structured lines of a log, skipping the server's own plain-text lines."""
    entries = []
    for line in text.splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


@pytest.fixture
def function(emulators: Stack) -> Iterator[Process]:
    env = emulators.env({"REGISTRATION_BATCH_IMAGES": "3"})
    process = start_function("on_storage_event", env, emulators.log_dir)
    yield process
    process.stop()


def test_every_decision_about_an_object_is_one_json_line_a_person_can_follow(
    function: Process, bucket: str
) -> None:
    images = [f"lg/cam 1/f{index}.jpg" for index in range(3)]
    for index, name in enumerate(images):
        data = cloudevents.object_data(bucket, name, 100 + index)
        assert cloudevents.finalize(function.url, data).status_code == 200
    rejected = cloudevents.object_data(bucket, "lg/cam 1/weights.onnx", 7)
    assert cloudevents.finalize(function.url, rejected).status_code == 200
    entries = [
        entry
        for entry in json_lines(Path(function.log_path).read_text())
        if entry.get("bucket") == bucket or bucket in str(entry.get("buffer", ""))
    ]
    assert entries, "the function wrote no structured line for this bucket"
    for entry in entries:
        assert entry["severity"] in SEVERITIES and entry["message"], entry

    buffer = f"{bucket}/lg/cam 1:images"
    for index, name in enumerate(images):
        about = [e for e in entries if e.get("name") == name or name in e.get("names", [])]
        messages = [entry["message"] for entry in about]
        # One line per event: its decision, naming the object and its buffer.
        assert messages[:1] == ["finalize: buffer"], messages
        assert about[0]["generation"] == 100 + index
        assert about[0]["buffer"] == buffer
        [written] = [entry for entry in about if entry["message"] == "manifest written"]
        assert written["batch"] == 1 and written["buffer"] == buffer
        assert written["manifest"].startswith(f"gs://{bucket}/encord-manifests/lg/cam 1/images/")
    [claimed] = [entry for entry in entries if entry["message"] == "claimed batch"]
    assert (claimed["batch"], claimed["items"], claimed["buffer"]) == (1, 3, buffer)

    [why] = [entry for entry in entries if entry.get("name") == "lg/cam 1/weights.onnx"]
    assert (why["severity"], why["message"], why["reason"]) == (
        "WARNING",
        "rejected",
        "unknown_type",
    )
    assert why["generation"] == 7


def test_a_backfill_logs_one_line_per_object_to_stderr_or_to_the_log_file(
    emulators: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = [f"bl/f{index}.jpg" for index in range(5)] + ["bl/.DS_Store"]
    with seeded_storage(emulators.log_dir, "logged", names) as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        result = CliRunner().invoke(cli, ["backfill", "gs://logged/bl/"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        entries = json_lines(result.stderr)
        buffered = [entry for entry in entries if entry["message"] == "backfill: buffer"]
        assert sorted(entry["name"] for entry in buffered) == sorted(names[:5])
        assert {entry["buffer"] for entry in buffered} == {"logged/bl:images"}
        assert all(entry["generation"] > 0 for entry in buffered)
        [hidden] = [entry for entry in entries if entry.get("name") == "bl/.DS_Store"]
        assert (hidden["message"], hidden["reason"]) == ("rejected", "hidden_file")
        assert not any(line.startswith("{") for line in result.stdout.splitlines())

        log_file = tmp_path / "backfill.jsonl"
        again = CliRunner().invoke(
            cli,
            ["--log-file", str(log_file), "backfill", "--restart", "gs://logged/bl/"],
            catch_exceptions=False,
        )
        assert again.exit_code == 0, again.output
        assert json_lines(again.stderr) == []
        repeats = json_lines(log_file.read_text())
        assert sum(entry["message"] == "backfill: duplicate" for entry in repeats) == 5
        assert any(entry["message"] == "rejected (already recorded)" for entry in repeats)
