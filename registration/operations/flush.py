"""Force one buffer's pending objects into a manifest now (the CLI's `flush`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from registration import logs
from registration.domain import (
    BufferRef,
    ManifestKey,
)
from registration.operations.common import buffer_label

if TYPE_CHECKING:
    from registration.service import FlushReport, RegistrationService


def find_buffers(
    service: RegistrationService,
    folder: str,
    key: ManifestKey,
    *,
    bucket: str | None = None,
    sequence: bool | None = None,
) -> list[BufferRef]:
    return sorted(
        (
            summary.buffer
            for summary in service.store.buffers()
            if summary.buffer.folder == folder
            and summary.buffer.key is key
            and (bucket is None or summary.buffer.bucket == bucket)
            and (sequence is None or summary.buffer.create_video == sequence)
        ),
        key=lambda buffer: (buffer.bucket, buffer.create_video),
    )


def force_flush(service: RegistrationService, buffer: BufferRef) -> FlushReport:
    """Write every pending object of the buffer now, full or not (an ops decision)."""
    logs.info("forced flush requested", buffer=buffer_label(buffer))
    report = service.flush(buffer, full_only=False)
    store = service.store
    store.save_pending_summary(buffer, store.count_pending(buffer), store.oldest_pending_at(buffer))
    return report
