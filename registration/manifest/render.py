"""A validated manifest -> the bytes of Encord's JSON or CSV form (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from registration.domain.limits import MAX_CSV_ENTRIES, MAX_TITLE_CHARS
from registration.domain.model import ManifestKey
from registration.exceptions import ManifestValidationError
from registration.manifest.schema import CSV_HEADERS, FILES, Manifest, member_urls

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}

# A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_cell(text: str) -> str:
    """A title cell a spreadsheet shows as text: a leading quote before a formula start.

    Only titles need it: URLs start with https:// or gs:// and Create video is true/false.
    The quote makes the title one character longer; at Encord's 300-character limit the
    last character gives way (docs/limits.md).
    """
    if text.startswith(FORMULA_STARTS):
        return ("'" + text)[:MAX_TITLE_CHARS]
    return text


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
            title = neutralise_cell(item["title"])
            writer.writerows((url, title, create_video) for url in member_urls(item))
    elif manifest.key is ManifestKey.DICOM_SERIES:
        for item in items:
            title = neutralise_cell(item["title"])
            writer.writerows((url, title) for url in member_urls(item))
    else:
        writer.writerows(
            (item["object_url"], neutralise_cell(item.get("title", ""))) for item in items
        )
    return buffer.getvalue().encode("utf-8")


def render(manifest: Manifest, fmt: Literal["json", "csv"]) -> bytes:
    if fmt == "json":
        return render_json(manifest)
    if fmt == "csv":
        return render_csv(manifest)
    raise ValueError(f"unknown manifest format {fmt!r}")
