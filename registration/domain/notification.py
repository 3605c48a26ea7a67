"""The Pub/Sub message sent when an Encord job ends: built here, published by an adapter (pure).

One message per finished job. Delivery is at least once, so `job_id` is an attribute for
consumers to deduplicate on; bucket, folder, key and status are attributes so that
subscriptions can filter without reading the data. docs/notifications.md is the contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registration.domain.encord_items import EncordItem, ExpectedUnit
from registration.domain.limits import (
    MAX_NOTIFICATION_DATA_BYTES,
    MAX_PUBSUB_ATTRIBUTE_VALUE_BYTES,
)
from registration.domain.submission import EncordJobResult, EncordUnitError

SCHEMA = "encord-registration.job-finished.v1"


@dataclass(frozen=True)
class RegisteredUrl:
    """One URL the job registered, and the item that holds it (a group's frames share one)."""

    url: str
    item_uuid: str


@dataclass(frozen=True)
class JobNotification:
    """A message ready to publish: JSON data and string attributes."""

    data: bytes
    attributes: Mapping[str, str]

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


def registered_urls(
    matched: Sequence[tuple[ExpectedUnit, EncordItem]],
) -> tuple[RegisteredUrl, ...]:
    """Each URL of each matched unit with its item (a group's frames share the group's)."""
    return tuple(RegisteredUrl(url, item.item_uuid) for unit, item in matched for url in unit.urls)


def job_finished(
    *,
    bucket: str,
    folder: str,
    key: str,
    manifest_path: str,
    job_id: str,
    result: EncordJobResult,
    registered: Sequence[RegisteredUrl],
    finished_at: datetime,
    max_data_bytes: int = MAX_NOTIFICATION_DATA_BYTES,
) -> JobNotification:
    """The message for one finished job.

    `manifest_path` is the manifest's gs:// URL; `registered` pairs each registered URL with
    its item; each refused URL comes with Encord's error from the job's unit errors. A batch
    whose lists would not fit in one message keeps its counts and as many entries as fit, and
    says so (`truncated`): the manifest and Encord hold the rest.
    """
    if not result.finished:
        raise ValueError(f"job {job_id} has not finished ({result.status})")
    if finished_at.utcoffset() is None:
        raise ValueError("finished_at must be timezone-aware")
    refused = _refused(result.unit_errors)
    registered_entries = [{"url": r.url, "item_uuid": r.item_uuid} for r in registered]
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "manifest": manifest_path,
        "bucket": bucket,
        "folder": folder,
        "key": key,
        "job_id": job_id,
        "status": result.status,
        "finished_at": finished_at.isoformat(),
        "counts": {
            "units_done": result.units_done,
            "units_error": result.units_error,
            "units_cancelled": result.units_cancelled,
            "urls_registered": len(registered_entries),
            "urls_refused": len(refused),
        },
        "registered": registered_entries,
        "refused": refused,
        "truncated": False,
    }
    encoded = _encode(data)
    if len(encoded) > max_data_bytes:
        encoded = _truncate(data, max_data_bytes)
    attributes = {
        "bucket": bucket,
        "folder": _attribute(folder),
        "key": key,
        "status": result.status,
        "job_id": job_id,
    }
    return JobNotification(encoded, attributes)


def _refused(errors: Sequence[EncordUnitError]) -> list[dict[str, str]]:
    return [{"url": url, "error": e.error} for e in errors for url in e.object_urls]


def _encode(data: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps every name's exact characters, escaped, whatever the consumer's codec.
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _truncate(data: dict[str, Any], max_data_bytes: int) -> bytes:
    """Drop entries from the end of both lists, refusals last, until the message fits."""
    registered: list[Any] = list(data["registered"])
    refused: list[Any] = list(data["refused"])
    trimmed = dict(data, truncated=True)
    # Cutting excess // (largest entry) entries never removes more than needed, and takes
    # few rounds; the last round removes one entry at a time.
    widest = {
        id(registered): max((len(_encode(e)) + 1 for e in registered), default=1),
        id(refused): max((len(_encode(e)) + 1 for e in refused), default=1),
    }
    cut_any = False
    while True:
        trimmed["registered"], trimmed["refused"] = registered, refused
        encoded = _encode(trimmed)
        excess = len(encoded) - max_data_bytes
        if excess <= 0 and cut_any:
            return encoded
        # Nothing cut yet: the whole message did not fit, and saying "truncated: true" (one
        # byte shorter than false) must not make it fit without truncating anything.
        excess = max(excess, 1)
        cut_any = True
        if not registered and not refused:
            raise ValueError("a job notification without entries does not fit in one message")
        target = registered if registered else refused
        cut = max(1, excess // widest[id(target)])
        del target[-cut:]


def _attribute(value: str) -> str:
    """A value within Pub/Sub's attribute limit, cut at a character boundary if needed.

    A folder is the parent of a name of at most 1,024 bytes, so it fits; this only guards.
    """
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_PUBSUB_ATTRIBUTE_VALUE_BYTES:
        return value
    return raw[:MAX_PUBSUB_ATTRIBUTE_VALUE_BYTES].decode("utf-8", "ignore")
