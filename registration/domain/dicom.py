"""Series identity and order from the first bytes of a DICOM file (pure; no pixel data)."""

from __future__ import annotations

import io
from dataclasses import dataclass

# The preamble, 'DICM' and the file meta group come first; series and instance tags sit in
# the main dataset before the pixel data. 64 KiB holds them for all but exotic headers.
HEADER_BYTES = 64 * 1024
MAGIC_OFFSET = 128
MAGIC = b"DICM"


@dataclass(frozen=True)
class SeriesInfo:
    series_uid: str | None
    instance_number: int | None


def has_magic(head: bytes) -> bool:
    return head[MAGIC_OFFSET : MAGIC_OFFSET + len(MAGIC)] == MAGIC


def series_info(head: bytes) -> SeriesInfo:
    """Parse what the header holds; a truncated or odd header gives what could be read."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        dataset = dcmread(
            io.BytesIO(head),
            stop_before_pixels=True,
            force=True,
            specific_tags=["SeriesInstanceUID", "InstanceNumber"],
        )
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError):
        return SeriesInfo(None, None)
    uid = dataset.get("SeriesInstanceUID")
    number = dataset.get("InstanceNumber")
    try:
        instance = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        instance = None
    return SeriesInfo(str(uid) if uid else None, instance)
