"""Moving data written in the layout before the redesign into today's (pure).

Before the redesign an object's record lived under its buffer (`buffers/{id}/objects/*`),
so a name whose type changed between generations had one record per buffer. Today a name
has one record (`objects/{id}`). When both exist, the one that knows more wins: the newer
generation; for the same generation, the further state (claimed, then deleted, then
pending), so an object already in a manifest is never buffered a second time.
"""

from __future__ import annotations

from dataclasses import dataclass

from registration.domain.found import Unreadable
from registration.domain.lifecycle import ObjectRecord, ObjectState

# The layout documents carry in their `schema` field from now on; none means the layout
# before the redesign (docs/upgrade.md).
SCHEMA_VERSION = 2

_FURTHER = {ObjectState.PENDING: 0, ObjectState.DELETED: 1, ObjectState.CLAIMED: 2}


def old_record_wins(old: ObjectRecord, current: ObjectRecord | None) -> bool:
    """Whether a record of the old layout replaces the name's record in today's."""
    if current is None:
        return True
    if old.generation != current.generation:
        return old.generation > current.generation
    return _FURTHER[old.state] > _FURTHER[current.state]


@dataclass(frozen=True)
class BufferMigration:
    """What moving one buffer's old documents did."""

    buffer: str
    records_moved: int = 0
    # Old records dropped because today's layout already held one that knows more.
    records_superseded: int = 0
    batches_upgraded: int = 0
    unreadable: tuple[Unreadable, ...] = ()
