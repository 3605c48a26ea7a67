"""A validated manifest -> the bytes of Encord's JSON or CSV form (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from registration.domain.limits import MAX_CSV_ENTRIES
from registration.domain.model import ManifestKey
from registration.exceptions import ManifestValidationError
from registration.manifest.schema import CSV_HEADERS, FILES, Manifest, member_urls

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}


def render_json(manifest: Manifest) -> bytes:
    """{"<key>": [...], "skip_duplicate_urls": true} as compact UTF-8 JSON."""
    document = {manifest.key.value: manifest.items, "skip_duplicate_urls": True}
    # Non-ASCII stays as UTF-8 (titles, client metadata); URLs are ASCII by construction.
    return FILES[manifest.key].dump_json(document, by_alias=True)


def render_csv(manifest: Manifest) -> bytes:
    """Encord's CSV form: a header row, then one row per object (per member for groups)."""
    if manifest.url_count > MAX_CSV_ENTRIES:
        raise ManifestValidationError(
            manifest.name,
            f"{manifest.url_count} CSV entries; Encord allows at most {MAX_CSV_ENTRIES} per file",
        )
    buffer = io.StringIO()
    # The default dialect ends rows with CRLF (RFC 4180) and quotes titles that hold
    # commas, quotes or line breaks.
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADERS[manifest.key])
    items = cast(Sequence[Mapping[str, Any]], manifest.items)
    if manifest.key is ManifestKey.IMAGE_GROUPS:
        for item in items:
            # Written out either way: Encord reads a blank Create video as true.
            create_video = "true" if item["create_video"] else "false"
            writer.writerows((url, item["title"], create_video) for url in member_urls(item))
    elif manifest.key is ManifestKey.DICOM_SERIES:
        for item in items:
            writer.writerows((url, item["title"]) for url in member_urls(item))
    else:
        writer.writerows((item["object_url"], item.get("title", "")) for item in items)
    return buffer.getvalue().encode("utf-8")


def render(manifest: Manifest, fmt: Literal["json", "csv"]) -> bytes:
    if fmt == "json":
        return render_json(manifest)
    if fmt == "csv":
        return render_csv(manifest)
    raise ValueError(f"unknown manifest format {fmt!r}")
