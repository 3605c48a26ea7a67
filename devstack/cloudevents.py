"""Build and post binary-mode CloudEvents the way Eventarc delivers GCS events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from registration.domain.events import DELETED, FINALIZED


def object_data(
    bucket: str,
    name: str,
    generation: int,
    *,
    size: int | None = 100,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    # As GCS sends them: the int64 fields are strings.
    data: dict[str, Any] = {
        "bucket": bucket,
        "name": name,
        "generation": str(generation),
        "metageneration": "1",
        "timeCreated": datetime.now(UTC).isoformat(),
    }
    if size is not None:
        data["size"] = str(size)
    if content_type:
        data["contentType"] = content_type
    if metadata:
        data["metadata"] = metadata
    return data


def headers(event_type: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, str]:
    return {
        "ce-id": event_id or uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{data.get('bucket', 'x')}",
        # Header values are Latin-1 on the wire, so the subject carries the name encoded.
        "ce-subject": "objects/" + quote(str(data.get("name", "")), safe="/"),
        "ce-time": datetime.now(UTC).isoformat(),
        "Content-Type": "application/json",
    }


def post(
    url: str,
    event_type: str,
    data: dict[str, Any] | bytes | str,
    *,
    event_id: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 120,
) -> requests.Response:
    body = data if isinstance(data, bytes | str) else json.dumps(data)
    meta = data if isinstance(data, dict) else {}
    sender = session or requests
    return sender.post(url, data=body, headers=headers(event_type, meta, event_id), timeout=timeout)


def finalize(url: str, data: dict[str, Any], **kwargs: Any) -> requests.Response:
    return post(url, FINALIZED, data, **kwargs)


def delete(url: str, data: dict[str, Any], **kwargs: Any) -> requests.Response:
    return post(url, DELETED, data, **kwargs)
