"""classify.py on hostile names: our own manifests, URLs past 16 KiB, titles past 300 (issue 13).

SPEC §3: "anything under the manifest prefix" is never registered. The prefix is judged on
the object name alone, in whatever bucket: with REGISTRATION_MANIFEST_BUCKET set, objects
under the prefix in a source bucket are ignored too, so a later change of that setting can
never make the function register its own manifests.
"""

from __future__ import annotations

import pytest

from registration.domain.classify import classify, url_bytes
from registration.domain.limits import MAX_TITLE_CHARS, MAX_URL_BYTES
from registration.domain.model import Accepted, Ignored, Rejected, RejectionReason, StorageObject

PREFIX = "encord-manifests/"


def obj(name: str, bucket: str = "bkt") -> StorageObject:
    return StorageObject(bucket, name, 1, content_type="image/jpeg")


@pytest.mark.parametrize(
    "name",
    [
        "encord-manifests/images/000001-20261124T090507Z-abcdef12.json",
        "encord-manifests/encord-manifests/images/x.json",
        "encord-manifests/site/images/frame.jpg",
        "encord-manifests/x.jpg",
    ],
)
@pytest.mark.parametrize("bucket", ["source-bucket", "manifest-bucket"])
def test_a_folder_that_is_or_starts_with_the_manifest_prefix_is_ignored_in_any_bucket(
    name: str, bucket: str
) -> None:
    verdict = classify(obj(name, bucket), manifest_prefix=PREFIX)

    assert isinstance(verdict, Ignored)


def test_the_manifest_prefix_wins_over_an_image_group_prefix_that_contains_it() -> None:
    verdict = classify(
        obj("encord-manifests/groups/a.jpg"),
        manifest_prefix=PREFIX,
        image_group_prefixes=["encord-manifests/"],
    )

    assert isinstance(verdict, Ignored)


def test_a_name_whose_url_would_pass_16_kib_is_rejected_with_a_reason_naming_the_url() -> None:
    folder = "é" * 3000  # 6,000 bytes, 18,000 once percent-encoded
    hostile = obj(f"{folder}/x.jpg")
    assert url_bytes(hostile) > MAX_URL_BYTES

    verdict = classify(hostile, manifest_prefix=PREFIX)

    assert isinstance(verdict, Rejected)
    assert verdict.reason is RejectionReason.URL_TOO_LONG
    assert "URL" in verdict.detail and str(MAX_URL_BYTES) in verdict.detail
    assert len(verdict.detail) < 400


def test_a_name_of_1024_bytes_of_worst_case_characters_still_fits_the_url_limit() -> None:
    name = "%" * 1015 + "/x.jpg"  # 1,021 bytes; every '%' becomes three
    verdict = classify(obj(name, bucket="b" * 63), manifest_prefix=PREFIX)

    assert isinstance(verdict, Accepted)
    assert url_bytes(obj(name, bucket="b" * 63)) < MAX_URL_BYTES


def test_a_title_past_300_characters_is_rejected_as_name_too_long() -> None:
    verdict = classify(obj("a/" + "t" * MAX_TITLE_CHARS + ".jpg"), manifest_prefix=PREFIX)

    assert isinstance(verdict, Rejected)
    assert verdict.reason is RejectionReason.NAME_TOO_LONG
