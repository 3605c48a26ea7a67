"""Cloud Storage: read an object's header, list and stat objects, write a manifest.

The only code that talks to Cloud Storage. One class serves two ports (SourceBucket and
ManifestWriter) because both are the same client; the use cases see only the port they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.cloud.storage as storage
from google.api_core.exceptions import NotFound

from registration.domain.model import StorageObject


class CloudStorage:
    """Implements services.ports.SourceBucket and ManifestWriter."""

    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def write(self, bucket: str, path: str, data: bytes, content_type: str) -> None:
        # Same batch, same name, same bytes: rewriting after a crash is harmless, and
        # skip_duplicate_urls makes Encord ignore a manifest it has already seen.
        blob = self._client.bucket(bucket).blob(path)
        blob.upload_from_string(data, content_type=content_type)

    def read(self, bucket: str, path: str) -> bytes | None:
        """A written manifest, whole (for a retried submission: Encord gets what was written).

        Fetched by name, never through a listed blob's media link: gcp-storage-emulator
        leaves '#' unencoded in those links, and a folder may hold one.
        """
        blob = self._client.bucket(bucket).blob(path)
        try:
            data: bytes = blob.download_as_bytes()
        except NotFound:
            return None
        return data

    def read_head(self, bucket: str, name: str, length: int) -> bytes | None:
        blob = self._client.bucket(bucket).blob(name)
        try:
            data: bytes = blob.download_as_bytes(start=0, end=length - 1)
        except NotFound:
            return None
        return data

    # Listing and stat serve backfill, reconcile and trace, never the per-event path.

    def list_objects(
        self, bucket: str, prefix: str, start_after: str | None = None
    ) -> Iterator[StorageObject]:
        """Live objects under prefix in name order, those after start_after only.

        start_offset lets Cloud Storage skip the done part of a resumed listing; the name
        filter repeats it because start_offset is inclusive (and emulators ignore it).
        """
        blobs = self._client.list_blobs(
            bucket, prefix=prefix or None, start_offset=start_after, page_size=LIST_PAGE_SIZE
        )
        for blob in blobs:
            if start_after is not None and blob.name <= start_after:
                continue
            yield _storage_object(bucket, blob)

    def stat(self, bucket: str, name: str) -> StorageObject | None:
        """The live generation of one object, or None if there is none."""
        blob = self._client.bucket(bucket).get_blob(name)
        return None if blob is None else _storage_object(bucket, blob)


# The API's largest page: fewest round trips per listed object.
LIST_PAGE_SIZE = 1000


def _storage_object(bucket: str, blob: Any) -> StorageObject:
    return StorageObject(
        bucket=bucket,
        name=blob.name,
        generation=int(blob.generation),
        size=None if blob.size is None else int(blob.size),
        content_type=blob.content_type or None,
        time_created=blob.time_created,
        custom_metadata={str(k): str(v) for k, v in (blob.metadata or {}).items()},
    )
