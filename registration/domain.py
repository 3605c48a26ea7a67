"""Plain data types shared by the pure core and the adapters (no I/O, no google.cloud)."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


def stable_id(*parts: str) -> str:
    """A document id for values that ids cannot hold ('/', 1 KiB names, '__x__'): the first
    40 hex digits of SHA-256 over the parts joined by newlines (docs/firestore-schema.md)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


class ManifestKey(enum.StrEnum):
    """Encord's top-level manifest keys; one buffer and one manifest per key and folder."""

    IMAGES = "images"
    VIDEOS = "videos"
    AUDIO = "audio"
    PDFS = "pdfs"
    TEXT = "text"
    NIFTI = "nifti"
    IMAGE_GROUPS = "image_groups"
    DICOM_SERIES = "dicom_series"


class RejectionReason(enum.StrEnum):
    """Why an object can never be registered. Recorded where ops can see it."""

    FOLDER_PLACEHOLDER = "folder_placeholder"
    HIDDEN_FILE = "hidden_file"
    UNKNOWN_TYPE = "unknown_type"
    NAME_TOO_LONG = "name_too_long"
    OVERWRITTEN_AFTER_REGISTRATION = "overwritten_after_registration"
    DELETED_AFTER_REGISTRATION = "deleted_after_registration"


@dataclass(frozen=True)
class StorageObject:
    """One generation of one GCS object, as described by a storage event."""

    bucket: str
    name: str
    generation: int
    size: int | None = None
    content_type: str | None = None
    metageneration: int | None = None
    time_created: datetime | None = None
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    # Read from the header of DICOM files, where it can be read; they split and order series.
    series_uid: str | None = None
    instance_number: int | None = None

    @property
    def folder(self) -> str:
        """Parent path: 'site-a/cam 1' for 'site-a/cam 1/x.jpg', '' for 'x.jpg'."""
        return self.name.rpartition("/")[0]

    @property
    def file_name(self) -> str:
        return self.name.rpartition("/")[2]


@dataclass(frozen=True)
class Accepted:
    """Classification result: the object belongs in the buffer (folder, key)."""

    key: ManifestKey
    folder: str
    # For image groups and sequences: whether Encord should build a video.
    create_video: bool = False


@dataclass(frozen=True)
class Rejected:
    """Classification result: the object can never be registered, and why."""

    reason: RejectionReason
    detail: str


@dataclass(frozen=True)
class Ignored:
    """Classification result: not ours to look at (our own manifests). Not recorded."""

    detail: str


Classification = Accepted | Rejected | Ignored


@dataclass(frozen=True)
class GroupUnit:
    """Several objects registered as one Encord element (image group/sequence, DICOM series)."""

    title: str
    members: tuple[StorageObject, ...]
    create_video: bool = False


ManifestUnit = StorageObject | GroupUnit


@dataclass(frozen=True)
class BufferRef:
    """Identity of one buffer: the objects of one folder and one manifest key in one bucket.

    The bucket is part of the identity because the manifest lands in the event's bucket
    unless REGISTRATION_MANIFEST_BUCKET says otherwise.
    """

    bucket: str
    folder: str
    key: ManifestKey
    # Image groups and image sequences of one folder are different buffers.
    create_video: bool = False

    @property
    def ident(self) -> str:
        """Stable id: folder names may hold '/' or be 1 KiB long, which ids cannot."""
        parts = [self.bucket, self.folder, self.key.value]
        if self.create_video:
            parts.append("sequence")
        return stable_id(*parts)


@dataclass(frozen=True)
class BatchRecord:
    """One claimed batch of a buffer and where its manifest goes."""

    buffer: BufferRef
    seq: int
    state: str
    manifest_bucket: str
    manifest_path: str
    item_count: int
    claimed_at: datetime | None = None
    written_at: datetime | None = None


@dataclass(frozen=True)
class BufferSummary:
    """What a dashboard reads from one buffer document."""

    buffer: BufferRef
    pending: int | None
    oldest_pending_at: datetime | None
    last_arrival_at: datetime | None
    last_flush_at: datetime | None
    last_manifest_path: str | None
    batches_written: int
    objects_registered: int
