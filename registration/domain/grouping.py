"""Members of a sealed group buffer -> the Encord group elements of one manifest (pure)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from registration.domain.limits import MAX_TITLE_CHARS
from registration.domain.model import BufferRef, GroupUnit, StorageObject

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """'frame2' sorts before 'frame10': digit runs compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdecimal() else (1, part.casefold())
        for part in _DIGITS.split(name)
        if part
    )


def natural_order(members: Sequence[StorageObject]) -> list[StorageObject]:
    return sorted(members, key=lambda obj: (natural_key(obj.name), obj.name))


def fit_title(base: str, suffix: str = "") -> str:
    """base + suffix within Encord's title limit: a long base keeps its end, after '…'.

    The end is kept because it tells groups apart (the deepest folders, the file name).
    suffix must leave room for at least two characters of base; callers keep it short.
    """
    room = MAX_TITLE_CHARS - len(suffix)
    if room < 2:
        raise ValueError(f"title suffix of {len(suffix)} characters leaves no room")
    if len(base) <= room:
        return base + suffix
    return "…" + base[len(base) - (room - 1) :] + suffix


def group_title(buffer: BufferRef, seq: int, part: int | None = None) -> str:
    """The folder names the group; later batches of one folder and split parts say so."""
    base = buffer.folder or buffer.bucket
    suffix = ""
    if seq > 1:
        suffix += f" (batch {seq})"
    if part is not None:
        suffix += f" (part {part})"
    return fit_title(base, suffix)


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


# A DICOM UID is at most 64 characters (PS3.5 §9.1); a longer "UID" from a hostile header
# is shortened to its head and a hash, so a label never crowds the folder out of a title.
_MAX_UID_LABEL = 64
NO_SERIES_UID = " [no series uid]"


def series_label(uid: str) -> str:
    """' [series UID]', with a UID over 64 characters cut to its head and a hash of the whole."""
    if len(uid) > _MAX_UID_LABEL:
        digest = hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        uid = f"{uid[:40]}…{digest}"
    return f" [series {uid}]"


def unique_titles(titles: Sequence[tuple[str, str]]) -> list[str]:
    """fit_title(base, label) for each pair, made unique by a ' #n' counter where equal."""
    seen: set[str] = set()
    result = []
    for base, label in titles:
        title = fit_title(base, label)
        counter = 1
        while title in seen:
            counter += 1
            title = fit_title(base, f"{label} #{counter}")
        seen.add(title)
        result.append(title)
    return result


def dicom_series(buffer: BufferRef, seq: int, members: Sequence[StorageObject]) -> list[GroupUnit]:
    """One series per SeriesInstanceUID in the folder (files without one form their own).

    Titles are unique and at most 300 characters by construction: the folder (or bucket)
    names the series, a label names the UID when the folder holds several, and a counter
    separates whatever still collides.
    """
    by_series: dict[str | None, list[StorageObject]] = {}
    for obj in members:
        by_series.setdefault(obj.series_uid or None, []).append(obj)
    several = len(by_series) > 1
    uids = sorted(by_series, key=lambda uid: (uid is not None, uid or ""))
    base = buffer.folder or buffer.bucket
    batch = f" (batch {seq})" if seq > 1 else ""
    labels = [
        batch + ((NO_SERIES_UID if uid is None else series_label(uid)) if several else "")
        for uid in uids
    ]
    titles = unique_titles([(base, label) for label in labels])
    return [
        GroupUnit(title, tuple(sorted(by_series[uid], key=_series_order)))
        for uid, title in zip(uids, titles, strict=True)
    ]
