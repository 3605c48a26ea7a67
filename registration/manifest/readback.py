"""A written manifest's bytes -> the document Encord is sent (pure).

Encord receives the manifest that was written, never one rebuilt from records: a record
may have expired (retention) or changed since, while the file in the bucket still lists
exactly what was registered. A JSON manifest is sent as written. A CSV manifest is sent as
the JSON its rows say (Encord's upload job takes JSON), so the write-time submission and a
retry read the same file the same way.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from registration.domain.model import ManifestKey

GROUPED = (ManifestKey.IMAGE_GROUPS, ManifestKey.DICOM_SERIES)


def encord_document(key: ManifestKey, data: bytes, fmt: Literal["json", "csv"]) -> dict[str, Any]:
    if fmt == "json":
        document: dict[str, Any] = json.loads(data)
        return document
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1:]  # no header
    items: list[dict[str, Any]]
    if key in GROUPED:
        items = _groups(key, rows)
    else:
        items = [
            {"objectUrl": row[0], **({"title": row[1]} if len(row) > 1 and row[1] else {})}
            for row in rows
            if row
        ]
    return {key.value: items, "skip_duplicate_urls": True}


def _groups(key: ManifestKey, rows: list[list[str]]) -> list[dict[str, Any]]:
    """Consecutive rows of one title (and Create video) are one group, in row order."""
    items: list[dict[str, Any]] = []
    current: tuple[str, ...] | None = None
    for row in filter(None, rows):
        identity = tuple(row[1:])
        if identity != current:
            current = identity
            item: dict[str, Any] = {"title": row[1]}
            if key is ManifestKey.IMAGE_GROUPS:
                item["createVideo"] = row[2].strip().lower() != "false"
            items.append(item)
        members = sum(1 for name in items[-1] if name.startswith("objectUrl_"))
        items[-1][f"objectUrl_{members}"] = row[0]
    return items
