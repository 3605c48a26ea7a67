"""registration/manifest/: Encord's manifest format, limits and CSV form (SPEC §2)."""

from __future__ import annotations

import csv
import io
import json
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from registration.domain.limits import (
    MAX_CSV_ENTRIES,
    MAX_SEQUENCE_FRAMES,
    MAX_TITLE_CHARS,
    MAX_URL_BYTES,
)
from registration.domain.model import GroupUnit, ManifestKey, StorageObject
from registration.exceptions import ManifestValidationError
from registration.manifest import build as build_module
from registration.manifest import render as render_module
from registration.manifest.build import build_manifest, csv_entry_count
from registration.manifest.metadata import metadata_for
from registration.manifest.render import render, render_csv, render_json
from registration.manifest.schema import ITEM_LISTS, Manifest
from registration.manifest.urls import HTTPS_HOST, UrlBuilder, object_url, parse_object_url

BUCKET = "encord-image-bucket"
SINGLE_KEYS = [
    ManifestKey.IMAGES,
    ManifestKey.VIDEOS,
    ManifestKey.AUDIO,
    ManifestKey.PDFS,
    ManifestKey.TEXT,
    ManifestKey.NIFTI,
]
GROUP_KEYS = [ManifestKey.IMAGE_GROUPS, ManifestKey.DICOM_SERIES]
AWKWARD_NAMES = [
    "site-a/cam 1/frame 0001.png",
    "1+(32).jpg",
    "images/1+(32).jpg",
    "a+b/c+d.jpg",
    "tilde~and-dash_and.dot",
    "what #1.jpg",
    "why?.jpg",
    "100%.jpg",
    "literally%20encoded.jpg",
    "画像/写真 1.JPG",
    "Ω+(32).jpg",
    "صور/صورة \u0661.jpg",
    "a//double/slash.jpg",
    "/leading-slash.jpg",
]


def obj(name: str = "site-a/cam 1/frame_000001.jpg", **fields: Any) -> StorageObject:
    fields.setdefault("generation", 1)
    return StorageObject(bucket=fields.pop("bucket", BUCKET), name=name, **fields)


def objects(count: int, folder: str = "site-a/cam 1") -> list[StorageObject]:
    return [obj(f"{folder}/frame_{index:06d}.jpg") for index in range(count)]


def group(title: str, count: int = 3, *, create_video: bool = False) -> GroupUnit:
    return GroupUnit(title=title, members=tuple(objects(count, title)), create_video=create_video)


def document(manifest: Manifest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_json(manifest))
    return loaded


def json_items(manifest: Manifest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = document(manifest)[manifest.key.value]
    return items


def csv_rows(manifest: Manifest) -> list[list[str]]:
    return list(csv.reader(io.StringIO(render_csv(manifest).decode("utf-8"))))


# Every key ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", SINGLE_KEYS)
def test_single_objects_are_listed_under_their_key_with_url_and_file_name_title(
    key: ManifestKey,
) -> None:
    units = [obj("site-a/a.bin"), obj("b.bin")]

    loaded = document(build_manifest(key, units))

    assert list(loaded) == [key.value, "skip_duplicate_urls"]
    assert loaded[key.value] == [
        {"objectUrl": f"{HTTPS_HOST}{BUCKET}/site-a/a.bin", "title": "a.bin"},
        {"objectUrl": f"{HTTPS_HOST}{BUCKET}/b.bin", "title": "b.bin"},
    ]


def test_image_groups_number_their_urls_from_zero_in_the_given_member_order() -> None:
    members = (obj("g/c.jpg"), obj("g/a.jpg"), obj("g/b.jpg"))

    items = json_items(
        build_manifest(ManifestKey.IMAGE_GROUPS, [GroupUnit("g", members, create_video=False)])
    )

    assert items == [
        {
            "title": "g",
            "createVideo": False,
            "objectUrl_0": f"{HTTPS_HOST}{BUCKET}/g/c.jpg",
            "objectUrl_1": f"{HTTPS_HOST}{BUCKET}/g/a.jpg",
            "objectUrl_2": f"{HTTPS_HOST}{BUCKET}/g/b.jpg",
        }
    ]
    assert list(items[0]) == ["title", "createVideo", "objectUrl_0", "objectUrl_1", "objectUrl_2"]


def test_image_sequences_are_image_groups_with_create_video_true() -> None:
    items = json_items(
        build_manifest(ManifestKey.IMAGE_GROUPS, [group("seq", 2, create_video=True)])
    )

    assert items[0]["createVideo"] is True
    assert sorted(items[0]) == ["createVideo", "objectUrl_0", "objectUrl_1", "title"]


def test_dicom_series_have_a_title_and_numbered_urls_but_no_create_video() -> None:
    members = (obj("study/s1/2.dcm"), obj("study/s1/1.dcm"))

    items = json_items(build_manifest(ManifestKey.DICOM_SERIES, [GroupUnit("s1", members)]))

    assert items == [
        {
            "title": "s1",
            "objectUrl_0": f"{HTTPS_HOST}{BUCKET}/study/s1/2.dcm",
            "objectUrl_1": f"{HTTPS_HOST}{BUCKET}/study/s1/1.dcm",
        }
    ]


def test_a_key_can_be_given_as_its_plain_string() -> None:
    manifest = build_manifest("videos", [obj("v.mp4")])  # type: ignore[arg-type]

    assert manifest.key is ManifestKey.VIDEOS


# URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AWKWARD_NAMES)
@pytest.mark.parametrize("style", ["https", "gs"])
def test_object_urls_decode_back_to_the_exact_bucket_and_object_name(name: str, style: Any) -> None:
    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj(name)], url_style=style))

    assert item["objectUrl"].startswith(HTTPS_HOST if style == "https" else "gs://")
    assert parse_object_url(item["objectUrl"]) == (BUCKET, name)


def test_encords_sample_name_has_its_plus_and_parentheses_encoded() -> None:
    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj("images/1+(32).jpg")]))

    assert item["objectUrl"] == f"{HTTPS_HOST}{BUCKET}/images/1%2B%2832%29.jpg"
    assert item["title"] == "1+(32).jpg"


def test_a_literal_percent_20_stays_distinct_from_a_space() -> None:
    manifest = build_manifest(
        ManifestKey.IMAGES, [obj("a b.jpg"), obj("a%20b.jpg")], name="percent"
    )

    urls = [item["objectUrl"] for item in json_items(manifest)]

    assert urls == [f"{HTTPS_HOST}{BUCKET}/a%20b.jpg", f"{HTTPS_HOST}{BUCKET}/a%2520b.jpg"]


def test_group_member_urls_decode_back_to_their_object_names() -> None:
    names = ["seq 1/画像 1.jpg", "seq 1/Ω+(32).jpg", "seq 1/#?.jpg"]
    unit = GroupUnit("seq 1", tuple(obj(name) for name in names), create_video=True)

    [item] = json_items(build_manifest(ManifestKey.IMAGE_GROUPS, [unit]))

    assert [parse_object_url(item[f"objectUrl_{n}"])[1] for n in range(3)] == names


# Mostly the characters around the unreserved/reserved border, where a shortcut would slip.
name_characters = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + "/ +#?%~.-_()!*'&=:@;,$"),
    # No object name holds a lone surrogate (GCS names are valid UTF-8).
    st.characters(exclude_categories=["Cs"]),
)


@given(
    names=st.lists(st.text(name_characters, max_size=40), min_size=1, max_size=5),
    style=st.sampled_from(["https", "gs"]),
)
def test_the_cached_url_builder_gives_exactly_what_object_url_gives(
    names: list[str], style: Any
) -> None:
    # UrlBuilder is the speed path behind build_manifest; it must never differ from object_url.
    url_for = UrlBuilder(style)
    for name in names + names:  # twice: the second pass hits the per-folder cache
        assert url_for(BUCKET, name) == object_url(BUCKET, name, style)


@pytest.mark.parametrize("character", list(string.printable + "é€😀"))
def test_the_cached_url_builder_matches_object_url_for_every_ascii_character(
    character: str,
) -> None:
    url_for = UrlBuilder("https")
    for name in (f"a{character}b.jpg", f"d{character}/f.jpg", character):
        assert url_for(BUCKET, name) == object_url(BUCKET, name)


def test_urls_carry_no_whitespace_or_non_ascii_so_the_csv_form_can_hold_them() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, [obj(name) for name in AWKWARD_NAMES])

    for item in json_items(manifest):
        assert item["objectUrl"].isascii()
        assert not any(character.isspace() for character in item["objectUrl"])


def test_a_url_of_exactly_16_kib_is_accepted() -> None:
    prefix = f"{HTTPS_HOST}{BUCKET}/"
    name = "d" * (MAX_URL_BYTES - len(prefix) - len("/f.jpg")) + "/f.jpg"

    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj(name)]))

    assert len(item["objectUrl"].encode()) == MAX_URL_BYTES


def test_a_url_over_16_kib_is_rejected_naming_the_object() -> None:
    prefix = f"{HTTPS_HOST}{BUCKET}/"
    name = "d" * (MAX_URL_BYTES - len(prefix) - len("/f.jpg") + 1) + "/f.jpg"

    with pytest.raises(ManifestValidationError) as caught:
        build_manifest(ManifestKey.IMAGES, [obj("ok.jpg"), obj(name)], name="m.json")

    assert caught.value.manifest == "m.json"
    assert "item 1" in caught.value.problem
    assert "f.jpg" in caught.value.problem
    assert f"{MAX_URL_BYTES + 1} bytes" in caught.value.problem


def test_the_url_limit_counts_percent_encoded_bytes_not_name_characters() -> None:
    # 3,000 characters of name, but each 'é' becomes %C3%A9: 18,000 bytes of URL.
    name = "é" * 3_000 + "/f.jpg"

    with pytest.raises(ManifestValidationError, match="URL is"):
        build_manifest(ManifestKey.IMAGES, [obj(name)])


def test_a_group_member_with_an_over_long_url_is_named_in_the_error() -> None:
    long_name = "x" * MAX_URL_BYTES + "/member.jpg"
    unit = GroupUnit("g", (obj("g/ok.jpg"), obj(long_name)))

    with pytest.raises(ManifestValidationError) as caught:
        build_manifest(ManifestKey.IMAGE_GROUPS, [unit])

    assert "group 'g'" in caught.value.problem
    assert "objectUrl_1" in caught.value.problem
    assert "member.jpg" in caught.value.problem


# Titles --------------------------------------------------------------------------------


def test_a_file_name_of_300_characters_is_accepted_as_the_title() -> None:
    file_name = "t" * (MAX_TITLE_CHARS - 4) + ".jpg"

    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj(f"folder/{file_name}")]))

    assert item["title"] == file_name


def test_a_file_name_over_300_characters_is_rejected_naming_the_object() -> None:
    file_name = "t" * (MAX_TITLE_CHARS - 3) + ".jpg"

    with pytest.raises(ManifestValidationError) as caught:
        build_manifest(ManifestKey.IMAGES, [obj(f"folder/{file_name}")])

    assert "title is 301 characters" in caught.value.problem
    assert "folder/ttt" in caught.value.problem


def test_titles_count_characters_not_bytes() -> None:
    file_name = "写" * MAX_TITLE_CHARS  # 900 bytes of UTF-8, 300 characters

    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj(file_name)]))

    assert item["title"] == file_name


def test_a_group_title_over_300_characters_is_rejected() -> None:
    with pytest.raises(ManifestValidationError, match="title is 301 characters"):
        build_manifest(ManifestKey.IMAGE_GROUPS, [group("g" * (MAX_TITLE_CHARS + 1))])


def test_a_folder_placeholder_has_no_file_name_to_use_as_title_and_is_rejected() -> None:
    with pytest.raises(ManifestValidationError, match="title"):
        build_manifest(ManifestKey.IMAGES, [obj("folder/")])


# Metadata ------------------------------------------------------------------------------


def test_text_metadata_is_given_when_size_and_content_type_are_known() -> None:
    unit = obj("notes/readme.txt", size=1234, content_type="text/plain")

    [item] = json_items(build_manifest(ManifestKey.TEXT, [unit]))

    assert item["textMetadata"] == {"fileSize": 1234, "mime_type": "text/plain"}


def test_text_metadata_keeps_an_exact_size_of_zero() -> None:
    unit = obj("empty.csv", size=0, content_type="text/csv")

    [item] = json_items(build_manifest(ManifestKey.TEXT, [unit]))

    assert item["textMetadata"] == {"fileSize": 0, "mime_type": "text/csv"}


def test_text_metadata_is_left_out_when_the_size_is_unknown() -> None:
    [item] = json_items(
        build_manifest(ManifestKey.TEXT, [obj("a.txt", size=None, content_type="text/plain")])
    )

    assert "textMetadata" not in item


def test_text_metadata_is_left_out_when_the_content_type_is_unknown() -> None:
    [item] = json_items(
        build_manifest(ManifestKey.TEXT, [obj("a.txt", size=10, content_type=None)])
    )

    assert "textMetadata" not in item


@pytest.mark.parametrize("content_type", ["application/octet-stream", "Application/Octet-Stream"])
def test_text_metadata_is_left_out_when_the_content_type_is_the_octet_stream_default(
    content_type: str,
) -> None:
    [item] = json_items(
        build_manifest(ManifestKey.TEXT, [obj("a.txt", size=10, content_type=content_type)])
    )

    assert "textMetadata" not in item


def test_text_metadata_gives_the_mime_type_without_its_parameters() -> None:
    unit = obj("page.html", size=5, content_type="Text/HTML; charset=UTF-8")

    [item] = json_items(build_manifest(ManifestKey.TEXT, [unit]))

    assert item["textMetadata"]["mime_type"] == "text/html"


@pytest.mark.parametrize(
    "key", [ManifestKey.IMAGES, ManifestKey.VIDEOS, ManifestKey.AUDIO, ManifestKey.PDFS]
)
def test_no_type_metadata_is_sent_for_media_even_when_size_and_type_are_known(
    key: ManifestKey,
) -> None:
    unit = obj("media.bin", size=10_000, content_type="video/mp4")

    [item] = json_items(build_manifest(key, [unit]))

    assert set(item) == {"objectUrl", "title"}


def test_custom_object_metadata_passes_through_as_client_metadata() -> None:
    custom = {"keyframes": "[0, 10, 20]", "camera": "cam 1", "site": "Zürich"}
    unit = obj("v.mp4", custom_metadata=custom)

    [item] = json_items(build_manifest(ManifestKey.VIDEOS, [unit]))

    assert item["clientMetadata"] == custom


def test_client_metadata_is_left_out_when_the_object_has_none() -> None:
    [item] = json_items(build_manifest(ManifestKey.IMAGES, [obj("a.jpg", custom_metadata={})]))

    assert "clientMetadata" not in item


def test_text_items_carry_client_and_text_metadata_together() -> None:
    unit = obj("a.txt", size=3, content_type="text/plain", custom_metadata={"k": "v"})

    assert metadata_for(unit, ManifestKey.TEXT) == {
        "clientMetadata": {"k": "v"},
        "textMetadata": {"fileSize": 3, "mime_type": "text/plain"},
    }


def test_metadata_for_gives_nothing_when_nothing_is_exact() -> None:
    unit = obj("a.mp4", size=3, content_type="video/mp4")

    assert metadata_for(unit, ManifestKey.VIDEOS) == {}


def test_the_schema_refuses_metadata_blocks_we_never_know_exactly() -> None:
    row = {"objectUrl": f"{HTTPS_HOST}{BUCKET}/v.mp4", "videoMetadata": {"fps": 30}}

    with pytest.raises(ValidationError, match="videoMetadata"):
        ITEM_LISTS[ManifestKey.VIDEOS].validate_python([row])


# Groups --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", GROUP_KEYS)
def test_duplicate_group_titles_are_rejected(key: ManifestKey) -> None:
    with pytest.raises(ManifestValidationError, match="used twice") as caught:
        build_manifest(key, [group("same"), group("other"), group("same")], name="dup")

    assert caught.value.manifest == "dup"
    assert "item 2" in caught.value.problem


@pytest.mark.parametrize("key", GROUP_KEYS)
def test_a_group_without_members_is_rejected(key: ManifestKey) -> None:
    with pytest.raises(ManifestValidationError, match="at least one member"):
        build_manifest(key, [group("full"), GroupUnit("empty", ())])


def test_url_positions_with_a_gap_are_rejected() -> None:
    row = {
        "title": "g",
        "createVideo": False,
        "objectUrl_0": f"{HTTPS_HOST}{BUCKET}/0.jpg",
        "objectUrl_2": f"{HTTPS_HOST}{BUCKET}/2.jpg",
    }

    with pytest.raises(ValidationError, match=r"objectUrl_0\.\.objectUrl_1"):
        ITEM_LISTS[ManifestKey.IMAGE_GROUPS].validate_python([row])


def test_url_positions_that_do_not_start_at_zero_are_rejected() -> None:
    row = {"title": "s", "objectUrl_1": f"{HTTPS_HOST}{BUCKET}/1.dcm"}

    with pytest.raises(ValidationError, match="must run objectUrl_0"):
        ITEM_LISTS[ManifestKey.DICOM_SERIES].validate_python([row])


def test_unknown_keys_in_a_group_are_rejected() -> None:
    row = {"title": "s", "objectUrl_0": f"{HTTPS_HOST}{BUCKET}/0.dcm", "objectURL_1": "x"}

    with pytest.raises(ValidationError, match="objectURL_1"):
        ITEM_LISTS[ManifestKey.DICOM_SERIES].validate_python([row])


def test_an_image_sequence_over_32767_frames_is_rejected() -> None:
    too_long = group("long", MAX_SEQUENCE_FRAMES + 1, create_video=True)

    with pytest.raises(ManifestValidationError, match="32767 frames"):
        build_manifest(ManifestKey.IMAGE_GROUPS, [too_long])


def test_an_image_group_may_exceed_the_image_sequence_frame_limit() -> None:
    big = group("big", MAX_SEQUENCE_FRAMES + 1, create_video=False)

    manifest = build_manifest(ManifestKey.IMAGE_GROUPS, [big])

    assert manifest.url_count == MAX_SEQUENCE_FRAMES + 1


def test_a_dicom_series_cannot_ask_for_a_video() -> None:
    with pytest.raises(ManifestValidationError, match="cannot be made into a video"):
        build_manifest(ManifestKey.DICOM_SERIES, [group("s", create_video=True)])


@pytest.mark.parametrize("key", SINGLE_KEYS)
def test_a_group_under_a_single_object_key_is_rejected(key: ManifestKey) -> None:
    with pytest.raises(ManifestValidationError, match="takes single objects"):
        build_manifest(key, [obj("a.bin"), group("g")])


@pytest.mark.parametrize("key", GROUP_KEYS)
def test_a_single_object_under_a_group_key_is_rejected(key: ManifestKey) -> None:
    with pytest.raises(ManifestValidationError, match="takes groups"):
        build_manifest(key, [obj("a.bin")])


# Limits --------------------------------------------------------------------------------


def test_an_empty_manifest_is_rejected() -> None:
    with pytest.raises(ManifestValidationError, match="at least one item") as caught:
        build_manifest(ManifestKey.IMAGES, [], name="empty.json")

    assert caught.value.manifest == "empty.json"


def test_a_manifest_at_the_item_limit_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "MAX_JSON_ITEMS", 3)

    assert len(build_manifest(ManifestKey.IMAGES, objects(3))) == 3


def test_a_manifest_over_the_item_limit_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "MAX_JSON_ITEMS", 3)

    with pytest.raises(ManifestValidationError, match="4 items; Encord allows at most 3"):
        build_manifest(ManifestKey.IMAGES, objects(4))


def test_groups_over_the_url_limit_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "MAX_JSON_URLS", 5)

    build_manifest(ManifestKey.IMAGE_GROUPS, [group("a", 3), group("b", 2)])
    with pytest.raises(ManifestValidationError, match="6 URLs; Encord allows at most 5"):
        build_manifest(ManifestKey.IMAGE_GROUPS, [group("a", 3), group("b", 3)])


def test_items_across_validation_chunks_report_their_true_position(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build_module, "_CHUNK", 2)
    units = [*objects(5), obj("folder/")]

    with pytest.raises(ManifestValidationError, match="item 5, object 'folder/'"):
        build_manifest(ManifestKey.IMAGES, units)
    assert len(build_manifest(ManifestKey.IMAGES, objects(5))) == 5


def test_csv_entry_count_counts_one_row_per_group_member() -> None:
    assert csv_entry_count([group("a", 3), group("b", 4)]) == 7
    assert csv_entry_count(objects(5)) == 5


def test_a_csv_of_10000_entries_is_accepted() -> None:
    rows = csv_rows(build_manifest(ManifestKey.IMAGES, objects(MAX_CSV_ENTRIES)))

    assert len(rows) == MAX_CSV_ENTRIES + 1  # plus the header


def test_a_csv_over_10000_entries_is_rejected_though_the_json_is_fine() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, objects(MAX_CSV_ENTRIES + 1), name="big")

    assert len(json_items(manifest)) == MAX_CSV_ENTRIES + 1
    with pytest.raises(ManifestValidationError, match="10001 CSV entries") as caught:
        render_csv(manifest)
    assert caught.value.manifest == "big"


def test_the_csv_limit_counts_group_members_not_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "MAX_CSV_ENTRIES", 5)
    manifest = build_manifest(ManifestKey.DICOM_SERIES, [group("a", 3), group("b", 3)])

    with pytest.raises(ManifestValidationError, match="6 CSV entries"):
        render(manifest, "csv")


# JSON output ---------------------------------------------------------------------------


def test_json_ends_with_skip_duplicate_urls_true() -> None:
    data = render_json(build_manifest(ManifestKey.IMAGES, objects(2)))

    assert data.endswith(b',"skip_duplicate_urls":true}')
    assert list(json.loads(data))[-1] == "skip_duplicate_urls"
    assert json.loads(data)["skip_duplicate_urls"] is True


def test_json_is_compact_utf8_with_titles_unescaped() -> None:
    data = render_json(build_manifest(ManifestKey.IMAGES, [obj("画像/写真 1.JPG")]))

    assert '"title":"写真 1.JPG"'.encode() in data
    assert b": " not in data
    assert b", " not in data


def test_json_read_back_validates_into_the_same_manifest() -> None:
    units = [obj("a.txt", size=1, content_type="text/plain", custom_metadata={"k": "v"})]
    manifest = build_manifest(ManifestKey.TEXT, units)

    items = ITEM_LISTS[ManifestKey.TEXT].validate_python(json_items(manifest))
    again = Manifest(key=manifest.key, name=manifest.name, items=items, url_count=len(items))

    assert again.items == manifest.items
    assert render_json(again) == render_json(manifest)


def test_render_picks_the_format() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, objects(2))

    assert render(manifest, "json") == render_json(manifest)
    assert render(manifest, "csv") == render_csv(manifest)
    with pytest.raises(ValueError, match="xml"):
        render(manifest, "xml")  # type: ignore[arg-type]


# CSV output ----------------------------------------------------------------------------


def test_images_csv_has_the_documented_header_and_one_row_per_image() -> None:
    units = [obj("site a/one.jpg"), obj("two, with comma.jpg"), obj('say "cheese".jpg')]

    rows = csv_rows(build_manifest(ManifestKey.IMAGES, units))

    assert rows == [
        ["ObjectUrl", "Image title"],
        [object_url(BUCKET, "site a/one.jpg"), "one.jpg"],
        [object_url(BUCKET, "two, with comma.jpg"), "two, with comma.jpg"],
        [object_url(BUCKET, 'say "cheese".jpg'), 'say "cheese".jpg'],
    ]


def test_videos_csv_uses_the_video_title_column() -> None:
    rows = csv_rows(build_manifest(ManifestKey.VIDEOS, [obj("clips/a.mp4")]))

    assert rows == [["ObjectUrl", "Video title"], [object_url(BUCKET, "clips/a.mp4"), "a.mp4"]]


def test_image_groups_csv_has_one_row_per_member_with_create_video_spelled_out() -> None:
    units = [group("Group 1", 2), group("Sequence 1", 2, create_video=True)]

    rows = csv_rows(build_manifest(ManifestKey.IMAGE_GROUPS, units))

    assert rows == [
        ["ObjectUrl", "Image group title", "Create video"],
        [object_url(BUCKET, "Group 1/frame_000000.jpg"), "Group 1", "false"],
        [object_url(BUCKET, "Group 1/frame_000001.jpg"), "Group 1", "false"],
        [object_url(BUCKET, "Sequence 1/frame_000000.jpg"), "Sequence 1", "true"],
        [object_url(BUCKET, "Sequence 1/frame_000001.jpg"), "Sequence 1", "true"],
    ]


def test_dicom_series_csv_has_one_row_per_file_under_its_series_title() -> None:
    members = (obj("s/2.dcm"), obj("s/1.dcm"))

    rows = csv_rows(build_manifest(ManifestKey.DICOM_SERIES, [GroupUnit("series, 1", members)]))

    assert rows == [
        ["ObjectUrl", "Series title"],
        [object_url(BUCKET, "s/2.dcm"), "series, 1"],
        [object_url(BUCKET, "s/1.dcm"), "series, 1"],
    ]


@pytest.mark.parametrize(
    ("key", "heading"),
    [
        (ManifestKey.AUDIO, "Audio title"),
        (ManifestKey.PDFS, "PDF title"),
        (ManifestKey.TEXT, "Text title"),
        (ManifestKey.NIFTI, "NIfTI title"),
    ],
)
def test_undocumented_csv_types_follow_the_documented_title_pattern(
    key: ManifestKey, heading: str
) -> None:
    rows = csv_rows(build_manifest(key, [obj("f.bin", size=1, content_type="text/plain")]))

    assert rows == [["ObjectUrl", heading], [object_url(BUCKET, "f.bin"), "f.bin"]]


def test_csv_rows_round_trip_non_latin_titles_and_their_urls() -> None:
    names = ["画像/写真 1.JPG", "Ω+(32).jpg", "1+(32).jpg"]

    rows = csv_rows(build_manifest(ManifestKey.IMAGES, [obj(name) for name in names]))

    assert [parse_object_url(url)[1] for url, _ in rows[1:]] == names
    assert [title for _, title in rows[1:]] == ["写真 1.JPG", "Ω+(32).jpg", "1+(32).jpg"]


# Purity --------------------------------------------------------------------------------


def test_the_manifest_module_imports_no_google_cloud_library() -> None:
    # The empty google.cloud namespace exists from start-up (a .pth file of
    # functions-framework), so look only at what the import itself brings in.
    code = (
        "import sys; before = set(sys.modules); import registration.manifest.build; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('google')))"
    )
    root = Path(__file__).resolve().parents[2]

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


# CSV injection (issue 13) -------------------------------------------------------------

FORMULA_TITLES = ['=HYPERLINK("evil").jpg', "+1.jpg", "-2.jpg", "@SUM(A1).jpg"]


@pytest.mark.parametrize("title", FORMULA_TITLES)
def test_a_csv_title_that_starts_a_formula_is_written_after_a_single_quote(title: str) -> None:
    manifest = build_manifest(ManifestKey.IMAGES, [obj(f"drop/{title}")])
    [_, (url, written)] = csv_rows(manifest)
    assert written == "'" + title
    assert url.startswith(HTTPS_HOST)


@pytest.mark.parametrize("key", GROUP_KEYS)
def test_a_csv_group_title_that_starts_a_formula_is_neutralised_on_every_row(
    key: ManifestKey,
) -> None:
    manifest = build_manifest(key, [group("=cmd|' /C calc'!A0", count=2)])
    rows = csv_rows(manifest)[1:]
    assert [row[1] for row in rows] == ["'=cmd|' /C calc'!A0"] * 2
    assert all(row[0].startswith(HTTPS_HOST) for row in rows)


def test_a_csv_title_of_300_characters_that_starts_a_formula_still_fits_300() -> None:
    title = "=" + "x" * (MAX_TITLE_CHARS - 5) + ".jpg"
    manifest = build_manifest(ManifestKey.IMAGES, [obj(title)])
    [_, (_, written)] = csv_rows(manifest)
    assert written.startswith("'=") and len(written) == MAX_TITLE_CHARS


def test_ordinary_csv_titles_and_the_json_form_are_left_as_they_are() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, [obj("a/=x.jpg"), obj("a/x-1.jpg")])
    assert [row[1] for row in csv_rows(manifest)[1:]] == ["'=x.jpg", "x-1.jpg"]
    assert [item["title"] for item in json_items(manifest)] == ["=x.jpg", "x-1.jpg"]
