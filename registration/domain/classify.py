"""StorageObject -> the buffer it belongs to, or the reason it can never be registered (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from registration.domain.limits import MAX_TITLE_CHARS, MAX_URL_BYTES
from registration.domain.model import (
    Accepted,
    Classification,
    Ignored,
    ManifestKey,
    Rejected,
    RejectionReason,
    StorageObject,
)

EXTENSIONS: dict[str, ManifestKey] = {
    **dict.fromkeys(
        ("jpg", "jpeg", "png", "webp", "avif", "bmp", "tif", "tiff"), ManifestKey.IMAGES
    ),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv"), ManifestKey.VIDEOS),
    **dict.fromkeys(("mp3", "wav", "flac", "m4a", "aac", "ogg"), ManifestKey.AUDIO),
    "pdf": ManifestKey.PDFS,
    **dict.fromkeys(("txt", "html", "htm", "json", "xml", "csv", "md"), ManifestKey.TEXT),
    **dict.fromkeys(("nii", "nii.gz"), ManifestKey.NIFTI),
    **dict.fromkeys(("dcm", "dicom"), ManifestKey.DICOM_SERIES),
}

# Content types are only a fallback for names without a known extension. Only types
# whose format Encord supports are mapped; 'image/svg+xml', say, stays unknown.
CONTENT_TYPES: dict[str, ManifestKey] = {
    **dict.fromkeys(
        (
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/avif",
            "image/bmp",
            "image/tiff",
        ),
        ManifestKey.IMAGES,
    ),
    **dict.fromkeys(
        ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska"), ManifestKey.VIDEOS
    ),
    **dict.fromkeys(
        (
            "audio/mpeg",
            "audio/wav",
            "audio/x-wav",
            "audio/wave",
            "audio/flac",
            "audio/x-flac",
            "audio/mp4",
            "audio/x-m4a",
            "audio/aac",
            "audio/ogg",
        ),
        ManifestKey.AUDIO,
    ),
    "application/pdf": ManifestKey.PDFS,
    **dict.fromkeys(
        (
            "text/plain",
            "text/html",
            "application/json",
            "application/xml",
            "text/xml",
            "text/csv",
            "text/markdown",
        ),
        ManifestKey.TEXT,
    ),
    **dict.fromkeys(("application/x-nifti", "application/x-nifti-gz"), ManifestKey.NIFTI),
    "application/dicom": ManifestKey.DICOM_SERIES,
}


def extension_of(file_name: str) -> str:
    lowered = file_name.lower()
    if lowered.endswith(".nii.gz"):
        return "nii.gz"
    stem, dot, extension = lowered.rpartition(".")
    return extension if dot and stem else ""


def key_for(obj: StorageObject, *, has_dicom_magic: bool = False) -> ManifestKey | None:
    """The manifest key by extension, then content type, then the DICOM magic bytes."""
    by_extension = EXTENSIONS.get(extension_of(obj.file_name))
    if by_extension is not None:
        return by_extension
    content_type = (obj.content_type or "").split(";")[0].strip().lower()
    by_content_type = CONTENT_TYPES.get(content_type)
    if by_content_type is not None:
        return by_content_type
    return ManifestKey.DICOM_SERIES if has_dicom_magic else None


def may_be_headerless_dicom(obj: StorageObject) -> bool:
    """Worth reading the first bytes: no extension and no content type that decides."""
    return extension_of(obj.file_name) == "" and key_for(obj) is None


# The longer of the two URL styles (manifest/urls.py): judged by it, an object fits either.
_LONGEST_URL_HEAD = "https://storage.cloud.google.com/"


def url_bytes(obj: StorageObject) -> int:
    """Bytes of the object's https objectUrl, percent-encoded as manifest/urls.py does."""
    encoded = quote(obj.name, safe="/", encoding="utf-8", errors="surrogatepass")
    return len(_LONGEST_URL_HEAD) + len(obj.bucket) + 1 + len(encoded)


def _longest_matching_prefix(name: str, prefixes: Sequence[str]) -> int:
    return max((len(prefix) for prefix in prefixes if name.startswith(prefix)), default=-1)


def _quote_name(name: str) -> str:
    return repr(name) if len(name) <= 120 else f"{name[:60]!r}...{name[-60:]!r}"


def classify(
    obj: StorageObject,
    *,
    manifest_prefix: str,
    image_group_prefixes: Sequence[str] = (),
    image_sequence_prefixes: Sequence[str] = (),
    has_dicom_magic: bool = False,
) -> Classification:
    if obj.name.startswith(manifest_prefix):
        # Our own output: recording it would be noise, acting on it would loop.
        return Ignored(f"{obj.name!r} is under the manifest prefix {manifest_prefix!r}")
    if obj.name.endswith("/"):
        return Rejected(RejectionReason.FOLDER_PLACEHOLDER, f"{obj.name!r} is a folder placeholder")
    if any(segment.startswith(".") for segment in obj.name.split("/")):
        return Rejected(RejectionReason.HIDDEN_FILE, f"{obj.name!r} has a hidden path segment")
    if len(obj.file_name) > MAX_TITLE_CHARS:
        return Rejected(
            RejectionReason.NAME_TOO_LONG,
            f"file name of {obj.name!r} has {len(obj.file_name)} characters; "
            f"Encord accepts at most {MAX_TITLE_CHARS}",
        )
    url_size = url_bytes(obj)
    if url_size > MAX_URL_BYTES:
        # Unreachable for a name Cloud Storage allows (1,024 bytes encode to at most 3,072),
        # but an object that can never be written into a manifest must be rejected here,
        # not left to stop its batch.
        return Rejected(
            RejectionReason.URL_TOO_LONG,
            f"the URL of {_quote_name(obj.name)} would be {url_size} bytes; Encord accepts "
            f"at most {MAX_URL_BYTES}",
        )
    key = key_for(obj, has_dicom_magic=has_dicom_magic)
    if key is None:
        return Rejected(
            RejectionReason.UNKNOWN_TYPE,
            f"{obj.name!r} (content type {obj.content_type or 'unknown'}) is no type Encord "
            "registers",
        )
    if key is ManifestKey.IMAGES:
        group = _longest_matching_prefix(obj.name, image_group_prefixes)
        sequence = _longest_matching_prefix(obj.name, image_sequence_prefixes)
        if max(group, sequence) >= 0:
            return Accepted(ManifestKey.IMAGE_GROUPS, obj.folder, create_video=sequence > group)
    return Accepted(key, obj.folder)
