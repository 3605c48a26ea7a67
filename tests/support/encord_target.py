"""An Encord target on the local stub, for tests that submit manifests with the real SDK.

`EncordTarget` holds the stub, the Ed25519 key the SDK signs with, the integration and one
folder (or legacy dataset); `settings()` and `env()` are what the function is configured
with; `app()` builds the real adapters (bootstrap.build_backends, so the gateway is the one
production builds) over the emulators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from registration.clock import Clock, utc_now
from registration.config import Settings
from registration.domain.model import BatchRecord, BufferRef, StorageObject
from registration.services.ports import Backends, Context
from tests.support.app import App
from tests.support.encord_stub import EncordStub, StubJob


def openssh(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


@dataclass
class EncordTarget:
    stub: EncordStub
    key: Ed25519PrivateKey
    integration: str
    folder: str | None = None
    dataset: str | None = None

    @classmethod
    def on(cls, stub: EncordStub, *, dataset: bool = False) -> EncordTarget:
        key = Ed25519PrivateKey.generate()
        stub.add_public_key(key.public_key())
        integration = stub.add_integration("gcs source bucket")
        if dataset:
            return cls(stub, key, integration, dataset=stub.add_dataset(title="legacy"))
        return cls(stub, key, integration, folder=stub.add_folder(name="incoming"))

    @property
    def target(self) -> str:
        target = self.folder or self.dataset
        assert target is not None
        return target

    @property
    def private_key(self) -> str:
        return openssh(self.key)

    def setting_values(self, **overrides: Any) -> dict[str, Any]:
        """encord_* settings (as Settings fields) pointing at this target on the stub."""
        values: dict[str, Any] = {
            "encord_integration": self.integration,
            "encord_domain": self.stub.url,
        }
        if self.folder:
            values["encord_folder"] = self.folder
        else:
            values["encord_dataset"] = self.dataset
        values.update(overrides)
        return values

    def settings(self, **overrides: Any) -> Settings:
        return Settings(**self.setting_values(**overrides))

    def env(self, **overrides: Any) -> dict[str, str]:
        """The same as environment variables, with the key, for a served function."""
        env = {f"REGISTRATION_{k.upper()}": str(v) for k, v in self.setting_values().items()}
        env.update({f"REGISTRATION_{k.upper()}": str(v) for k, v in overrides.items()})
        env["ENCORD_SSH_KEY"] = self.private_key
        return env

    def jobs(self) -> list[StubJob]:
        return self.stub.jobs(self.target)

    def jobs_of(self, batch: BatchRecord) -> list[StubJob]:
        """The jobs Encord created for one batch's manifest (named after it)."""
        name = batch.manifest_path.rsplit("/", 1)[-1]
        return [job for job in self.jobs() if job.file_name == name]


def app_with_encord(
    settings: Settings,
    clock: Clock = utc_now,
    wrap: Callable[[Backends], Backends] | None = None,
) -> App:
    """The real adapters over the emulators, with the gateway bootstrap builds for these
    settings (ENCORD_SSH_KEY must be in the environment)."""
    from registration.bootstrap import build_backends

    backends = build_backends(settings)
    assert backends.encord is not None, "no Encord target in these settings"
    if wrap is not None:
        backends = wrap(backends)
    return App(Context(settings, backends, clock))


def fill(app: App, bucket: str, folder: str, count: int, start: int = 0) -> list[StorageObject]:
    """Register `count` images under folder (events only; the objects need not exist)."""
    objects = [
        StorageObject(bucket, f"{folder}/img{i:04d}.jpg", 1, size=1)
        for i in range(start, start + count)
    ]
    for obj in objects:
        app.register(obj)
    return objects


def the_batch(app: App, buffer: BufferRef, seq: int = 1) -> BatchRecord:
    batch = app.store.batches.get(buffer, seq)
    assert batch is not None, f"no batch {seq} in {buffer.label}"
    return batch


def https_url(obj: StorageObject) -> str:
    from registration.manifest.urls import object_url

    return object_url(obj.bucket, obj.name, "https")
