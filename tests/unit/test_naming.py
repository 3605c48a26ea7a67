"""naming.py: where a batch's manifest goes, and that two buffers never share a path."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from registration.domain.model import BufferRef, ManifestKey
from registration.manifest.naming import manifest_path

PREFIX = "encord-manifests/"
CLAIMED_AT = datetime(2026, 11, 24, 9, 5, 7, 123456, tzinfo=UTC)
SHAPE = re.compile(
    r"^(?P<prefix>encord-manifests/)(?P<folder>.*/)?(?P<key>[a-z_]+)/"
    r"(?P<seq>\d{6})-(?P<time>\d{8}T\d{6}Z)-(?P<tag>[0-9a-f]{8})\.(?P<ext>json|csv)$"
)


def parts(path: str) -> dict[str, str]:
    match = SHAPE.match(path)
    assert match is not None, path
    return match.groupdict()


def test_a_manifest_path_is_prefix_folder_key_then_sequence_time_and_tag() -> None:
    buffer = BufferRef("bkt", "site-a/cam 1", ManifestKey.IMAGES)

    found = parts(manifest_path(PREFIX, buffer, 42, CLAIMED_AT, "json"))

    assert found["folder"] == "site-a/cam 1/"
    assert found["key"] == "images"
    assert found["seq"] == "000042"
    assert found["time"] == "20261124T090507Z"
    assert found["ext"] == "json"


def test_a_buffer_in_the_bucket_root_adds_no_empty_folder_segment() -> None:
    buffer = BufferRef("bkt", "", ManifestKey.VIDEOS)

    path = manifest_path(PREFIX, buffer, 1, CLAIMED_AT, "csv")

    assert path.startswith(f"{PREFIX}videos/000001-")
    assert "//" not in path
    assert parts(path)["folder"] is None


def test_the_folder_is_kept_verbatim_however_odd_its_name() -> None:
    buffer = BufferRef("bkt", "画像/a b+c #1", ManifestKey.IMAGES)

    path = manifest_path(PREFIX, buffer, 1, CLAIMED_AT, "json")

    assert path.startswith(f"{PREFIX}画像/a b+c #1/images/")


def test_a_buffers_manifests_sort_by_sequence_number_as_plain_strings() -> None:
    buffer = BufferRef("bkt", "cam", ManifestKey.IMAGES)
    seqs = [1, 2, 9, 10, 99, 100, 123_456]

    paths = [manifest_path(PREFIX, buffer, seq, CLAIMED_AT, "json") for seq in seqs]

    assert sorted(paths) == paths


def test_one_batch_always_gets_the_same_path_so_a_rewrite_replaces_it() -> None:
    first = manifest_path(PREFIX, BufferRef("bkt", "cam", ManifestKey.AUDIO), 3, CLAIMED_AT, "json")
    again = manifest_path(PREFIX, BufferRef("bkt", "cam", ManifestKey.AUDIO), 3, CLAIMED_AT, "json")

    assert first == again


def test_an_image_group_and_an_image_sequence_of_one_folder_get_different_paths() -> None:
    group = BufferRef("bkt", "runs/day 1", ManifestKey.IMAGE_GROUPS, create_video=False)
    sequence = BufferRef("bkt", "runs/day 1", ManifestKey.IMAGE_GROUPS, create_video=True)

    paths = {manifest_path(PREFIX, buffer, 1, CLAIMED_AT, "json") for buffer in (group, sequence)}

    assert len(paths) == 2


def test_one_folder_of_two_source_buckets_gets_different_paths_in_a_shared_manifest_bucket() -> (
    None
):
    a = BufferRef("bucket-a", "cam", ManifestKey.IMAGES)
    b = BufferRef("bucket-b", "cam", ManifestKey.IMAGES)

    path_a = manifest_path(PREFIX, a, 1, CLAIMED_AT, "json")
    path_b = manifest_path(PREFIX, b, 1, CLAIMED_AT, "json")

    assert path_a != path_b
    # Same folder, key, number and time: only the buffer tag tells them apart.
    assert parts(path_a)["tag"] != parts(path_b)["tag"]


def test_different_keys_of_one_folder_get_different_paths() -> None:
    paths = {
        manifest_path(PREFIX, BufferRef("bkt", "mixed", key), 1, CLAIMED_AT, "json")
        for key in ManifestKey
    }

    assert len(paths) == len(ManifestKey)


# -- Cloud Storage's 1,024-byte name limit (issue 13) -------------------------------------


def test_a_folder_of_1001_bytes_gives_a_manifest_path_within_1024_bytes() -> None:
    folder = "d/" * 500 + "x"
    assert len(folder.encode()) == 1001
    buffer = BufferRef("bkt", folder, ManifestKey.IMAGE_GROUPS)

    path = manifest_path(PREFIX, buffer, 1, CLAIMED_AT, "json")

    assert len(path.encode()) <= 1024
    assert path.startswith(PREFIX + "d/d/d/")
    assert parts(path)["key"] == "image_groups"


def test_a_folder_that_fits_keeps_its_whole_name_even_near_the_limit() -> None:
    folder = "f" * (1024 - len(PREFIX) - len("/images/000001-20261124T090507Z-12345678.json") - 4)
    buffer = BufferRef("bkt", folder, ManifestKey.IMAGES)

    path = manifest_path(PREFIX, buffer, 1, CLAIMED_AT, "json")

    assert parts(path)["folder"] == folder + "/"


def test_two_long_folders_that_share_their_first_kilobyte_get_different_paths() -> None:
    head = "é" * 500
    a = BufferRef("bkt", head + "/a", ManifestKey.IMAGES)
    b = BufferRef("bkt", head + "/b", ManifestKey.IMAGES)

    path_a = manifest_path(PREFIX, a, 1, CLAIMED_AT, "json")
    path_b = manifest_path(PREFIX, b, 1, CLAIMED_AT, "json")

    assert path_a.rpartition("/images/")[0] != path_b.rpartition("/images/")[0]
    assert all(len(path.encode()) <= 1024 for path in (path_a, path_b))


def test_a_long_folders_path_part_stays_the_same_as_its_sequence_numbers_grow() -> None:
    buffer = BufferRef("bkt", "z" * 1000, ManifestKey.DICOM_SERIES)

    folders = {
        manifest_path(PREFIX, buffer, seq, CLAIMED_AT, "csv").rpartition("/dicom_series/")[0]
        for seq in (1, 999_999, 1_000_000, 9_999_999_999)
    }

    assert len(folders) == 1


# Folders Cloud Storage allows: up to 1,023 bytes (the object's name adds at least '/x').
letters = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])
folder_texts = (
    st.text(letters, min_size=1, max_size=1000)
    | st.builds(
        lambda repeat, unit, tail: unit * repeat + tail,
        st.integers(100, 1000),
        st.sampled_from(["x", "é", "画", "😀", "a/"]),
        st.text(letters, max_size=20),
    )
).filter(lambda text: len(text.encode()) <= 1022)
prefixes = st.sampled_from([PREFIX, "", "m/", "p" * 899 + "/"])


@settings(max_examples=300, deadline=None)
@given(
    folder=folder_texts,
    other=folder_texts,
    prefix=prefixes,
    key=st.sampled_from(list(ManifestKey)),
    seq=st.integers(1, 9_999_999_999),
    ext=st.sampled_from(["json", "csv"]),
)
def test_every_manifest_path_fits_1024_bytes_is_deterministic_and_unique_per_buffer(
    folder: str, other: str, prefix: str, key: ManifestKey, seq: int, ext: str
) -> None:
    buffer = BufferRef("bkt", folder, key)

    path = manifest_path(prefix, buffer, seq, CLAIMED_AT, ext)

    assert len(path.encode("utf-8")) <= 1024
    assert path == manifest_path(prefix, buffer, seq, CLAIMED_AT, ext)
    assert path.startswith(prefix)
    assert path.endswith(f"/{key.value}/{seq:06d}-20261124T090507Z-{buffer.ident[:8]}.{ext}")
    if other != folder:
        assert manifest_path(prefix, BufferRef("bkt", other, key), seq, CLAIMED_AT, ext) != path
