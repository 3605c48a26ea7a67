"""Units -> one validated Encord manifest; ManifestValidationError names what is wrong (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from registration.domain.limits import (
    MAX_JSON_ITEMS,
    MAX_JSON_URLS,
    MAX_TITLE_CHARS,
    MAX_URL_BYTES,
)
from registration.domain.model import (
    GROUPED_KEYS,
    GroupUnit,
    ManifestKey,
    ManifestUnit,
    StorageObject,
)
from registration.exceptions import ManifestValidationError
from registration.manifest.metadata import metadata_for
from registration.manifest.schema import GROUP_URL_PREFIX, ITEM_LISTS, Item, Manifest
from registration.manifest.urls import UrlBuilder, UrlStyle

# Rows are validated this many at a time, so the unvalidated copy of a 500,000-item manifest
# never exists in full next to the validated one (about 90 MB saved at that size).
_CHUNK = 25_000


def csv_entry_count(units: Sequence[ManifestUnit]) -> int:
    """Rows the CSV form would have: one per single object, one per member of a group."""
    return sum(len(unit.members) if isinstance(unit, GroupUnit) else 1 for unit in units)


def build_manifest(
    key: ManifestKey,
    units: Sequence[ManifestUnit],
    *,
    url_style: UrlStyle = "https",
    name: str = "manifest",
) -> Manifest:
    """Validate units against Encord's format and limits; ManifestValidationError if not.

    Single objects become images/videos/audio/pdfs/text/nifti items titled with their file
    name; GroupUnits become image_groups or dicom_series items, members in the given order.
    """
    key = ManifestKey(key)
    grouped = key in GROUPED_KEYS
    url_count = csv_entry_count(units) if grouped else len(units)
    _check_counts(name, len(units), url_count)
    url_for = UrlBuilder(url_style)
    seen_titles: set[str] = set()
    items: list[Item] = []
    for start in range(0, len(units), _CHUNK):
        chunk = units[start : start + _CHUNK]
        if grouped:
            rows = _group_rows(key, chunk, url_for, name, start, seen_titles)
        else:
            rows = _single_rows(key, chunk, url_for, name, start)
        items.extend(_validate(key, rows, name, chunk, start))
    return Manifest(key=key, name=name, items=items, url_count=url_count)


def _check_counts(name: str, item_count: int, url_count: int) -> None:
    if item_count == 0:
        raise ManifestValidationError(name, "a manifest needs at least one item")
    if item_count > MAX_JSON_ITEMS:
        raise ManifestValidationError(
            name, f"{item_count} items; Encord allows at most {MAX_JSON_ITEMS} per file"
        )
    if url_count > MAX_JSON_URLS:
        raise ManifestValidationError(
            name, f"{url_count} URLs; Encord allows at most {MAX_JSON_URLS} per file"
        )


def _single_rows(
    key: ManifestKey,
    units: Sequence[ManifestUnit],
    url_for: UrlBuilder,
    name: str,
    offset: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    append = rows.append
    text = key is ManifestKey.TEXT
    # Runs once per object of a 500,000-item manifest, so the metadata call is skipped
    # when it could only return {}.
    for unit in units:
        if not isinstance(unit, StorageObject):
            raise ManifestValidationError(
                name,
                f"item {offset + len(rows)}: {key.value} takes single objects, "
                f"got {_describe(unit)}",
            )
        object_name = unit.name
        row: dict[str, Any] = {
            "objectUrl": url_for(unit.bucket, object_name),
            "title": object_name[object_name.rfind("/") + 1 :],
        }
        if text or unit.custom_metadata:
            row.update(metadata_for(unit, key))
        append(row)
    return rows


def _group_rows(
    key: ManifestKey,
    units: Sequence[ManifestUnit],
    url_for: UrlBuilder,
    name: str,
    offset: int,
    seen_titles: set[str],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, unit in enumerate(units, start=offset):
        if not isinstance(unit, GroupUnit):
            raise ManifestValidationError(
                name, f"item {index}: {key.value} takes groups, got {_describe(unit)}"
            )
        if unit.title in seen_titles:
            # Encord's CSV form groups rows by title, and two elements sharing a title
            # could not be told apart in Encord either.
            raise ManifestValidationError(
                name, f"item {index}: group title {_shorten(unit.title)} is used twice"
            )
        seen_titles.add(unit.title)
        row: dict[str, Any] = {"title": unit.title}
        if key is ManifestKey.IMAGE_GROUPS:
            row["createVideo"] = unit.create_video
        elif unit.create_video:
            raise ManifestValidationError(
                name, f"{_describe(unit)}: a DICOM series cannot be made into a video"
            )
        for position, member in enumerate(unit.members):
            if not isinstance(member, StorageObject):
                raise ManifestValidationError(
                    name, f"{_describe(unit)}: member {position} is not a storage object"
                )
            row[f"{GROUP_URL_PREFIX}{position}"] = url_for(member.bucket, member.name)
        rows.append(row)
    return rows


def _validate(
    key: ManifestKey,
    rows: Sequence[Mapping[str, Any]],
    name: str,
    units: Sequence[ManifestUnit] | None,
    offset: int,
) -> list[Item]:
    try:
        return cast(list[Item], ITEM_LISTS[key].validate_python(rows))
    except ValidationError as error:
        raise ManifestValidationError(name, _explain(error, units, offset)) from None


def _explain(error: ValidationError, units: Sequence[ManifestUnit] | None, offset: int) -> str:
    """The first problem, naming the object (or group member) it is about."""
    first = error.errors(include_url=False)[0]
    location = list(first["loc"])
    head = location[0] if location else None
    index = head if isinstance(head, int) else None
    if index is not None:
        del location[0]
    # Validator wrappers add their own names to the location; only field names help.
    field = ".".join(str(part) for part in location if "[" not in str(part))
    subject = "item" if index is None else f"item {offset + index}"
    if units is not None and isinstance(index, int):
        unit = units[index]
        subject = f"{subject}, {_describe(unit)}"
        member = _member_at(unit, field)
        if member is not None:
            subject = f"{subject}, member {_describe(member)}"
    problem = _reword(first["type"], field, first["input"])
    if problem is None and first["type"] == "value_error":
        problem = first["msg"].removeprefix("Value error, ")  # our own validators' words
    if problem is None:
        problem = f"{first['msg']} (got {_shorten(first['input'])})"
    return f"{subject}: {field}: {problem}" if field else f"{subject}: {problem}"


def _reword(error_type: str, field: str, value: object) -> str | None:
    """Encord's terms for the limits most likely to be hit; None keeps pydantic's words."""
    is_url = field == "objectUrl" or field.startswith(GROUP_URL_PREFIX)
    if is_url and error_type == "string_too_long" and isinstance(value, str):
        return f"URL is {len(value.encode())} bytes; Encord allows at most {MAX_URL_BYTES}"
    if is_url and error_type == "string_pattern_mismatch":
        return f"URL must be printable ASCII without whitespace (got {_shorten(value)})"
    if field == "title" and error_type == "string_too_long" and isinstance(value, str):
        return f"title is {len(value)} characters; Encord allows at most {MAX_TITLE_CHARS}"
    return None


def _member_at(unit: ManifestUnit, field: str) -> StorageObject | None:
    if not isinstance(unit, GroupUnit) or not field.startswith(GROUP_URL_PREFIX):
        return None
    position = field.removeprefix(GROUP_URL_PREFIX)
    if position.isdigit() and int(position) < len(unit.members):
        return unit.members[int(position)]
    return None


def _describe(unit: object) -> str:
    if isinstance(unit, StorageObject):
        return f"object {_shorten(unit.name)} in {unit.bucket} (generation {unit.generation})"
    if isinstance(unit, GroupUnit):
        return f"group {_shorten(unit.title)} ({len(unit.members)} members)"
    return type(unit).__name__


def _shorten(value: object, keep: int = 60) -> str:
    # Error text ends up in logs and Firestore; an over-long name must not flood them. The
    # tail is kept too, since that is where the file name is.
    text = repr(value)
    if len(text) <= 2 * keep + 5:
        return text
    return f"{text[:keep]}...{text[-keep:]} ({len(text)} characters)"
