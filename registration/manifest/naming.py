"""Where a batch's manifest goes (pure)."""

from __future__ import annotations

from datetime import datetime

from registration.domain.model import BufferRef


def batch_name(buffer: BufferRef, seq: int, claimed_at: datetime) -> str:
    # The sequence number orders a buffer's manifests; the claim time keeps names unique
    # even if the Firestore state is ever reset while old manifests stay in the bucket; the
    # buffer tag keeps apart buffers that share a path (two source buckets writing to one
    # manifest bucket, or a group and a sequence buffer of one folder).
    return f"{seq:06d}-{claimed_at:%Y%m%dT%H%M%SZ}-{buffer.ident[:8]}"


def manifest_path(
    prefix: str, buffer: BufferRef, seq: int, claimed_at: datetime, extension: str
) -> str:
    """{prefix}{folder}/{key}/{batch id}.{ext}; the root folder adds no empty segment."""
    folder = f"{buffer.folder}/" if buffer.folder else ""
    return f"{prefix}{folder}{buffer.key.value}/{batch_name(buffer, seq, claimed_at)}.{extension}"
