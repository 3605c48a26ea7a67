"""Members of a sealed group buffer -> the Encord group elements of one manifest (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from registration.domain.limits import MAX_TITLE_CHARS
from registration.domain.model import BufferRef, GroupUnit, StorageObject

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """'frame2' sorts before 'frame10': digit runs compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in _DIGITS.split(name)
        if part
    )


def natural_order(members: Sequence[StorageObject]) -> list[StorageObject]:
    return sorted(members, key=lambda obj: (natural_key(obj.name), obj.name))


def group_title(buffer: BufferRef, seq: int, part: int | None = None) -> str:
    """The folder names the group; later batches of one folder and split parts say so."""
    base = buffer.folder or buffer.bucket
    suffix = ""
    if seq > 1:
        suffix += f" (batch {seq})"
    if part is not None:
        suffix += f" (part {part})"
    # Keep the end, which tells groups apart, if the folder path is very long.
    room = MAX_TITLE_CHARS - len(suffix)
    return (base if len(base) <= room else "…" + base[-(room - 1) :]) + suffix


def image_groups(
    buffer: BufferRef, seq: int, members: Sequence[StorageObject], max_frames: int
) -> list[GroupUnit]:
    """One group per batch, split into numbered parts when it exceeds max_frames."""
    ordered = natural_order(members)
    chunks = [ordered[start : start + max_frames] for start in range(0, len(ordered), max_frames)]
    if len(chunks) == 1:
        return [GroupUnit(group_title(buffer, seq), tuple(chunks[0]), buffer.create_video)]
    return [
        GroupUnit(group_title(buffer, seq, part), tuple(chunk), buffer.create_video)
        for part, chunk in enumerate(chunks, start=1)
    ]


def _series_order(obj: StorageObject) -> tuple[int, int, tuple[tuple[int, int | str], ...]]:
    # InstanceNumber first where the header gave one; natural name order otherwise.
    if obj.instance_number is None:
        return (1, 0, natural_key(obj.name))
    return (0, obj.instance_number, natural_key(obj.name))


def dicom_series(buffer: BufferRef, seq: int, members: Sequence[StorageObject]) -> list[GroupUnit]:
    """One series per SeriesInstanceUID in the folder (files without one form their own)."""
    by_series: dict[str, list[StorageObject]] = {}
    for obj in members:
        by_series.setdefault(obj.series_uid or "", []).append(obj)
    units = []
    several = len(by_series) > 1
    for index, uid in enumerate(sorted(by_series), start=1):
        files = sorted(by_series[uid], key=_series_order)
        title = group_title(buffer, seq)
        if several:
            label = f" [series {uid}]" if uid else f" [series {index}]"
            room = MAX_TITLE_CHARS - len(label)
            title = (title if len(title) <= room else "…" + title[-(room - 1) :]) + label
        units.append(GroupUnit(title, tuple(files)))
    return units
