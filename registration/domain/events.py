"""CloudEvent data from Cloud Storage -> StorageObject. Strict about what it needs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from registration.domain.model import StorageObject
from registration.exceptions import MalformedEventError

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"


def _as_mapping(data: Any, event_id: str | None) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedEventError(event_id, "data is not UTF-8") from error
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise MalformedEventError(event_id, f"data is not JSON: {error.msg}") from error
    if not isinstance(data, Mapping):
        raise MalformedEventError(event_id, f"data is {type(data).__name__}, not an object")
    return data


def _required_text(data: Mapping[str, Any], field: str, event_id: str | None) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(event_id, f"'{field}' must be a non-empty string, got {value!r}")
    return value


def _integer(
    data: Mapping[str, Any], field: str, event_id: str | None, *, required: bool
) -> int | None:
    value = data.get(field)
    if value is None and not required:
        return None
    # GCS sends int64 fields as strings; accept real ints too, but never bools or floats.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # isascii: str.isdigit() also admits '²' and '①', which int() refuses.
        number = int(value)
    else:
        raise MalformedEventError(event_id, f"'{field}' must be an integer, got {value!r}")
    if number < 0:
        raise MalformedEventError(event_id, f"'{field}' must not be negative, got {number}")
    return number


def _timestamp(data: Mapping[str, Any], field: str) -> datetime | None:
    value = data.get(field)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # informational only; not worth dropping the event for
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_storage_object(data: Any, event_id: str | None = None) -> StorageObject:
    fields = _as_mapping(data, event_id)
    metadata = fields.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise MalformedEventError(event_id, f"'metadata' must be an object, got {metadata!r}")
    content_type = fields.get("contentType")
    generation = _integer(fields, "generation", event_id, required=True)
    assert generation is not None
    return StorageObject(
        bucket=_required_text(fields, "bucket", event_id),
        name=_required_text(fields, "name", event_id),
        generation=generation,
        size=_integer(fields, "size", event_id, required=False),
        content_type=content_type if isinstance(content_type, str) and content_type else None,
        time_created=_timestamp(fields, "timeCreated"),
        custom_metadata={str(key): str(value) for key, value in metadata.items()},
    )
