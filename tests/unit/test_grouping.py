"""grouping.py: a sealed group buffer's members -> ordered, titled Encord groups (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registration.domain.grouping import (
    dicom_series,
    group_title,
    image_groups,
    natural_key,
    natural_order,
)
from registration.domain.limits import MAX_TITLE_CHARS
from registration.domain.model import BufferRef, GroupUnit, ManifestKey, StorageObject
from registration.manifest.build import build_manifest

BUCKET = "bkt"
FOLDER = "site-a/run 7"
SEQUENCE = BufferRef(BUCKET, FOLDER, ManifestKey.IMAGE_GROUPS, create_video=True)
SERIES = BufferRef(BUCKET, FOLDER, ManifestKey.DICOM_SERIES)


def frame(name: str) -> StorageObject:
    return StorageObject(BUCKET, f"{FOLDER}/{name}", 1)


def slice_(name: str, uid: str | None, number: int | None) -> StorageObject:
    return StorageObject(BUCKET, f"{FOLDER}/{name}", 1, series_uid=uid, instance_number=number)


def file_names(unit: GroupUnit) -> list[str]:
    return [member.file_name for member in unit.members]


# -- natural order ----------------------------------------------------------------------


def test_frame2_sorts_before_frame10() -> None:
    members = [frame("frame10.jpg"), frame("frame2.jpg"), frame("frame1.jpg")]

    assert [obj.file_name for obj in natural_order(members)] == [
        "frame1.jpg",
        "frame2.jpg",
        "frame10.jpg",
    ]


def test_digit_runs_compare_as_numbers_wherever_they_are_in_the_name() -> None:
    names = ["cam10/f1.jpg", "cam9/f20.jpg", "cam9/f3.jpg"]

    assert sorted(names, key=natural_key) == ["cam9/f3.jpg", "cam9/f20.jpg", "cam10/f1.jpg"]


def test_natural_order_ignores_letter_case() -> None:
    members = [frame("B2.jpg"), frame("a10.jpg"), frame("a9.jpg")]

    assert [obj.file_name for obj in natural_order(members)] == ["a9.jpg", "a10.jpg", "B2.jpg"]


def test_a_group_lists_its_frames_in_natural_order_whatever_order_they_arrived_in() -> None:
    members = [frame(f"frame{index}.jpg") for index in (10, 1, 2, 30, 3)]

    [unit] = image_groups(SEQUENCE, 1, members, max_frames=100)

    assert file_names(unit) == [f"frame{index}.jpg" for index in (1, 2, 3, 10, 30)]
    assert unit.create_video is True
    assert unit.title == FOLDER


# -- splitting long sequences -----------------------------------------------------------


def test_a_sequence_longer_than_the_frame_limit_is_split_into_numbered_parts() -> None:
    members = [frame(f"frame{index}.jpg") for index in range(1, 8)]

    units = image_groups(SEQUENCE, 1, members, max_frames=3)

    assert [unit.title for unit in units] == [
        f"{FOLDER} (part 1)",
        f"{FOLDER} (part 2)",
        f"{FOLDER} (part 3)",
    ]
    assert [file_names(unit) for unit in units] == [
        ["frame1.jpg", "frame2.jpg", "frame3.jpg"],
        ["frame4.jpg", "frame5.jpg", "frame6.jpg"],
        ["frame7.jpg"],
    ]
    assert all(unit.create_video for unit in units)


def test_a_sequence_of_exactly_the_frame_limit_stays_one_unnumbered_group() -> None:
    members = [frame(f"frame{index}.jpg") for index in range(3)]

    [unit] = image_groups(SEQUENCE, 1, members, max_frames=3)

    assert unit.title == FOLDER
    assert len(unit.members) == 3


def test_a_later_batch_of_one_folder_says_so_in_its_title() -> None:
    members = [frame(f"frame{index}.jpg") for index in range(4)]

    assert [unit.title for unit in image_groups(SEQUENCE, 2, members, max_frames=2)] == [
        f"{FOLDER} (batch 2) (part 1)",
        f"{FOLDER} (batch 2) (part 2)",
    ]


def test_the_parts_of_a_split_sequence_make_a_valid_manifest() -> None:
    members = [frame(f"frame{index}.jpg") for index in range(10)]

    manifest = build_manifest(
        ManifestKey.IMAGE_GROUPS, list(image_groups(SEQUENCE, 1, members, max_frames=4))
    )

    assert len(manifest) == 3
    assert manifest.url_count == 10


# -- DICOM series -----------------------------------------------------------------------


def test_dicom_files_are_split_into_one_series_per_series_instance_uid() -> None:
    members = [
        slice_("a.dcm", "1.2.3", 1),
        slice_("b.dcm", "1.2.4", 1),
        slice_("c.dcm", "1.2.3", 2),
    ]

    units = dicom_series(SERIES, 1, members)

    assert [(unit.title, file_names(unit)) for unit in units] == [
        (f"{FOLDER} [series 1.2.3]", ["a.dcm", "c.dcm"]),
        (f"{FOLDER} [series 1.2.4]", ["b.dcm"]),
    ]
    assert not any(unit.create_video for unit in units)


def test_a_series_is_ordered_by_instance_number_not_by_name() -> None:
    members = [slice_("z.dcm", "s", 1), slice_("a.dcm", "s", 3), slice_("m.dcm", "s", 2)]

    [unit] = dicom_series(SERIES, 1, members)

    assert file_names(unit) == ["z.dcm", "m.dcm", "a.dcm"]
    assert unit.title == FOLDER  # one series: the folder alone names it


def test_equal_instance_numbers_fall_back_to_natural_name_order() -> None:
    members = [slice_("img10.dcm", "s", 1), slice_("img9.dcm", "s", 1), slice_("x.dcm", "s", 0)]

    [unit] = dicom_series(SERIES, 1, members)

    assert file_names(unit) == ["x.dcm", "img9.dcm", "img10.dcm"]


def test_files_without_an_instance_number_follow_the_numbered_ones_in_natural_order() -> None:
    members = [
        slice_("IM10", "s", None),
        slice_("IM2", "s", None),
        slice_("late.dcm", "s", 50),
        slice_("early.dcm", "s", 5),
    ]

    [unit] = dicom_series(SERIES, 1, members)

    assert file_names(unit) == ["early.dcm", "late.dcm", "IM2", "IM10"]


def test_files_without_a_series_uid_form_a_series_of_their_own() -> None:
    members = [slice_("a.dcm", "1.2.3", 1), slice_("b.dcm", None, None)]

    units = dicom_series(SERIES, 1, members)

    assert [(unit.title, file_names(unit)) for unit in units] == [
        (f"{FOLDER} [no series uid]", ["b.dcm"]),
        (f"{FOLDER} [series 1.2.3]", ["a.dcm"]),
    ]
    assert len({unit.title for unit in units}) == 2


# -- titles -----------------------------------------------------------------------------


def test_a_group_in_the_bucket_root_is_titled_with_the_bucket_name() -> None:
    root = BufferRef(BUCKET, "", ManifestKey.IMAGE_GROUPS)

    assert group_title(root, 1) == BUCKET


@pytest.mark.parametrize("part", [None, 1, 12])
@pytest.mark.parametrize("seq", [1, 2, 345])
def test_a_long_folders_title_keeps_the_end_of_the_folder_and_fits_300_characters(
    seq: int, part: int | None
) -> None:
    folder = "archive/" + "x" * 400 + "/camera 12/run 3"
    buffer = BufferRef(BUCKET, folder, ManifestKey.IMAGE_GROUPS)

    title = group_title(buffer, seq, part)

    assert len(title) == MAX_TITLE_CHARS
    assert title.startswith("…")
    assert "/camera 12/run 3" in title  # the end tells groups apart; the start is dropped
    assert not title.startswith("…archive")
    if part is not None:
        assert title.endswith(f" (part {part})")


def test_a_folder_that_fits_keeps_its_whole_name() -> None:
    folder = "f" * (MAX_TITLE_CHARS - len(" (part 1)"))
    buffer = BufferRef(BUCKET, folder, ManifestKey.IMAGE_GROUPS)

    assert group_title(buffer, 1, 1) == f"{folder} (part 1)"


def test_split_parts_of_a_long_folder_keep_distinct_titles_within_the_limit() -> None:
    folder = "y" * 500
    buffer = BufferRef(BUCKET, folder, ManifestKey.IMAGE_GROUPS, create_video=True)
    members = [StorageObject(BUCKET, f"{folder}/f{index}.jpg", 1) for index in range(5)]

    titles = [unit.title for unit in image_groups(buffer, 1, members, max_frames=2)]

    assert len(set(titles)) == 3
    assert all(len(title) <= MAX_TITLE_CHARS for title in titles)
    assert [title[-len(" (part 1)") :] for title in titles] == [
        " (part 1)",
        " (part 2)",
        " (part 3)",
    ]


def test_dicom_series_labels_of_a_long_folder_fit_300_characters_and_stay_distinct() -> None:
    folder = "z" * 500
    buffer = BufferRef(BUCKET, folder, ManifestKey.DICOM_SERIES)
    members = [
        StorageObject(BUCKET, f"{folder}/{uid}.dcm", 1, series_uid=uid, instance_number=1)
        for uid in ("1.2.840.1", "1.2.840.2")
    ]

    titles = [unit.title for unit in dicom_series(buffer, 1, members)]

    assert all(len(title) == MAX_TITLE_CHARS for title in titles)
    assert titles[0].endswith(" [series 1.2.840.1]")
    assert titles[1].endswith(" [series 1.2.840.2]")


# -- titles unique and within the limit by construction (issue 13) -----------------------


def test_a_file_without_a_series_uid_next_to_a_series_whose_uid_is_1_gets_distinct_titles() -> None:
    members = [slice_("a.dcm", None, None), slice_("b.dcm", "1", 1)]

    units = dicom_series(SERIES, 1, members)

    titles = [unit.title for unit in units]
    assert len(set(titles)) == 2
    build_manifest(ManifestKey.DICOM_SERIES, units)  # refuses a title used twice


def test_a_very_long_series_uid_is_shortened_so_the_title_fits_300_characters() -> None:
    long_uid = "1." * 400 + "9"
    members = [slice_("a.dcm", long_uid, 1), slice_("b.dcm", "1.2", 1)]

    units = dicom_series(SERIES, 1, members)

    assert all(len(unit.title) <= MAX_TITLE_CHARS for unit in units)
    assert all(unit.title.startswith(FOLDER) for unit in units)
    build_manifest(ManifestKey.DICOM_SERIES, units)


def test_two_long_series_uids_that_share_a_head_keep_distinct_titles() -> None:
    head = "1.2.840." * 20
    members = [slice_("a.dcm", head + "1", 1), slice_("b.dcm", head + "2", 1)]

    titles = [unit.title for unit in dicom_series(SERIES, 1, members)]

    assert len(set(titles)) == 2
    assert all(len(title) <= MAX_TITLE_CHARS for title in titles)


uids = st.none() | st.text(max_size=400) | st.sampled_from(["", "1", "1.2", "no series uid"])
folders = st.text(max_size=600).map(lambda text: text.replace("/", "_")) | st.sampled_from(
    ["", "a", "x" * 299, "y" * 300, "=cmd"]
)


@settings(max_examples=300, deadline=None)
@given(folder=folders, series=st.lists(uids, min_size=1, max_size=8), seq=st.integers(1, 10**6))
def test_dicom_series_titles_are_unique_fit_300_characters_and_build_a_manifest(
    folder: str, series: list[str | None], seq: int
) -> None:
    buffer = BufferRef(BUCKET, folder, ManifestKey.DICOM_SERIES)
    prefix = f"{folder}/" if folder else ""
    members = [
        StorageObject(BUCKET, f"{prefix}f{index}.dcm", 1, series_uid=uid, instance_number=index)
        for index, uid in enumerate(series)
    ]

    units = dicom_series(buffer, seq, members)

    titles = [unit.title for unit in units]
    assert len(set(titles)) == len(titles)
    assert all(0 < len(title) <= MAX_TITLE_CHARS for title in titles)
    assert sum(len(unit.members) for unit in units) == len(members)
    build_manifest(ManifestKey.DICOM_SERIES, units)


@settings(max_examples=200, deadline=None)
@given(
    folder=folders,
    count=st.integers(1, 40),
    max_frames=st.integers(1, 7),
    seq=st.integers(1, 10**6),
    create_video=st.booleans(),
)
def test_image_group_part_titles_are_unique_fit_300_characters_and_build_a_manifest(
    folder: str, count: int, max_frames: int, seq: int, create_video: bool
) -> None:
    buffer = BufferRef(BUCKET, folder, ManifestKey.IMAGE_GROUPS, create_video=create_video)
    prefix = f"{folder}/" if folder else ""
    members = [StorageObject(BUCKET, f"{prefix}f{index}.jpg", 1) for index in range(count)]

    units = image_groups(buffer, seq, members, max_frames)

    titles = [unit.title for unit in units]
    assert len(set(titles)) == len(titles)
    assert all(0 < len(title) <= MAX_TITLE_CHARS for title in titles)
    build_manifest(ManifestKey.IMAGE_GROUPS, units)


def test_digits_that_are_not_decimal_sort_as_text_and_never_raise() -> None:
    # '²' and '①' are digits to str.isdigit but not to int(): a name holding one alone
    # used to raise ValueError in the natural order.
    assert natural_key("frame1²") == ((1, "frame"), (0, 1), (1, "²"))
    names = ["b1①", "a1²", "a10", "a2"]
    assert sorted(names, key=natural_key) == ["a1²", "a2", "a10", "b1①"]
