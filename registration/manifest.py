"""Encord registration manifests for one manifest key: build, validate and render (pure).

Each Encord key has one pydantic item schema below, with Python field names aliased to
Encord's own spellings (objectUrl, clientMetadata, textMetadata, createVideo,
objectUrl_N). The schemas are pydantic-validated TypedDicts rather than BaseModel
classes, and a manifest's items are validated with one TypeAdapter call per chunk and
serialised in one pydantic-core pass. The reason is the 500,000-item target (2 s,
512 MB; see bench/manifest_scale.py): on this 2-core machine, building 500,000 BaseModel
instances alone took 2.2-3 s (TypeAdapter or model_construct alike), while validating
the same list as TypedDicts took about 0.15 s.

CSV columns. Encord's page documents the headings for images (`Image title`), videos
(`Video title`), image groups and sequences (`Image group title`, `Create video`) and
DICOM (`Series title`). It gives none for audio, PDFs, text or NIfTI: the
`Audio title`, `PDF title`, `Text title` and `NIfTI title` headings used here
extrapolate the documented pattern and are not documented by Encord.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypeAlias, cast

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs it before 3.12 and for extra_items

from registration.config import MAX_CSV_ENTRIES, MAX_JSON_ITEMS
from registration.domain import GroupUnit, ManifestKey, ManifestUnit, StorageObject
from registration.exceptions import ManifestValidationError
from registration.urls import UrlStyle, encode_object_name, object_url

__all__ = [
    "CSV_HEADERS",
    "MAX_CSV_ENTRIES",
    "MAX_JSON_ITEMS",
    "MAX_JSON_URLS",
    "MAX_SEQUENCE_FRAMES",
    "MAX_TITLE_CHARS",
    "MAX_URL_BYTES",
    "AudioItem",
    "DicomSeriesItem",
    "ImageGroupItem",
    "ImageItem",
    "Item",
    "Manifest",
    "NiftiItem",
    "PdfItem",
    "TextItem",
    "TextMetadata",
    "VideoItem",
    "build_manifest",
    "csv_entry_count",
    "member_urls",
    "metadata_for",
    "render",
    "render_csv",
    "render_json",
    "validate_items",
]

# Encord's limits (reference page, SPEC §2). MAX_JSON_ITEMS and MAX_CSV_ENTRIES come from
# config.py, which also checks the batch-size settings against them.
MAX_JSON_URLS = 1_000_000
MAX_URL_BYTES = 16 * 1024
MAX_TITLE_CHARS = 300
MAX_SEQUENCE_FRAMES = 32_767

GROUP_URL_PREFIX = "objectUrl_"
OCTET_STREAM = "application/octet-stream"

# Rows are validated this many at a time, so the unvalidated copy of a 500,000-item manifest
# never exists in full next to the validated one (about 90 MB saved at that size).
_CHUNK = 25_000

# Printable ASCII without space: a percent-encoded URL never needs anything else, Encord's CSV
# form forbids whitespace in URLs, and it makes the character limit below a byte limit.
ObjectUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_BYTES, pattern=r"^[!-~]+$")
]
# An empty title would be a folder placeholder's "file name"; Encord needs a real one.
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS)]
ClientMetadata = dict[str, JsonValue]

_STRICT_KEYS = ConfigDict(extra="forbid")


@with_config(_STRICT_KEYS)
class TextMetadata(TypedDict):
    file_size: Annotated[NonNegativeInt, Field(alias="fileSize")]
    # Encord documents this key in snake case, unlike its sibling.
    mime_type: Annotated[str, StringConstraints(min_length=1)]


@with_config(_STRICT_KEYS)
class ImageItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(_STRICT_KEYS)
class VideoItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(_STRICT_KEYS)
class AudioItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(_STRICT_KEYS)
class PdfItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(_STRICT_KEYS)
class TextItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]
    text_metadata: NotRequired[Annotated[TextMetadata, Field(alias="textMetadata")]]


@with_config(_STRICT_KEYS)
class NiftiItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


# objectUrl_0 .. objectUrl_N-1 cannot be declared one by one, so they are the TypedDict's
# extra items (PEP 728), each validated as an ObjectUrl. mypy does not know the class
# keyword yet. _positions_start_at_zero_without_gaps checks the keys' names.
class ImageGroupItem(TypedDict, extra_items=ObjectUrl):  # type: ignore[call-arg]
    title: Title
    create_video: Annotated[bool, Field(alias="createVideo")]


class DicomSeriesItem(TypedDict, extra_items=ObjectUrl):  # type: ignore[call-arg]
    title: Title


Item: TypeAlias = (
    ImageItem
    | VideoItem
    | AudioItem
    | PdfItem
    | TextItem
    | NiftiItem
    | ImageGroupItem
    | DicomSeriesItem
)


def _positions_start_at_zero_without_gaps(declared: frozenset[str]) -> Callable[[Any], Any]:
    def check(item: Any) -> Any:
        positions = [field for field in item if field not in declared]
        if not positions:
            raise ValueError("a group needs at least one member (objectUrl_0)")
        expected = [f"{GROUP_URL_PREFIX}{n}" for n in range(len(positions))]
        if positions != expected:
            raise ValueError(
                f"URL keys must run {expected[0]}..{expected[-1]} in order, got "
                f"{', '.join(positions[:5])}{', ...' if len(positions) > 5 else ''}"
            )
        if item.get("create_video") and len(positions) > MAX_SEQUENCE_FRAMES:
            raise ValueError(
                f"an image sequence holds at most {MAX_SEQUENCE_FRAMES} frames, "
                f"got {len(positions)}"
            )
        return item

    return check


CheckedImageGroupItem = Annotated[
    ImageGroupItem,
    AfterValidator(_positions_start_at_zero_without_gaps(frozenset({"title", "create_video"}))),
]
CheckedDicomSeriesItem = Annotated[
    DicomSeriesItem,
    AfterValidator(_positions_start_at_zero_without_gaps(frozenset({"title"}))),
]


# A whole manifest file per key: serialising through these gives the key first and
# skip_duplicate_urls last in one pydantic-core pass, with no copy of the JSON bytes.
class ImagesFile(TypedDict):
    images: list[ImageItem]
    skip_duplicate_urls: Literal[True]


class VideosFile(TypedDict):
    videos: list[VideoItem]
    skip_duplicate_urls: Literal[True]


class AudioFile(TypedDict):
    audio: list[AudioItem]
    skip_duplicate_urls: Literal[True]


class PdfsFile(TypedDict):
    pdfs: list[PdfItem]
    skip_duplicate_urls: Literal[True]


class TextFile(TypedDict):
    text: list[TextItem]
    skip_duplicate_urls: Literal[True]


class NiftiFile(TypedDict):
    nifti: list[NiftiItem]
    skip_duplicate_urls: Literal[True]


class ImageGroupsFile(TypedDict):
    image_groups: list[CheckedImageGroupItem]
    skip_duplicate_urls: Literal[True]


class DicomSeriesFile(TypedDict):
    dicom_series: list[CheckedDicomSeriesItem]
    skip_duplicate_urls: Literal[True]


_ITEM_LISTS: dict[ManifestKey, TypeAdapter[list[Any]]] = {
    ManifestKey.IMAGES: TypeAdapter(list[ImageItem]),
    ManifestKey.VIDEOS: TypeAdapter(list[VideoItem]),
    ManifestKey.AUDIO: TypeAdapter(list[AudioItem]),
    ManifestKey.PDFS: TypeAdapter(list[PdfItem]),
    ManifestKey.TEXT: TypeAdapter(list[TextItem]),
    ManifestKey.NIFTI: TypeAdapter(list[NiftiItem]),
    ManifestKey.IMAGE_GROUPS: TypeAdapter(list[CheckedImageGroupItem]),
    ManifestKey.DICOM_SERIES: TypeAdapter(list[CheckedDicomSeriesItem]),
}
_FILES: dict[ManifestKey, TypeAdapter[Any]] = {
    ManifestKey.IMAGES: TypeAdapter(ImagesFile),
    ManifestKey.VIDEOS: TypeAdapter(VideosFile),
    ManifestKey.AUDIO: TypeAdapter(AudioFile),
    ManifestKey.PDFS: TypeAdapter(PdfsFile),
    ManifestKey.TEXT: TypeAdapter(TextFile),
    ManifestKey.NIFTI: TypeAdapter(NiftiFile),
    ManifestKey.IMAGE_GROUPS: TypeAdapter(ImageGroupsFile),
    ManifestKey.DICOM_SERIES: TypeAdapter(DicomSeriesFile),
}

GROUP_KEYS = frozenset({ManifestKey.IMAGE_GROUPS, ManifestKey.DICOM_SERIES})

CSV_HEADERS: dict[ManifestKey, tuple[str, ...]] = {
    ManifestKey.IMAGES: ("ObjectUrl", "Image title"),
    ManifestKey.VIDEOS: ("ObjectUrl", "Video title"),
    ManifestKey.IMAGE_GROUPS: ("ObjectUrl", "Image group title", "Create video"),
    ManifestKey.DICOM_SERIES: ("ObjectUrl", "Series title"),
    # Extrapolated: Encord documents no CSV headings for these four (see module docstring).
    ManifestKey.AUDIO: ("ObjectUrl", "Audio title"),
    ManifestKey.PDFS: ("ObjectUrl", "PDF title"),
    ManifestKey.TEXT: ("ObjectUrl", "Text title"),
    ManifestKey.NIFTI: ("ObjectUrl", "NIfTI title"),
}


@dataclass(frozen=True, slots=True)
class Manifest:
    """The validated items of one Encord key. Make it with build_manifest or validate_items.

    items use the schemas' Python (snake_case) field names, except objectUrl_N, which has
    no other name; the renderers write Encord's spellings. url_count is the number of
    object URLs, which is also the number of CSV rows.
    """

    key: ManifestKey
    name: str
    items: Sequence[Item]
    url_count: int

    def __len__(self) -> int:
        return len(self.items)


def member_urls(item: Mapping[str, Any]) -> list[str]:
    """A group item's URLs in position order (objectUrl_0 first)."""
    count = sum(1 for field in item if field.startswith(GROUP_URL_PREFIX))
    return [item[f"{GROUP_URL_PREFIX}{position}"] for position in range(count)]


# RFC 3986 unreserved characters: quote() leaves them as they are.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


class _UrlBuilder:
    """registration.urls.object_url, with each folder's encoded prefix worked out once.

    Percent-encoding is per character and '/' is kept, so encoding "folder/" and the file
    name apart gives the same string as encoding the whole name; a file name made only of
    unreserved characters encodes to itself and skips urllib. On 500,000 names this cuts
    URL building from about 1.1 s to 0.3 s. tests/unit/test_manifest.py checks that the
    result equals object_url on generated names.
    """

    def __init__(self, style: UrlStyle) -> None:
        self._style: UrlStyle = style
        # bucket -> directory -> prefix; nested rather than keyed by a (bucket, directory)
        # tuple, which would allocate a tuple per object.
        self._prefixes: dict[str, dict[str, str]] = {}

    def __call__(self, bucket: str, name: str) -> str:
        cut = name.rfind("/") + 1
        prefixes = self._prefixes.get(bucket)
        if prefixes is None:
            prefixes = self._prefixes[bucket] = {}
        directory = name[:cut]
        prefix = prefixes.get(directory)
        if prefix is None:
            prefix = prefixes[directory] = object_url(bucket, directory, self._style)
        file_name = name[cut:]
        # strip() leaves nothing exactly when every character is unreserved.
        if file_name.strip(_UNRESERVED):
            file_name = encode_object_name(file_name)
        return prefix + file_name


def metadata_for(obj: StorageObject, key: ManifestKey) -> dict[str, Any]:
    """The optional blocks of a single-object item, in Encord's spelling; {} when none.

    Encord uses supplied metadata without checking it and wrong values corrupt labels, so a
    block is emitted only when every field in it is exact. GCS says nothing exact about
    frame rate, duration, dimensions or page counts, so video, audio, PDF and image
    metadata are never sent; text metadata needs only the size and the MIME type.
    """
    blocks: dict[str, Any] = {}
    if obj.custom_metadata:
        blocks["clientMetadata"] = dict(obj.custom_metadata)
    if key is ManifestKey.TEXT:
        mime_type = _exact_mime_type(obj.content_type)
        if obj.size is not None and mime_type is not None:
            blocks["textMetadata"] = {"fileSize": obj.size, "mime_type": mime_type}
    return blocks


def _exact_mime_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    # "text/plain; charset=utf-8" names the MIME type text/plain; Encord's field holds only
    # the type. Types are case-insensitive (RFC 2045), so lower case loses nothing.
    mime_type = content_type.partition(";")[0].strip().lower()
    if not mime_type or mime_type == OCTET_STREAM:
        return None  # GCS's default when the uploader said nothing: not a fact
    return mime_type


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
    grouped = key in GROUP_KEYS
    url_count = csv_entry_count(units) if grouped else len(units)
    _check_counts(name, len(units), url_count)
    url_for = _UrlBuilder(url_style)
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
    url_for: _UrlBuilder,
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
    url_for: _UrlBuilder,
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


def validate_items(
    key: ManifestKey, rows: Sequence[Mapping[str, Any]], *, name: str = "manifest"
) -> Manifest:
    """Validate items already in Encord's spelling, for example read back from a file."""
    key = ManifestKey(key)
    if key in GROUP_KEYS:
        url_count = sum(1 for row in rows for field in row if field.startswith(GROUP_URL_PREFIX))
    else:
        url_count = len(rows)
    _check_counts(name, len(rows), url_count)
    items = _validate(key, rows, name, None, 0)
    if key in GROUP_KEYS:
        titles = [cast(Mapping[str, Any], item)["title"] for item in items]
        if len(set(titles)) != len(titles):
            raise ManifestValidationError(name, "group titles must be unique")
    return Manifest(key=key, name=name, items=items, url_count=url_count)


def _validate(
    key: ManifestKey,
    rows: Sequence[Mapping[str, Any]],
    name: str,
    units: Sequence[ManifestUnit] | None,
    offset: int,
) -> list[Item]:
    try:
        return cast(list[Item], _ITEM_LISTS[key].validate_python(rows))
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


def render_json(manifest: Manifest) -> bytes:
    """{"<key>": [...], "skip_duplicate_urls": true} as compact UTF-8 JSON."""
    document = {manifest.key.value: manifest.items, "skip_duplicate_urls": True}
    # Non-ASCII stays as UTF-8 (titles, client metadata); URLs are ASCII by construction.
    return _FILES[manifest.key].dump_json(document, by_alias=True)


def render_csv(manifest: Manifest) -> bytes:
    """Encord's CSV form: a header row, then one row per object (per member for groups)."""
    if manifest.url_count > MAX_CSV_ENTRIES:
        raise ManifestValidationError(
            manifest.name,
            f"{manifest.url_count} CSV entries; Encord allows at most {MAX_CSV_ENTRIES} per file",
        )
    buffer = io.StringIO()
    # The default dialect ends rows with CRLF (RFC 4180) and quotes titles that hold
    # commas, quotes or line breaks.
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADERS[manifest.key])
    items = cast(Sequence[Mapping[str, Any]], manifest.items)
    if manifest.key is ManifestKey.IMAGE_GROUPS:
        for item in items:
            # Written out either way: Encord reads a blank Create video as true.
            create_video = "true" if item["create_video"] else "false"
            writer.writerows((url, item["title"], create_video) for url in member_urls(item))
    elif manifest.key is ManifestKey.DICOM_SERIES:
        for item in items:
            writer.writerows((url, item["title"]) for url in member_urls(item))
    else:
        writer.writerows((item["object_url"], item.get("title", "")) for item in items)
    return buffer.getvalue().encode("utf-8")


def render(manifest: Manifest, fmt: Literal["json", "csv"]) -> bytes:
    if fmt == "json":
        return render_json(manifest)
    if fmt == "csv":
        return render_csv(manifest)
    raise ValueError(f"unknown manifest format {fmt!r}")
