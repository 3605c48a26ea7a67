"""The status read model as HTML pages for people (pure; no I/O but reading its own files).

Two pages, rendered from Jinja2 templates (registration/web/templates/, autoescape on):
the overview (what needs attention first, then one compact row per buffer, then totals and
the recent rejections) and one buffer's detail (its recent batches and the rejections of
its folder). Filters and sort are a plain GET form, applied here over the page's rows, so
they work with JavaScript off; registration/web/static/app.js only makes them instant and
keeps the ages ticking. Script and style are files served by the function itself (asset()),
never inline and never from a CDN, so every page works offline and under SECURITY_HEADERS.

Ages are relative to the view's generated_at (the server's clock). Every value from the
store is user data: autoescaped, shown inside <bdi>, with bidirectional control characters
made visible, and never used as a link target (links carry only buffer ids and the page's
own query).
"""

from __future__ import annotations

import enum
import importlib.resources
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from registration.domain.model import BufferRef, ManifestKey
from registration.services.status import (
    Attention,
    AttentionKind,
    BufferDetail,
    BufferState,
    BufferView,
    StatusView,
    encord_summary,
)
from registration.visible import visible

MISSING = "—"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Every HTML answer carries these (main.py adds them).
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# The page's own files: name -> MIME type. Nothing else is ever served from static/.
ASSETS: Mapping[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

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
    AttentionKind.FOLLOW_UP_FAILED: "Dataset link or job message refused",
}
ENCORD_KINDS = frozenset(
    {
        AttentionKind.SUBMISSION_FAILED,
        AttentionKind.JOB_PENDING_TOO_LONG,
        AttentionKind.JOB_ERRORS,
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
            prefix=args.get("prefix", "").strip().strip("/")[:1024],
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


def age_class(moment: datetime | None, now: datetime, max_age_seconds: int) -> str:
    """The colour of an age against the max age: fresh, half-way, due, past it."""
    if moment is None:
        return "age-none"
    fraction = (now - moment).total_seconds() / max(1, max_age_seconds)
    if fraction >= 1.0:
        return "age-over"
    if fraction >= 0.5:
        return "age-due"
    return "age-ok"


def visible_text(value: object) -> str:
    """The text with controls, bidi and zero-width characters shown as ⟨U+202E⟩ instead of
    obeyed or hidden (registration/visible.py)."""
    return visible(MISSING if value is None or value == "" else str(value))


def user_text(value: object) -> Markup:
    """User data for the page: escaped, isolated in <bdi>, invisible characters shown."""
    return Markup("<bdi>{}</bdi>").format(visible_text(value))


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


def _age_seconds(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("registration.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["user"] = user_text
    env.filters["plain"] = visible_text
    env.globals.update(
        relative_age=relative_age,
        type_label=type_label,
        type_of=type_of,
        age_class=age_class,
        missing=MISSING,
        age_seconds=_age_seconds,
        encord_summary=encord_summary,
    )
    return env


_ENV = _environment()


def _attention_groups(items: list[Attention]) -> list[tuple[str, list[Attention]]]:
    groups: dict[AttentionKind, list[Attention]] = {}
    for item in items:
        groups.setdefault(item.kind, []).append(item)
    return [(ATTENTION_LABELS.get(kind, kind.value), found) for kind, found in groups.items()]


def render_overview(view: StatusView, filters: Filters | None = None) -> str:
    """The overview page of one status page (view) with the filters applied to its rows."""
    filters = filters or Filters()
    rows = select_rows(view.buffers, filters)
    totals = view.totals
    return _ENV.get_template("overview.html").render(
        view=view,
        now=view.generated_at,
        filters=filters,
        rows=rows,
        attention_groups=_attention_groups(view.attention),
        encord_failures=[item for item in view.attention if item.kind in ENCORD_KINDS],
        not_shown=max(0, totals.buffers - totals.buffers_shown),
        types=TYPES,
        states=STATES,
        sorts=SORT_LABELS,
    )


def render_detail(detail: BufferDetail, now: datetime, max_age_seconds: int) -> str:
    """One buffer's page: its row, its recent batches, the rejections of its folder."""
    return _ENV.get_template("detail.html").render(
        detail=detail,
        row=detail.view,
        now=now,
        max_age_seconds=max_age_seconds,
    )


def render_not_found(ident: str) -> str:
    return _ENV.get_template("not_found.html").render(ident=ident)


def asset(name: str) -> tuple[bytes, str] | None:
    """(content, MIME type) of one of the page's own files, or None for any other name."""
    mimetype = ASSETS.get(name)
    if mimetype is None:
        return None
    data = importlib.resources.files("registration.web").joinpath("static", name).read_bytes()
    return data, mimetype


def escape_text(value: object) -> str:
    """Plain escaped text (for callers outside a template)."""
    return str(escape(visible_text(value)))
