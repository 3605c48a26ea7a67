"""Encord's manifest item shapes, one pydantic-validated TypedDict per key (pure).

Python field names are aliased to Encord's own spellings (objectUrl, clientMetadata,
textMetadata, createVideo, objectUrl_N). TypedDicts rather than BaseModel classes, because
of the 500,000-item target (2 s, 512 MB; see bench/manifest_scale.py): on this 2-core
machine, building 500,000 BaseModel instances alone took 2.2-3 s, while validating the same
list as TypedDicts took about 0.15 s.

CSV columns. Encord's page documents the headings for images (`Image title`), videos
(`Video title`), image groups and sequences (`Image group title`, `Create video`) and
DICOM (`Series title`). It gives none for audio, PDFs, text or NIfTI: the
`Audio title`, `PDF title`, `Text title` and `NIfTI title` headings used here
extrapolate the documented pattern and are not documented by Encord.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypeAlias

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeInt,
    StringConstraints,
    TypeAdapter,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs it before 3.12 and for extra_items

from registration.domain.limits import MAX_SEQUENCE_FRAMES, MAX_TITLE_CHARS, MAX_URL_BYTES
from registration.domain.model import ManifestKey

GROUP_URL_PREFIX = "objectUrl_"
# Printable ASCII without space: a percent-encoded URL never needs anything else, Encord's CSV
# form forbids whitespace in URLs, and it makes the character limit below a byte limit.
ObjectUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_BYTES, pattern=r"^[!-~]+$")
]
# An empty title would be a folder placeholder's "file name"; Encord needs a real one.
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS)]
ClientMetadata = dict[str, JsonValue]

STRICT_KEYS = ConfigDict(extra="forbid")


@with_config(STRICT_KEYS)
class TextMetadata(TypedDict):
    file_size: Annotated[NonNegativeInt, Field(alias="fileSize")]
    # Encord documents this key in snake case, unlike its sibling.
    mime_type: Annotated[str, StringConstraints(min_length=1)]


@with_config(STRICT_KEYS)
class ImageItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(STRICT_KEYS)
class VideoItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(STRICT_KEYS)
class AudioItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(STRICT_KEYS)
class PdfItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]


@with_config(STRICT_KEYS)
class TextItem(TypedDict):
    object_url: Annotated[ObjectUrl, Field(alias="objectUrl")]
    title: NotRequired[Title]
    client_metadata: NotRequired[Annotated[ClientMetadata, Field(alias="clientMetadata")]]
    text_metadata: NotRequired[Annotated[TextMetadata, Field(alias="textMetadata")]]


@with_config(STRICT_KEYS)
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


ITEM_LISTS: dict[ManifestKey, TypeAdapter[list[Any]]] = {
    ManifestKey.IMAGES: TypeAdapter(list[ImageItem]),
    ManifestKey.VIDEOS: TypeAdapter(list[VideoItem]),
    ManifestKey.AUDIO: TypeAdapter(list[AudioItem]),
    ManifestKey.PDFS: TypeAdapter(list[PdfItem]),
    ManifestKey.TEXT: TypeAdapter(list[TextItem]),
    ManifestKey.NIFTI: TypeAdapter(list[NiftiItem]),
    ManifestKey.IMAGE_GROUPS: TypeAdapter(list[CheckedImageGroupItem]),
    ManifestKey.DICOM_SERIES: TypeAdapter(list[CheckedDicomSeriesItem]),
}
FILES: dict[ManifestKey, TypeAdapter[Any]] = {
    ManifestKey.IMAGES: TypeAdapter(ImagesFile),
    ManifestKey.VIDEOS: TypeAdapter(VideosFile),
    ManifestKey.AUDIO: TypeAdapter(AudioFile),
    ManifestKey.PDFS: TypeAdapter(PdfsFile),
    ManifestKey.TEXT: TypeAdapter(TextFile),
    ManifestKey.NIFTI: TypeAdapter(NiftiFile),
    ManifestKey.IMAGE_GROUPS: TypeAdapter(ImageGroupsFile),
    ManifestKey.DICOM_SERIES: TypeAdapter(DicomSeriesFile),
}

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
    """The validated items of one Encord key. Make it with build_manifest.

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
