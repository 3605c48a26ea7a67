"""classify.py: the SPEC §2 type table, the rejections, and image group/sequence prefixes."""

from __future__ import annotations

import pytest

from registration.domain.classify import (
    classify,
    extension_of,
    key_for,
    may_be_headerless_dicom,
)
from registration.domain.limits import MAX_TITLE_CHARS
from registration.domain.model import (
    Accepted,
    Classification,
    Ignored,
    ManifestKey,
    Rejected,
    RejectionReason,
    StorageObject,
)

PREFIX = "encord-manifests/"

# SPEC §2 "Supported types", verbatim.
TYPE_TABLE: dict[ManifestKey, tuple[str, ...]] = {
    ManifestKey.IMAGES: ("jpg", "jpeg", "png", "webp", "avif", "bmp", "tif", "tiff"),
    ManifestKey.VIDEOS: ("mp4", "mov", "webm", "mkv"),
    ManifestKey.AUDIO: ("mp3", "wav", "flac", "m4a", "aac", "ogg"),
    ManifestKey.PDFS: ("pdf",),
    ManifestKey.TEXT: ("txt", "html", "htm", "json", "xml", "csv", "md"),
    ManifestKey.NIFTI: ("nii", "nii.gz"),
    ManifestKey.DICOM_SERIES: ("dcm", "dicom"),
}
EXTENSION_CASES = [
    pytest.param(extension, key, id=extension)
    for key, extensions in TYPE_TABLE.items()
    for extension in extensions
]


def obj(name: str, content_type: str | None = None) -> StorageObject:
    return StorageObject("bkt", name, 1, size=10, content_type=content_type)


def verdict(
    name: str,
    content_type: str | None = None,
    *,
    groups: tuple[str, ...] = (),
    sequences: tuple[str, ...] = (),
    has_dicom_magic: bool = False,
) -> Classification:
    return classify(
        obj(name, content_type),
        manifest_prefix=PREFIX,
        image_group_prefixes=groups,
        image_sequence_prefixes=sequences,
        has_dicom_magic=has_dicom_magic,
    )


def accepted(
    name: str,
    content_type: str | None = None,
    *,
    groups: tuple[str, ...] = (),
    sequences: tuple[str, ...] = (),
    has_dicom_magic: bool = False,
) -> Accepted:
    result = verdict(
        name, content_type, groups=groups, sequences=sequences, has_dicom_magic=has_dicom_magic
    )
    assert isinstance(result, Accepted), result
    return result


def rejected(name: str, content_type: str | None = None) -> Rejected:
    result = verdict(name, content_type)
    assert isinstance(result, Rejected), result
    return result


# -- the type table ---------------------------------------------------------------------


@pytest.mark.parametrize(("extension", "key"), EXTENSION_CASES)
def test_every_extension_in_the_spec_table_maps_to_its_manifest_key(
    extension: str, key: ManifestKey
) -> None:
    assert accepted(f"site-a/file.{extension}").key is key


@pytest.mark.parametrize(("extension", "key"), EXTENSION_CASES)
def test_upper_case_extensions_map_to_the_same_key(extension: str, key: ManifestKey) -> None:
    assert accepted(f"site-a/FILE.{extension.upper()}").key is key


@pytest.mark.parametrize("name", ["scan.nii.gz", "scan.NII.GZ", "scan.Nii.Gz"])
def test_a_gzipped_nifti_is_nifti_not_an_unknown_gz(name: str) -> None:
    assert extension_of(name) == "nii.gz"
    assert accepted(name).key is ManifestKey.NIFTI


def test_a_plain_gz_file_is_an_unknown_type() -> None:
    assert rejected("backup.tar.gz").reason is RejectionReason.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("content_type", "key"),
    [
        ("image/jpeg", ManifestKey.IMAGES),
        ("image/png", ManifestKey.IMAGES),
        ("video/mp4", ManifestKey.VIDEOS),
        ("video/quicktime", ManifestKey.VIDEOS),
        ("audio/mpeg", ManifestKey.AUDIO),
        ("application/pdf", ManifestKey.PDFS),
        ("text/plain; charset=utf-8", ManifestKey.TEXT),
        ("TEXT/MARKDOWN", ManifestKey.TEXT),
        ("application/dicom", ManifestKey.DICOM_SERIES),
    ],
)
def test_an_extension_less_name_falls_back_to_its_content_type(
    content_type: str, key: ManifestKey
) -> None:
    assert accepted("uploads/blob", content_type).key is key


def test_the_extension_wins_over_a_contradicting_content_type() -> None:
    assert accepted("clip.mp4", "image/jpeg").key is ManifestKey.VIDEOS


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("model.onnx", None),
        ("model.onnx", "application/octet-stream"),
        ("uploads/blob", None),
        ("uploads/blob", "application/octet-stream"),
        ("drawing.svg", "image/svg+xml"),
        ("archive.zip", "application/zip"),
    ],
)
def test_an_unknown_type_is_rejected_with_its_reason(name: str, content_type: str | None) -> None:
    result = rejected(name, content_type)
    assert result.reason is RejectionReason.UNKNOWN_TYPE
    assert name in result.detail


@pytest.mark.parametrize("name", ["jpg", "file.", "site-a/jpeg"])
def test_an_extension_needs_a_dot_and_a_stem(name: str) -> None:
    assert rejected(name).reason is RejectionReason.UNKNOWN_TYPE


# -- rejections -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b/", "a/", "photos.jpg/"])
def test_a_folder_placeholder_is_rejected(name: str) -> None:
    assert rejected(name, "application/x-directory").reason is RejectionReason.FOLDER_PLACEHOLDER


@pytest.mark.parametrize("name", [".x.jpg", "a/.x.jpg", "site-a/.DS_Store"])
def test_a_hidden_file_is_rejected(name: str) -> None:
    assert rejected(name, "image/jpeg").reason is RejectionReason.HIDDEN_FILE


@pytest.mark.parametrize("name", ["a/.cache/x.jpg", ".git/objects/x.png"])
def test_a_file_in_a_hidden_folder_is_rejected(name: str) -> None:
    assert rejected(name).reason is RejectionReason.HIDDEN_FILE


def test_a_dot_inside_a_segment_is_not_hidden() -> None:
    assert accepted("a/v1.2/x.y.jpg").key is ManifestKey.IMAGES


def test_a_file_name_over_300_characters_is_rejected() -> None:
    name = "site-a/" + "x" * (MAX_TITLE_CHARS - 3) + ".jpg"
    assert len(name.rpartition("/")[2]) == 301
    result = rejected(name)
    assert result.reason is RejectionReason.NAME_TOO_LONG
    assert "301" in result.detail


def test_a_file_name_of_exactly_300_characters_is_accepted() -> None:
    name = "site-a/" + "x" * (MAX_TITLE_CHARS - 4) + ".jpg"
    assert len(name.rpartition("/")[2]) == 300
    assert accepted(name).key is ManifestKey.IMAGES


def test_only_the_file_name_counts_towards_the_300_characters_not_the_folder() -> None:
    name = "f" * 400 + "/x.jpg"
    assert accepted(name).folder == "f" * 400


def test_the_limit_counts_characters_not_utf8_bytes() -> None:
    name = "画" * (MAX_TITLE_CHARS - 4) + ".jpg"
    assert len(name.encode("utf-8")) > MAX_TITLE_CHARS
    assert accepted(name).key is ManifestKey.IMAGES


@pytest.mark.parametrize(
    "name",
    [
        "encord-manifests/images/000001-20261124T080000Z.json",
        "encord-manifests/site-a/cam 1/videos/000002-20261124T080000Z.json",
        # Even things that would otherwise be rejected are ignored silently, not recorded.
        "encord-manifests/.hidden.jpg",
        "encord-manifests/folder/",
        "encord-manifests/model.onnx",
    ],
)
def test_anything_under_the_manifest_prefix_is_ignored_not_rejected(name: str) -> None:
    assert isinstance(verdict(name), Ignored)


def test_a_name_that_only_shares_the_prefix_text_is_not_ignored() -> None:
    assert accepted("encord-manifests-old/x.jpg").key is ManifestKey.IMAGES


# -- folders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("site-a/cam 1/x.jpg", "site-a/cam 1"),
        ("x.jpg", ""),
        ("a/b/c/d.png", "a/b/c"),
        ("画像/写真 1.JPG", "画像"),
    ],
)
def test_the_buffer_folder_is_the_parent_path_and_empty_for_the_root(
    name: str, folder: str
) -> None:
    assert accepted(name).folder == folder
    assert obj(name).folder == folder


# -- image groups and sequences ---------------------------------------------------------


def test_images_under_an_image_group_prefix_form_an_image_group() -> None:
    result = accepted("groups/shoot-1/a.jpg", groups=("groups/",))
    assert result == Accepted(ManifestKey.IMAGE_GROUPS, "groups/shoot-1", create_video=False)


def test_images_under_an_image_sequence_prefix_form_a_sequence_that_creates_a_video() -> None:
    result = accepted("seq/run-1/0001.png", sequences=("seq/",))
    assert result == Accepted(ManifestKey.IMAGE_GROUPS, "seq/run-1", create_video=True)


def test_the_longest_prefix_wins_when_a_sequence_prefix_is_nested_in_a_group_prefix() -> None:
    groups, sequences = ("data/",), ("data/frames/",)
    nested = accepted("data/frames/run/1.jpg", groups=groups, sequences=sequences)
    outer = accepted("data/stills/set/1.jpg", groups=groups, sequences=sequences)
    assert (nested.key, nested.create_video) == (ManifestKey.IMAGE_GROUPS, True)
    assert (outer.key, outer.create_video) == (ManifestKey.IMAGE_GROUPS, False)


def test_the_longest_prefix_wins_when_a_group_prefix_is_nested_in_a_sequence_prefix() -> None:
    groups, sequences = ("data/stills/",), ("data/",)
    nested = accepted("data/stills/set/1.jpg", groups=groups, sequences=sequences)
    outer = accepted("data/frames/run/1.jpg", groups=groups, sequences=sequences)
    assert (nested.key, nested.create_video) == (ManifestKey.IMAGE_GROUPS, False)
    assert (outer.key, outer.create_video) == (ManifestKey.IMAGE_GROUPS, True)


def test_images_outside_every_group_prefix_stay_single_images() -> None:
    result = accepted("other/x.jpg", groups=("groups/",), sequences=("seq/",))
    assert result == Accepted(ManifestKey.IMAGES, "other")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("groups/shoot-1/clip.mp4", ManifestKey.VIDEOS),
        ("groups/shoot-1/notes.txt", ManifestKey.TEXT),
        ("seq/run-1/scan.dcm", ManifestKey.DICOM_SERIES),
    ],
)
def test_non_images_under_a_group_prefix_keep_their_own_key(name: str, key: ManifestKey) -> None:
    assert accepted(name, groups=("groups/",), sequences=("seq/",)).key is key


def test_an_image_known_only_by_content_type_joins_its_group_too() -> None:
    result = accepted("groups/shoot-1/frame", "image/png", groups=("groups/",))
    assert result.key is ManifestKey.IMAGE_GROUPS


# -- DICOM without an extension ---------------------------------------------------------


def test_an_extension_less_file_with_the_dicom_magic_is_a_dicom_series_member() -> None:
    assert accepted("scans/IM0001", has_dicom_magic=True).key is ManifestKey.DICOM_SERIES


def test_an_extension_less_file_without_the_dicom_magic_is_unknown() -> None:
    assert rejected("scans/IM0001").reason is RejectionReason.UNKNOWN_TYPE


def test_the_dicom_magic_does_not_override_a_known_extension() -> None:
    assert accepted("scans/x.jpg", has_dicom_magic=True).key is ManifestKey.IMAGES
    assert key_for(obj("scans/x.jpg"), has_dicom_magic=True) is ManifestKey.IMAGES


@pytest.mark.parametrize(
    ("name", "content_type", "worth_reading"),
    [
        ("scans/IM0001", None, True),
        ("scans/IM0001", "application/octet-stream", True),
        ("scans/IM0001", "image/png", False),
        ("scans/x.dcm", None, False),
        ("scans/x.onnx", None, False),
    ],
)
def test_only_extension_less_files_of_undecided_type_are_worth_reading_for_the_magic(
    name: str, content_type: str | None, worth_reading: bool
) -> None:
    assert may_be_headerless_dicom(obj(name, content_type)) is worth_reading
