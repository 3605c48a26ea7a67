"""One handle on the use cases for tests: a Context plus this instance's ThresholdGate.

Production code calls the use-case functions directly (main.py, the CLI); tests drive many
steps against one context, and read better as app.register(obj), app.sweep().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registration.clock import Clock, utc_now
from registration.config import Settings
from registration.domain.lifecycle import DeleteAction, FinalizeAction
from registration.domain.model import BatchRecord, BufferRef, StorageObject
from registration.presenters import wire
from registration.services import flush, intake, status, sweep
from registration.services.ports import Backends, Context
from registration.services.threshold import ThresholdGate


@dataclass
class App:
    ctx: Context
    gate: ThresholdGate = field(default_factory=ThresholdGate)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def store(self) -> Backends:
        return self.ctx.backends

    def register(self, obj: StorageObject) -> FinalizeAction | None:
        return intake.register(self.ctx, obj, self.gate)

    def withdraw(self, obj: StorageObject) -> DeleteAction | None:
        return intake.withdraw(self.ctx, obj)

    def flush(self, buffer: BufferRef, *, full_only: bool) -> flush.FlushReport:
        return flush.flush(self.ctx, buffer, full_only=full_only)

    def finish(self, batch: BatchRecord) -> bool:
        return flush.finish(self.ctx, batch) is flush.WriteOutcome.WRITTEN

    def sweep(self) -> sweep.SweepReport:
        return sweep.sweep(self.ctx)

    def status(self, recent_rejections: int = 50) -> dict[str, Any]:
        return wire.status_json(status.status(self.ctx, recent_rejections))


def app_on_emulators(settings: Settings | None = None, clock: Clock = utc_now) -> App:
    """The real adapters, pointed at the emulators by the environment."""
    from registration.bootstrap import build_backends

    return App(Context(settings or Settings(), build_backends(), clock))
