"""How the read models are shown to people, on the page and in the terminal alike:
relative ages, type labels, the attention headings, and the overview's filters and rows."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from registration.domain.model import BatchRecord, BufferQuery, BufferRef, ManifestKey
from registration.services.status import AttentionKind, BufferState, BufferView

MISSING = "—"

SEQUENCE_TYPE = "image_sequences"
TYPES = (*(key.value for key in ManifestKey), SEQUENCE_TYPE)
STATES = tuple(state.value for state in BufferState)
STATE_ORDER = {state: index for index, state in enumerate(BufferState)}


class Sort(enum.StrEnum):
    FOLDER = "folder"  # the read model's order: bucket, folder, type
    URGENCY = "urgency"  # stuck, overdue, pending, idle; then the oldest first
    AGE = "age"  # oldest pending first
    FILL = "fill"  # fullest buffer first


_SORTS = {sort.value: sort for sort in Sort}
SORT_LABELS = {
    Sort.FOLDER: "folder",
    Sort.URGENCY: "urgency",
    Sort.AGE: "oldest pending",
    Sort.FILL: "fill",
}

# Headings of the attention list, in the read model's order of urgency.
ATTENTION_LABELS = {
    AttentionKind.STUCK_BATCH: "Stuck batch",
    AttentionKind.INVALID_BATCH: "Invalid batch",
    AttentionKind.OVERDUE_BUFFER: "Overdue buffer",
    AttentionKind.SUBMISSION_FAILED: "Encord submission failed",
    AttentionKind.JOB_PENDING_TOO_LONG: "Encord job pending too long",
    AttentionKind.JOB_ERRORS: "Encord job with errors",
    AttentionKind.JOB_CANCELLED: "Encord job cancelled",
    AttentionKind.FOLLOW_UP_FAILED: "Dataset link, job message or item delete refused",
}
ENCORD_KINDS = frozenset(
    {
        AttentionKind.SUBMISSION_FAILED,
        AttentionKind.JOB_PENDING_TOO_LONG,
        AttentionKind.JOB_ERRORS,
        AttentionKind.JOB_CANCELLED,
        AttentionKind.FOLLOW_UP_FAILED,
    }
)


@dataclass(frozen=True)
class Filters:
    """The overview's query: ?prefix=&type=&state=&sort=&cursor=&all=1 (all optional)."""

    prefix: str = ""
    type: str = ""
    state: str = ""
    sort: Sort = Sort.FOLDER
    cursor: str | None = None
    everything: bool = False

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> Filters:
        """Lenient: an unknown type, state or sort is ignored rather than an error page."""
        kind = args.get("type", "")
        state = args.get("state", "")
        sort = args.get("sort", "")
        return cls(
            prefix=clean_prefix(args.get("prefix", "")),
            type=kind if kind in TYPES else "",
            state=state if state in STATES else "",
            sort=_SORTS.get(sort, Sort.FOLDER),
            cursor=args.get("cursor") or None,
            everything=args.get("all", "") in ("1", "true", "yes", "on"),
        )

    @property
    def include_idle(self) -> bool:
        """Idle buffers are hidden by default; asking for them (all or state=idle) lists them."""
        return self.everything or self.state == BufferState.IDLE.value

    def query(self, **changes: Any) -> str:
        """This query with changes, as '?a=b' (empty values left out)."""
        updated = replace(self, **changes)
        pairs = {
            "prefix": updated.prefix,
            "type": updated.type,
            "state": updated.state,
            "sort": "" if updated.sort is Sort.FOLDER else updated.sort.value,
            "all": "1" if updated.everything else "",
            "cursor": updated.cursor or "",
        }
        encoded = urlencode({name: value for name, value in pairs.items() if value})
        return "?" + encoded if encoded else "?"

    @property
    def active(self) -> bool:
        return bool(self.prefix or self.type or self.state)

    def buffer_query(self) -> BufferQuery:
        """The prefix and type, as the query the store answers."""
        if not self.type:
            return BufferQuery(prefix=self.prefix)
        if self.type == SEQUENCE_TYPE:
            return BufferQuery(self.prefix, ManifestKey.IMAGE_GROUPS, sequence=True)
        key = ManifestKey(self.type)
        sequence = False if key is ManifestKey.IMAGE_GROUPS else None
        return BufferQuery(self.prefix, key, sequence)

    def buffer_state(self) -> BufferState | None:
        return BufferState(self.state) if self.state else None


def clean_prefix(prefix: str) -> str:
    """A folder prefix as typed ('/site-a/ '): no surrounding blanks or slashes, bounded."""
    return prefix.strip().strip("/")[:1024]


def relative_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return MISSING
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def type_of(buffer: BufferRef) -> str:
    """The filterable type of a buffer: its manifest key, or image_sequences."""
    return SEQUENCE_TYPE if buffer.create_video else buffer.key.value


def type_label(buffer: BufferRef) -> str:
    return type_of(buffer).replace("_", " ")


def counts_text(counts: Mapping[str, int] | None) -> str:
    """{'unknown_type': 2, 'hidden_file': 1} as 'hidden_file: 1, unknown_type: 2'."""
    if not counts:
        return MISSING
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))


def select_rows(rows: list[BufferView], filters: Filters) -> list[BufferView]:
    """The page's rows that match the filters, in the requested order."""
    chosen = [
        row
        for row in rows
        if row.buffer.folder.startswith(filters.prefix)
        and (not filters.type or type_of(row.buffer) == filters.type)
        and (not filters.state or row.state.value == filters.state)
    ]
    keys: dict[Sort, Callable[[BufferView], Any]] = {
        Sort.URGENCY: lambda row: (STATE_ORDER[row.state], _timestamp(row.oldest_pending_at)),
        Sort.AGE: lambda row: _timestamp(row.oldest_pending_at),
        Sort.FILL: lambda row: -row.pending / max(1, row.batch_size),
    }
    key = keys.get(filters.sort)
    return sorted(chosen, key=key) if key else chosen


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("inf")


def encord_summary(batch: BatchRecord) -> str:
    """One line for a batch's row on the detail page: job, items matched, links."""
    submission = batch.submission
    if submission is None:
        return ""
    parts = [submission.state.value]
    if submission.items_matched is not None:
        parts.append(f"{submission.items_matched} items matched")
        if submission.items_unmatched:
            parts.append(f"{submission.items_unmatched} unmatched")
    parts += [f"{link.dataset[:8]}… {link.state.value}" for link in submission.links]
    if submission.notify_problem:
        parts.append("notification refused")
    return ", ".join(parts)
