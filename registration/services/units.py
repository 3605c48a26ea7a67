"""A batch's members -> the units of its manifest, ordered so a rewrite gives the same bytes."""

from __future__ import annotations

from collections.abc import Sequence

from registration import logs
from registration.domain.grouping import dicom_series, image_groups
from registration.domain.limits import RECOMMENDED_SEQUENCE_FRAMES
from registration.domain.model import BatchRecord, ManifestKey, ManifestUnit, StorageObject
from registration.services.ports import Context


def units_of(
    ctx: Context, batch: BatchRecord, members: Sequence[StorageObject]
) -> list[ManifestUnit]:
    """The manifest's units, ordered so that a rewrite after a crash gives the same bytes."""
    buffer = batch.buffer
    if not buffer.grouped:
        ordered: list[ManifestUnit] = sorted(members, key=_name_then_generation)
        return ordered
    if batch.seq > 1:
        logs.warning(
            "files arrived after an earlier group of this folder was sealed; they form a new group",
            batch=batch.seq,
            items=len(members),
            buffer=buffer.label,
        )
    if buffer.key is ManifestKey.DICOM_SERIES:
        return list(dicom_series(buffer, batch.seq, members))
    groups = image_groups(buffer, batch.seq, members, ctx.settings.max_sequence_frames)
    if buffer.create_video and len(members) > RECOMMENDED_SEQUENCE_FRAMES:
        logs.warning(
            "image sequence longer than Encord recommends",
            frames=len(members),
            recommended=RECOMMENDED_SEQUENCE_FRAMES,
            parts=len(groups),
            buffer=buffer.label,
        )
    return list(groups)


def _name_then_generation(obj: ManifestUnit) -> tuple[str, int]:
    assert isinstance(obj, StorageObject)
    return (obj.name, obj.generation)
