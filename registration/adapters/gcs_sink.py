"""Writes manifests and reads object headers in Cloud Storage (the only Storage code)."""

from __future__ import annotations

from google.api_core.exceptions import NotFound
from google.cloud import storage  # type: ignore[attr-defined]


class GcsSink:
    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def write(self, bucket: str, path: str, data: bytes, content_type: str) -> None:
        # Same batch, same name, same bytes: rewriting after a crash is harmless, and
        # skip_duplicate_urls makes Encord ignore a manifest it has already seen.
        blob = self._client.bucket(bucket).blob(path)
        blob.upload_from_string(data, content_type=content_type)

    def read_head(self, bucket: str, name: str, length: int) -> bytes | None:
        blob = self._client.bucket(bucket).blob(name)
        try:
            data: bytes = blob.download_as_bytes(start=0, end=length - 1)
        except NotFound:
            return None
        return data
