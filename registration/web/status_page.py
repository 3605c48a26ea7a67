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

import importlib.resources
from collections.abc import Mapping
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from registration.presenters.display import (
    ATTENTION_LABELS,
    ENCORD_KINDS,
    MISSING,
    SORT_LABELS,
    STATES,
    TYPES,
    Filters,
    Sort,
    encord_summary,
    relative_age,
    select_rows,
    type_label,
    type_of,
)
from registration.services.status import (
    Attention,
    AttentionKind,
    BufferDetail,
    StatusView,
)
from registration.visible import visible

# Shared with the CLI (registration/presenters/display.py); named here for the page's tests.
__all__ = ["Filters", "Sort", "relative_age", "render_detail", "render_overview", "select_rows"]

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
