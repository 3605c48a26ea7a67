"""Where a batch's manifest goes (pure)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from registration.domain.limits import MAX_MANIFEST_PREFIX_BYTES, MAX_OBJECT_NAME_BYTES
from registration.domain.model import BufferRef

# Hex digits of SHA-256 over the whole folder that stand in for a shortened folder's tail.
_FOLDER_HASH_CHARS = 16


def batch_name(buffer: BufferRef, seq: int, claimed_at: datetime) -> str:
    # The sequence number orders a buffer's manifests; the claim time keeps names unique
    # even if the Firestore state is ever reset while old manifests stay in the bucket; the
    # buffer tag keeps apart buffers that share a path (two source buckets writing to one
    # manifest bucket, or a group and a sequence buffer of one folder).
    return f"{seq:06d}-{claimed_at:%Y%m%dT%H%M%SZ}-{buffer.ident[:8]}"


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def shortened_folder(folder: str, max_bytes: int) -> str:
    """The folder in at most max_bytes of UTF-8: a readable head, '~', a hash of the whole.

    The head is cut on a character boundary; the hash keeps distinct folders apart.
    Deterministic: one folder always gives one result.
    """
    if len(_utf8(folder)) <= max_bytes:
        return folder
    digest = hashlib.sha256(_utf8(folder)).hexdigest()[:_FOLDER_HASH_CHARS]
    room = max_bytes - len(digest) - 1
    if room < 0:
        raise ValueError(f"no room for a folder in {max_bytes} bytes")
    head = _utf8(folder)[:room].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def manifest_path(
    prefix: str, buffer: BufferRef, seq: int, claimed_at: datetime, extension: str
) -> str:
    """{prefix}{folder}/{key}/{batch id}.{ext}; the root folder adds no empty segment.

    The path is an object name, so it fits Cloud Storage's 1,024 bytes of UTF-8 for every
    folder Cloud Storage allows: a folder that would push it past is shortened to a head
    and a hash of the whole folder (shortened_folder). That works for prefixes up to
    MAX_MANIFEST_PREFIX_BYTES (docs/limits.md).
    """
    tail = f"{buffer.key.value}/{batch_name(buffer, seq, claimed_at)}.{extension}"
    if not buffer.folder:
        return f"{prefix}{tail}"
    # Room as if the sequence number had 10 digits, so a buffer's folder part never
    # changes as its numbers grow; the 1 is the '/' after the folder.
    reserved = len(_utf8(tail)) - len(f"{seq:06d}") + 10 + 1
    room = MAX_OBJECT_NAME_BYTES - len(_utf8(prefix)) - reserved
    if len(_utf8(prefix)) > MAX_MANIFEST_PREFIX_BYTES:
        room = max(room, _FOLDER_HASH_CHARS + 1)  # still unique; GCS will refuse the name
    return f"{prefix}{shortened_folder(buffer.folder, room)}/{tail}"
