"""What metadata a single-object item carries: only facts, never guesses (pure)."""

from __future__ import annotations

from typing import Any

from registration.domain.model import ManifestKey, StorageObject

OCTET_STREAM = "application/octet-stream"


def metadata_for(obj: StorageObject, key: ManifestKey) -> dict[str, Any]:
    """The optional blocks of a single-object item, in Encord's spelling; {} when none.

    Encord uses supplied metadata without checking it and wrong values corrupt labels, so a
    block is emitted only when every field in it is exact. GCS says nothing exact about
    frame rate, duration, dimensions or page counts, so video, audio, PDF and image
    metadata are never sent; text metadata needs only the size and the MIME type.
    """
    blocks: dict[str, Any] = {}
    if obj.custom_metadata:
        blocks["clientMetadata"] = dict(obj.custom_metadata)
    if key is ManifestKey.TEXT:
        mime_type = _exact_mime_type(obj.content_type)
        if obj.size is not None and mime_type is not None:
            blocks["textMetadata"] = {"fileSize": obj.size, "mime_type": mime_type}
    return blocks


def _exact_mime_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    # "text/plain; charset=utf-8" names the MIME type text/plain; Encord's field holds only
    # the type. Types are case-insensitive (RFC 2045), so lower case loses nothing.
    mime_type = content_type.partition(";")[0].strip().lower()
    if not mime_type or mime_type == OCTET_STREAM:
        return None  # GCS's default when the uploader said nothing: not a fact
    return mime_type
