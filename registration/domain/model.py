"""Value types and state enums shared by the pure core, the use cases and the adapters.

No I/O, no google.cloud, no config: the adapters return these types, so the ports that
name them need nothing from the adapters.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from registration.domain.lifecycle import ObjectState
from registration.domain.links import DatasetLink
from registration.domain.submission import SubmissionState


def stable_id(*parts: str) -> str:
    """A document id for values that ids cannot hold ('/', 1 KiB names, '__x__'): the first
    40 hex digits of SHA-256 over the parts joined by newlines (docs/firestore-schema.md)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


def is_stable_id(text: str) -> bool:
    """Whether text can be a stable_id (40 lowercase hex digits): anything else, such as a
    path with '/', names no document and must never reach the store as an id."""
    return len(text) == 40 and all(char in "0123456789abcdef" for char in text)


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


# Keys whose manifest items are groups of objects: sealed when their folder goes quiet.
GROUPED_KEYS = frozenset({ManifestKey.IMAGE_GROUPS, ManifestKey.DICOM_SERIES})


class RejectionReason(enum.StrEnum):
    """Why an object can never be registered. Recorded where ops can see it."""

    FOLDER_PLACEHOLDER = "folder_placeholder"
    HIDDEN_FILE = "hidden_file"
    UNKNOWN_TYPE = "unknown_type"
    NAME_TOO_LONG = "name_too_long"
    URL_TOO_LONG = "url_too_long"
    # A batch whose manifest failed validation: its objects are rejected, never retried.
    MANIFEST_INVALID = "manifest_invalid"
    # Encord refused the file in its upload job (its error text is in the detail).
    ENCORD_REFUSED = "encord_refused"
    # Firestore refused the object's record as invalid (a value it cannot store).
    RECORD_REFUSED = "record_refused"
    OVERWRITTEN_AFTER_REGISTRATION = "overwritten_after_registration"
    DELETED_AFTER_REGISTRATION = "deleted_after_registration"
    # An event Cloud Storage could not have sent (a CR in the name, a generation out of
    # range, 5 MB of metadata) that still names a bucket and an object: acknowledged, and
    # recorded here so that ops see it, not only a log line.
    MALFORMED_EVENT = "malformed_event"


@dataclass(frozen=True)
class StorageObject:
    """One generation of one GCS object, as described by a storage event."""

    bucket: str
    name: str
    generation: int
    size: int | None = None
    content_type: str | None = None
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

    def buffer_in(self, bucket: str) -> BufferRef:
        """The buffer an accepted object of this bucket waits in."""
        return BufferRef(bucket, self.folder, self.key, self.create_video)


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
    def label(self) -> str:
        """How logs and errors name the buffer: bucket/folder:key."""
        return f"{self.bucket}/{self.folder}:{self.key.value}"

    @property
    def grouped(self) -> bool:
        """Whether the buffer's units are groups (sealed by quiet time, never by count)."""
        return self.key in GROUPED_KEYS

    @cached_property
    def ident(self) -> str:
        """Stable id: folder names may hold '/' or be 1 KiB long, which ids cannot. Cached:
        every event needs it several times, and it is a SHA-256."""
        parts = [self.bucket, self.folder, self.key.value]
        if self.create_video:
            parts.append("sequence")
        return stable_id(*parts)


class BatchState(enum.StrEnum):
    """A batch document's life: leased, then its members bound, then its manifest written."""

    CLAIMING = "claiming"  # the lease: one instance may claim this batch number
    CLAIMED = "claimed"  # members bound to it; its manifest may still need writing
    WRITTEN = "written"  # the manifest is in the bucket
    INVALID = "invalid"  # its manifest failed validation; its members were rejected


@dataclass(frozen=True)
class Submission:
    """Where a written batch's Encord upload job stands (domain/submission.py)."""

    state: SubmissionState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    job_id: str | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    units_done: int = 0
    units_error: int = 0
    problem: str | None = None
    job_status: str | None = None  # what the last poll said (PENDING, DONE, ...)
    units_pending: int = 0
    units_cancelled: int = 0
    last_polled_at: datetime | None = None
    # What followed the job's end (issue 20), recorded with it: items matched to units (None
    # before the end), the first few units left unmatched (titles), the items (for linking),
    # when the notification was accepted or why it was not, and one link per dataset.
    items_matched: int | None = None
    items_unmatched: int | None = None
    unmatched: tuple[str, ...] = ()
    item_uuids: tuple[str, ...] = ()
    notified_at: datetime | None = None
    notify_problem: str | None = None
    links: tuple[DatasetLink, ...] = ()


class LeaseOutcome(enum.StrEnum):
    """What trying to lease a batch number found."""

    ACQUIRED = "acquired"  # we may claim this batch number
    HELD = "held"  # another instance is claiming it right now
    ALREADY_CLAIMED = "already_claimed"  # claimed; its manifest may still need writing
    ALREADY_WRITTEN = "already_written"  # finished; move on to the next number


@dataclass(frozen=True)
class BatchRecord:
    """One claimed batch of a buffer and where its manifest goes."""

    buffer: BufferRef
    seq: int
    state: BatchState
    manifest_bucket: str
    manifest_path: str
    item_count: int
    claimed_at: datetime | None = None
    written_at: datetime | None = None
    # Seconds since the batch document last changed, by the store's own clock (Firestore's
    # server time), so that no instance's drifting clock decides whether a lease is dead.
    idle_seconds: float | None = None
    problem: str | None = None  # why it is INVALID
    submission: Submission | None = None  # None: no Encord target when it was written

    @property
    def manifest_url(self) -> str:
        """Where its manifest is (or will be), as gs://BUCKET/PATH."""
        return gs_url(self.manifest_bucket, self.manifest_path)

    def abandoned(self, lease_seconds: int) -> bool:
        """Claimed, and untouched for longer than a lease: its writer died mid-flush."""
        return (
            self.state is BatchState.CLAIMED
            and self.idle_seconds is not None
            and self.idle_seconds >= lease_seconds
        )


def gs_url(bucket: str, path: str) -> str:
    """gs://BUCKET/PATH, the one spelling of an object's address for people and logs."""
    return f"gs://{bucket}/{path}"


def split_gs_url(url: str) -> tuple[str, str] | None:
    """gs://BUCKET/PATH -> (bucket, path), the path taken literally; None if it is not one."""
    if not url.startswith("gs://"):
        return None
    bucket, _, path = url.removeprefix("gs://").partition("/")
    return (bucket, path) if bucket and path else None


@dataclass(frozen=True)
class BufferQuery:
    """Which buffers a listing wants: a folder prefix, a manifest key, and for image groups
    whether sequences (True) or groups (False). The store answers it with a query."""

    prefix: str = ""
    key: ManifestKey | None = None
    sequence: bool | None = None

    @property
    def active(self) -> bool:
        return bool(self.prefix) or self.key is not None or self.sequence is not None

    def matches(self, buffer: BufferRef) -> bool:
        return (
            buffer.folder.startswith(self.prefix)
            and (self.key is None or buffer.key is self.key)
            and (self.sequence is None or buffer.create_video is self.sequence)
        )


def prefix_end(prefix: str) -> str:
    """The least string above every string that starts with prefix (a range query's end):
    the last character moved up by one, as Firestore orders strings by code point."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class BufferSummary:
    """What a dashboard reads from one buffer document."""

    buffer: BufferRef
    pending: int | None
    oldest_pending_at: datetime | None
    last_flush_at: datetime | None
    last_manifest_url: str | None  # gs://BUCKET/PATH (the store field keeps its old name)
    batches_written: int
    objects_registered: int


@dataclass(frozen=True)
class PendingBuffer:
    """A buffer with at least one pending object, and when its oldest one arrived."""

    buffer: BufferRef
    oldest_pending_at: datetime


@dataclass(frozen=True)
class ClaimedBatch:
    """A batch just claimed, with the members bound to it."""

    record: BatchRecord
    members: Sequence[StorageObject]


@dataclass(frozen=True)
class RejectionRecord:
    """One recorded rejection, as ops read it."""

    bucket: str
    name: str
    generation: int
    reason: RejectionReason
    detail: str
    folder: str
    recorded_at: datetime


@dataclass(frozen=True)
class StoredObject:
    """One object name's record as ops read it."""

    buffer: BufferRef
    obj: StorageObject
    state: ObjectState
    created_at: datetime | None
    batch: int | None
    source: str | None = None
    deleted_at: datetime | None = None
    # After its job's end (issue 20): "registered" or "refused", the job, and the item.
    encord: str | None = None
    job_id: str | None = None
    item_uuid: str | None = None


@dataclass(frozen=True)
class RejectionCounts:
    """Rejected objects of one folder by reason, exact as of counted_at."""

    bucket: str
    folder: str
    counts: dict[str, int]
    counted_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def object_log_fields(obj: StorageObject) -> dict[str, object]:
    """The fields that name one object generation in every log line."""
    return {"bucket": obj.bucket, "name": obj.name, "generation": obj.generation}
