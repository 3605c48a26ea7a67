"""What a finished Encord job left behind, and how it is matched to the batch's units (pure).

A job reports its new items by UUID and name (`items_with_names`); the gateway can add each
item's URL. Matching never guesses: an item belongs to a unit when its URL is the unit's one
URL, or when its name is the unit's title and that title and that name are each unique in the
batch and the job. Everything else is reported as unmatched, for status to show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from registration.domain.lifecycle import EncordOutcome, ObjectRecord
from registration.domain.model import BufferRef

# EncordItem is defined beside the job result that lists a finished job's items, and
# re-exported here with the rest of what a job leaves behind.
from registration.domain.submission import FINISHED_STATUSES, JobStatus
from registration.domain.submission import EncordItem as EncordItem


@dataclass(frozen=True)
class JobItems:
    """A job's status and the items it created (empty until it has finished)."""

    job_id: str
    status: JobStatus
    items: tuple[EncordItem, ...]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class LinkOutcome:
    """One link call: the items asked for, and those that got a new data row in the dataset.

    The rest were already linked (duplicates are skipped), so a retried link is harmless.
    """

    dataset_hash: str
    requested: tuple[str, ...]
    linked: tuple[str, ...]

    @property
    def skipped(self) -> tuple[str, ...]:
        new = set(self.linked)
        return tuple(item for item in self.requested if item not in new)


@dataclass(frozen=True)
class ExpectedUnit:
    """One unit of a batch's manifest: its title and its URLs (one, or a group's frames)."""

    title: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class ItemMatch:
    """Which item each unit became; what could not be told apart is left unmatched."""

    matched: tuple[tuple[ExpectedUnit, EncordItem], ...]
    unmatched_units: tuple[ExpectedUnit, ...]
    unmatched_items: tuple[EncordItem, ...]

    @property
    def complete(self) -> bool:
        return not self.unmatched_units and not self.unmatched_items


def match_items(units: Sequence[ExpectedUnit], items: Sequence[EncordItem]) -> ItemMatch:
    """Pair the units a job registered with the items it reports (see the module docstring).

    `units` are the units expected to be registered: the manifest's units less those Encord
    refused or skipped as duplicates. A skipped unit has no new item, so it stays unmatched.
    """
    by_url: dict[str, list[EncordItem]] = {}
    for item in items:
        if item.url is not None:
            by_url.setdefault(item.url, []).append(item)
    titles = Counter(unit.title for unit in units)
    names = Counter(item.name for item in items)
    by_name = {item.name: item for item in items if names[item.name] == 1}

    matched: list[tuple[ExpectedUnit, EncordItem]] = []
    used: set[str] = set()
    for unit in units:
        found: EncordItem | None = None
        if len(unit.urls) == 1 and len(by_url.get(unit.urls[0], ())) == 1:
            found = by_url[unit.urls[0]][0]
        elif titles[unit.title] == 1 and unit.title in by_name:
            candidate = by_name[unit.title]
            # An item whose URL is known to be another file's is not this unit's.
            if candidate.url is None or candidate.url in unit.urls:
                found = candidate
        if found is not None and found.item_uuid not in used:
            used.add(found.item_uuid)
            matched.append((unit, found))
    matched_units = {id(unit) for unit, _ in matched}
    return ItemMatch(
        matched=tuple(matched),
        unmatched_units=tuple(u for u in units if id(u) not in matched_units),
        unmatched_items=tuple(i for i in items if i.item_uuid not in used),
    )


@dataclass(frozen=True)
class ObjectOutcome:
    """What a finished job made of one object generation, to write on its record."""

    bucket: str
    name: str
    generation: int
    outcome: EncordOutcome
    job_id: str
    item_uuid: str | None = None  # the item holding it (a group's for its frames)


@dataclass(frozen=True)
class FollowUp:
    """A registered object's delete or overwrite, waiting to be carried over to Encord."""

    bucket: str
    name: str
    buffer: BufferRef
    record: ObjectRecord  # CLAIMED, with follow_up noted
    item_uuid: str | None
    attempts: int  # item deletions tried (a refusal after one is a lost answer: done)
    failed: str | None = None  # why a person must look (the follow-up is no longer due)
