"""events.py: CloudEvent data from Cloud Storage -> StorageObject, strict about what it needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from registration.domain.events import parse_storage_object
from registration.exceptions import MalformedEventError

# Payloads recorded from Cloud Storage (tests/data).
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MINIMAL: dict[str, Any] = {"bucket": "bkt", "name": "a/x.jpg", "generation": "7"}


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    return data


def with_fields(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, **fields}


def without(field: str) -> dict[str, Any]:
    return {key: value for key, value in MINIMAL.items() if key != field}


# -- recorded payloads ------------------------------------------------------------------


def test_a_recorded_finalize_payload_is_parsed_field_by_field() -> None:
    obj = parse_storage_object(recorded("finalized_image.json"))
    assert obj.bucket == "demo-bucket"
    assert obj.name == "site-a/cam 1/1+(32).jpg"
    assert obj.generation == 1732435200123456
    assert obj.size == 48213
    assert obj.content_type == "image/jpeg"
    assert obj.time_created == datetime(2026, 11, 24, 8, 0, 0, 123000, tzinfo=UTC)
    assert obj.custom_metadata == {"camera": "cam 1", "keyframes": "[0, 10]"}
    assert obj.folder == "site-a/cam 1"
    assert obj.file_name == "1+(32).jpg"


def test_a_recorded_delete_payload_names_the_same_generation_and_has_no_metadata() -> None:
    finalized = parse_storage_object(recorded("finalized_image.json"))
    deleted = parse_storage_object(recorded("deleted_image.json"))
    assert (deleted.bucket, deleted.name, deleted.generation) == (
        finalized.bucket,
        finalized.name,
        finalized.generation,
    )
    assert deleted.custom_metadata == {}


def test_a_recorded_payload_with_integer_fields_is_accepted() -> None:
    obj = parse_storage_object(recorded("finalized_text_int_fields.json"))
    assert obj.generation == 1732435200999999
    assert obj.size == 1234
    assert obj.time_created is None


# -- accepted shapes --------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("42", 42), (42, 42), ("0", 0), (0, 0)])
def test_size_and_generation_arrive_as_strings_or_ints(raw: str | int, value: int) -> None:
    obj = parse_storage_object(with_fields(size=raw, generation=raw))
    assert (obj.size, obj.generation) == (value, value)


def test_a_metageneration_is_neither_needed_nor_checked() -> None:
    # GCS sends it, but nothing decides by it any more: even a garbled one is no reason
    # to drop the event.
    obj = parse_storage_object(with_fields(metageneration="x"))
    assert obj.generation == 7


def test_a_nineteen_digit_generation_is_kept_exactly() -> None:
    assert parse_storage_object(with_fields(generation="1732435200123456789")).generation == (
        1732435200123456789
    )


def test_optional_fields_may_be_missing() -> None:
    obj = parse_storage_object(MINIMAL)
    assert obj.size is None
    assert obj.content_type is None
    assert obj.time_created is None
    assert obj.custom_metadata == {}


@pytest.mark.parametrize("encode", [json.dumps, lambda data: json.dumps(data).encode("utf-8")])
def test_data_may_arrive_as_json_text_or_json_bytes(encode: Any) -> None:
    obj = parse_storage_object(encode(recorded("finalized_image.json")))
    assert obj.name == "site-a/cam 1/1+(32).jpg"
    assert obj.generation == 1732435200123456


def test_a_non_ascii_name_in_utf8_bytes_is_decoded_exactly() -> None:
    data = json.dumps(with_fields(name="画像/写真 1.JPG"), ensure_ascii=False).encode("utf-8")
    assert parse_storage_object(data).name == "画像/写真 1.JPG"


def test_an_unparseable_time_created_is_ignored_rather_than_dropping_the_event() -> None:
    assert parse_storage_object(with_fields(timeCreated="yesterday")).time_created is None


def test_a_naive_time_created_is_taken_as_utc() -> None:
    obj = parse_storage_object(with_fields(timeCreated="2026-11-24T08:00:00"))
    assert obj.time_created == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_custom_metadata_strings_are_kept_as_they_are() -> None:
    obj = parse_storage_object(with_fields(metadata={"frames": "12", "ok": "True"}))
    assert obj.custom_metadata == {"frames": "12", "ok": "True"}


def test_an_empty_content_type_means_unknown() -> None:
    assert parse_storage_object(with_fields(contentType="")).content_type is None


# -- malformed data ---------------------------------------------------------------------


MALFORMED: list[Any] = [
    pytest.param(b"not json at all", "not JSON", id="bytes-not-json"),
    pytest.param("{'bucket': 'single quotes'}", "not JSON", id="str-not-json"),
    pytest.param(b"\xff\xfe{}", "not UTF-8", id="not-utf8"),
    pytest.param([MINIMAL], "list", id="a-list"),
    pytest.param("[1, 2]", "list", id="a-json-list"),
    pytest.param("42", "int", id="a-json-number"),
    pytest.param(None, "NoneType", id="no-data"),
    pytest.param(without("bucket"), "'bucket'", id="missing-bucket"),
    pytest.param(with_fields(bucket=""), "'bucket'", id="empty-bucket"),
    pytest.param(with_fields(bucket=7), "'bucket'", id="bucket-not-a-string"),
    pytest.param(without("name"), "'name'", id="missing-name"),
    pytest.param(with_fields(name=""), "'name'", id="empty-name"),
    pytest.param(without("generation"), "'generation'", id="missing-generation"),
    pytest.param(with_fields(generation="abc"), "'generation'", id="generation-abc"),
    pytest.param(with_fields(generation=""), "'generation'", id="generation-empty"),
    pytest.param(with_fields(generation="1.5"), "'generation'", id="generation-decimal-string"),
    pytest.param(with_fields(generation=1.0), "'generation'", id="generation-float"),
    pytest.param(with_fields(generation=True), "'generation'", id="generation-bool"),
    pytest.param(with_fields(generation=-3), "'generation'", id="generation-negative"),
    pytest.param(with_fields(size=-1), "'size'", id="size-negative-int"),
    pytest.param(with_fields(size="-1"), "'size'", id="size-negative-string"),
    pytest.param(with_fields(size=False), "'size'", id="size-bool"),
    pytest.param(with_fields(metadata="camera=1"), "'metadata'", id="metadata-a-string"),
    pytest.param(with_fields(metadata=["camera"]), "'metadata'", id="metadata-a-list"),
    pytest.param(with_fields(metadata=5), "'metadata'", id="metadata-a-number"),
]


@pytest.mark.parametrize(("data", "problem"), MALFORMED)
def test_malformed_data_raises_an_error_that_names_the_problem(data: Any, problem: str) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data, "event-123")
    assert problem in caught.value.problem
    assert caught.value.event_id == "event-123"
    assert "event-123" in str(caught.value)


def test_a_negative_size_says_that_it_is_negative() -> None:
    with pytest.raises(MalformedEventError, match="must not be negative"):
        parse_storage_object(with_fields(size=-1))


def test_an_event_without_an_id_still_gets_a_readable_message() -> None:
    with pytest.raises(MalformedEventError, match="<no id>"):
        parse_storage_object(b"nope")


@pytest.mark.parametrize("raw", ["²", "1²", "①"])
def test_a_generation_of_unicode_digit_symbols_is_malformed_not_a_crash(raw: str) -> None:
    with pytest.raises(MalformedEventError, match="'generation'"):
        parse_storage_object(with_fields(generation=raw))


# -- hostile data: refused as malformed, never a crash (issue 13) -------------------------

INT64_MAX = 2**63 - 1

HOSTILE: list[Any] = [
    pytest.param(with_fields(generation="9" * 5000), "int64", id="generation-5000-digits"),
    pytest.param(with_fields(generation=10**5000), "int64", id="generation-5000-digit-int"),
    pytest.param(with_fields(generation=str(INT64_MAX + 1)), "int64", id="generation-2^63"),
    pytest.param(with_fields(generation=INT64_MAX + 1), "int64", id="generation-int-2^63"),
    pytest.param(with_fields(size=str(INT64_MAX + 1)), "int64", id="size-2^63"),
    pytest.param(with_fields(size="1" * 40), "int64", id="size-40-digits"),
    pytest.param(with_fields(generation="abc"), "'generation'", id="generation-abc"),
    pytest.param(with_fields(generation="-1"), "'generation'", id="generation-minus-one"),
    pytest.param(with_fields(generation="1e9"), "'generation'", id="generation-1e9"),
    pytest.param(with_fields(generation=" 12"), "'generation'", id="generation-leading-space"),
    pytest.param(with_fields(generation="12\n"), "'generation'", id="generation-newline"),
    pytest.param(with_fields(size="many"), "'size'", id="size-not-numeric"),
    pytest.param(with_fields(size=1.5), "'size'", id="size-float"),
    pytest.param(with_fields(name="a/\ud800.jpg"), "lone surrogate", id="name-lone-surrogate"),
    pytest.param(with_fields(name="a/b\r\n.jpg"), "U+000D", id="name-crlf"),
    pytest.param(with_fields(name="a/b\r.jpg"), "U+000D", id="name-cr"),
    pytest.param(with_fields(name="a/b\n.jpg"), "U+000A", id="name-lf"),
    pytest.param(
        with_fields(name=".well-known/acme-challenge/x.jpg"), "acme-challenge", id="name-acme"
    ),
    pytest.param(with_fields(name="."), "'.'", id="name-dot"),
    pytest.param(with_fields(name="x" * 1021 + ".jpg"), "1025 bytes", id="name-1025-bytes"),
    pytest.param(with_fields(name="é" * 511 + ".jpg"), "1026 bytes", id="name-1026-bytes-utf8"),
    pytest.param(with_fields(name=".."), "'..'", id="name-dot-dot"),
    pytest.param(with_fields(name=["a"]), "'name'", id="name-a-list"),
    pytest.param(with_fields(bucket="Not A Bucket"), "'bucket'", id="bucket-with-spaces"),
    pytest.param(with_fields(bucket="b" * 223), "'bucket'", id="bucket-223-characters"),
    pytest.param(with_fields(metadata={"frames": 12}), "must be strings", id="metadata-number"),
    pytest.param(with_fields(metadata={"a": {"b": {}}}), "must be strings", id="metadata-nested"),
    pytest.param(with_fields(metadata={"big": "x" * 5_000_000}), "8192", id="metadata-5-mb"),
    pytest.param(
        with_fields(metadata={f"k{i}": "v" * 100 for i in range(100)}), "8192", id="metadata-10kb"
    ),
    pytest.param(with_fields(metadata={"k": "\udc80"}), "lone surrogate", id="metadata-surrogate"),
    pytest.param(with_fields(contentType="image/" + "x" * 10_000), "1024", id="content-type-10kb"),
    pytest.param(with_fields(contentType=["image/jpeg"]), "'contentType'", id="content-type-list"),
    pytest.param(with_fields(contentType="image/jpeg\r\nX: 1"), "control", id="content-type-crlf"),
    pytest.param(
        '{"bucket": "bkt", "name": "x.jpg", "generation": ' + "9" * 5000 + "}",
        "usable JSON",
        id="json-5000-digit-number",
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, "usable JSON", id="json-nested-100000-deep"),
]


@pytest.mark.parametrize(("data", "problem"), HOSTILE)
def test_hostile_data_is_refused_as_malformed_with_a_problem_that_names_it(
    data: Any, problem: str
) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data, "event-9")
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    "data",
    [
        with_fields(name="n" * 5_000_000),
        with_fields(metadata={"big": "x" * 5_000_000}),
        with_fields(generation="9" * 5000),
        with_fields(contentType="t" * 5_000_000),
    ],
)
def test_a_problem_quotes_at_most_a_short_part_of_a_huge_value(data: Any) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data)
    assert len(caught.value.problem) < 400


def test_the_largest_int64_generation_and_size_are_accepted_and_stay_numeric() -> None:
    obj = parse_storage_object(with_fields(generation=str(INT64_MAX), size=INT64_MAX))
    assert obj.generation == INT64_MAX
    assert isinstance(obj.generation, int)
    assert obj.size == INT64_MAX


def test_a_name_of_exactly_1024_bytes_of_utf8_is_accepted() -> None:
    name = "é" * 510 + ".jpg"
    assert len(name.encode()) == 1024
    assert parse_storage_object(with_fields(name=name)).name == name


def test_metadata_of_exactly_8_kib_is_accepted() -> None:
    metadata = {"k": "v" * (8192 - 1)}
    assert parse_storage_object(with_fields(metadata=metadata)).custom_metadata == metadata


def test_a_time_created_with_no_utc_equivalent_is_ignored_rather_than_crashing() -> None:
    obj = parse_storage_object(with_fields(timeCreated="0001-01-01T00:00:00+05:00"))
    assert obj.time_created is None


@pytest.mark.parametrize(
    "subject", ["objects/a/x.jpg", "objects/a%2Fx.jpg", "objects/a/x%2Ejpg", None]
)
def test_a_subject_naming_the_object_raw_or_percent_encoded_is_accepted(
    subject: str | None,
) -> None:
    assert parse_storage_object(MINIMAL, subject=subject).name == "a/x.jpg"


@pytest.mark.parametrize("subject", ["objects/a/other.jpg", "a/x.jpg", "objects/", 7])
def test_a_subject_that_disagrees_with_the_data_is_refused_as_malformed(subject: Any) -> None:
    with pytest.raises(MalformedEventError, match="does not name the object"):
        parse_storage_object(MINIMAL, "event-1", subject=subject)
