"""Shared fixtures: environment isolation and the emulator stack (started once per session).

Emulator-backed tests FAIL when an emulator cannot start: there is no skip path, so a CI
machine without gcloud, Java or gcp-storage-emulator shows red with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack, local_stack
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No REGISTRATION_* variable leaks in from the shell or from another test."""
    for name in list(os.environ):
        if name.startswith("REGISTRATION_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = Path(tmp_path_factory.mktemp("stack-logs"))
    with local_stack(log_dir) as running:
        yield running


@pytest.fixture
def emulators(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The stack with Firestore wiped and this process pointed at it."""
    stack.wipe_firestore()
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "local-project")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_host)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", stack.storage.url)
    if stack.pubsub_host is not None:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.pubsub_host)
    return stack


@pytest.fixture
def bucket(emulators: Stack) -> str:
    """A fresh bucket per test, so manifests of one test never meet another's."""
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    client.create_bucket(name)
    return name


@pytest.fixture
def stub() -> Iterator[EncordStub]:
    """The Encord API stub, its jobs done at their first poll (a module that needs jobs to
    run longer, or a stub with its own key, defines its own `stub`)."""
    with EncordStub(polls_until_done=0) as running:
        yield running


@pytest.fixture
def target(stub: EncordStub, monkeypatch: pytest.MonkeyPatch, emulators: Stack) -> EncordTarget:
    """A target on the stub; its key in ENCORD_SSH_KEY, which served functions inherit
    (Stack.env)."""
    target = EncordTarget.on(stub)
    monkeypatch.setenv("ENCORD_SSH_KEY", target.private_key)
    return target
