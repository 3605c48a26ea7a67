"""End-to-end fixtures: functions-framework servers over the emulator stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import google.cloud.storage as storage
import pytest
from google.auth.credentials import AnonymousCredentials

from devstack.stack import PROJECT, Process, Stack, start_function
from registration.manifest.urls import parse_object_url
from tests.support.faults import ENV_VAR as FAULTS_VAR

Serve = Callable[..., Process]


@pytest.fixture
def serve(emulators: Stack) -> Iterator[Serve]:
    """Start an entry point with extra REGISTRATION_* settings; stopped after the test."""
    started: list[Process] = []

    def start(target: str, faults: str | None = None, **settings: Any) -> Process:
        """faults: a plan for tests/support/faults.py; the server then wraps its adapters."""
        env = emulators.env({f"REGISTRATION_{k.upper()}": str(v) for k, v in settings.items()})
        source = "main.py"
        if faults is not None:
            env[FAULTS_VAR] = faults
            source = "tests/support/faulty_main.py"
        process = start_function(target, env, emulators.log_dir, source=source)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def gcs(emulators: Stack) -> storage.Client:
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


def read_manifests(client: storage.Client, bucket: str) -> dict[str, dict[str, Any]]:
    """Every manifest in the bucket, parsed: {object name: JSON body}."""
    return {
        blob.name: json.loads(blob.download_as_bytes())
        for blob in client.list_blobs(bucket, prefix="encord-manifests/")
    }


def registered_names(manifests: dict[str, dict[str, Any]]) -> list[str]:
    """Object names in all manifests, one entry per appearance (so duplicates show)."""
    names = []
    for body in manifests.values():
        for key, items in body.items():
            if key == "skip_duplicate_urls":
                continue
            for item in items:
                for field, value in item.items():
                    if field == "objectUrl" or field.startswith("objectUrl_"):
                        names.append(parse_object_url(value)[1])
    return names
