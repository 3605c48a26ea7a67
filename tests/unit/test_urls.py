"""urls.py: object name <-> Encord objectUrl, exact in both directions (SPEC §2 "URLs")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.manifest.urls import UrlStyle, encode_object_name, object_url, parse_object_url

BUCKET = "encord-image-bucket"

AWKWARD_NAMES = [
    "plain.jpg",
    "site-a/cam 1/frame 0001.png",
    "1+(32).jpg",
    "a+b/c+d.jpg",
    "what #1.jpg",
    "why?.jpg",
    "100%.jpg",
    "literally%20encoded.jpg",
    "%2F-not-a-slash.jpg",
    "tab\tand\nnewline.jpg",
    "画像/写真 1.JPG",
    "Ω+(32).jpg",
    "صور/صورة \u0661.jpg",  # Arabic, with an Arabic-Indic digit
    "😀 party/🎉.png",
    "a//double/slash.jpg",
    "/leading-slash.jpg",
    "semi;colon,comma=equals&amp@at$dollar!bang'quote*star.jpg",
    "~tilde_under-dash.dot.jpg",
]


@pytest.mark.parametrize("style", ["https", "gs"])
@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_parsing_an_object_url_gives_back_the_exact_bucket_and_name(
    name: str, style: UrlStyle
) -> None:
    assert parse_object_url(object_url(BUCKET, name, style)) == (BUCKET, name)


@pytest.mark.parametrize("style", ["https", "gs"])
@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_no_object_url_contains_whitespace(name: str, style: UrlStyle) -> None:
    url = object_url(BUCKET, name, style)
    assert not any(character.isspace() for character in url), url


def test_encords_sample_name_is_fully_percent_encoded() -> None:
    assert object_url(BUCKET, "images/1+(32).jpg") == (
        "https://storage.cloud.google.com/encord-image-bucket/images/1%2B%2832%29.jpg"
    )


def test_the_https_style_is_the_default() -> None:
    assert (
        object_url(BUCKET, "x.jpg") == "https://storage.cloud.google.com/encord-image-bucket/x.jpg"
    )


def test_the_gs_style_uses_the_gs_scheme() -> None:
    assert object_url(BUCKET, "a b/x.jpg", "gs") == "gs://encord-image-bucket/a%20b/x.jpg"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("a b.jpg", "a%20b.jpg"),
        ("a+b.jpg", "a%2Bb.jpg"),
        ("a#b.jpg", "a%23b.jpg"),
        ("a?b.jpg", "a%3Fb.jpg"),
        ("a%b.jpg", "a%25b.jpg"),
        ("a%20b.jpg", "a%2520b.jpg"),
        ("Ω.jpg", "%CE%A9.jpg"),
        ("画像/写真 1.JPG", "%E7%94%BB%E5%83%8F/%E5%86%99%E7%9C%9F%201.JPG"),
        ("🎉.png", "%F0%9F%8E%89.png"),
    ],
)
def test_reserved_and_non_ascii_characters_are_percent_encoded_as_utf8(
    name: str, encoded: str
) -> None:
    assert encode_object_name(name) == encoded


def test_the_path_separator_is_kept() -> None:
    assert encode_object_name("site-a/cam 1/x.jpg") == "site-a/cam%201/x.jpg"
    assert object_url(BUCKET, "a/b/c.jpg").endswith("/encord-image-bucket/a/b/c.jpg")


def test_a_literal_percent_twenty_is_not_confused_with_a_space() -> None:
    literal = object_url(BUCKET, "x%20y.jpg")
    spaced = object_url(BUCKET, "x y.jpg")
    assert literal != spaced
    assert parse_object_url(literal)[1] == "x%20y.jpg"
    assert parse_object_url(spaced)[1] == "x y.jpg"


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/x.jpg", "https://example.com/bucket/x.jpg", "storage.cloud.google.com/b/x"],
)
def test_a_url_of_another_kind_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a Cloud Storage object URL"):
        parse_object_url(url)


BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]", fullmatch=True)
# RFC 3986 unreserved characters, the kept '/', and upper-case %XX escapes: nothing else.
UNRESERVED_OR_ESCAPED = re.compile(r"(?:[A-Za-z0-9._~/-]|%[0-9A-F]{2})+")
NAMES = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1)


@given(bucket=BUCKETS, name=NAMES, style=st.sampled_from(["https", "gs"]))
def test_any_text_name_survives_the_round_trip_and_gives_a_url_without_whitespace(
    bucket: str, name: str, style: UrlStyle
) -> None:
    url = object_url(bucket, name, style)
    assert parse_object_url(url) == (bucket, name)
    assert not any(character.isspace() for character in url)
    # Every character of the encoded path is unreserved, '/', or part of a %XX escape.
    encoded = url.removeprefix("https://storage.cloud.google.com/").removeprefix("gs://")
    assert UNRESERVED_OR_ESCAPED.fullmatch(encoded.partition("/")[2]), url
