"""Property tests: no payload makes parsing or logging raise anything but a refusal (issue 13).

parse_storage_object either returns a StorageObject that Cloud Storage could have sent or
raises MalformedEventError; logs.info never raises, whatever its fields hold.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registration import logs
from registration.domain.events import parse_storage_object
from registration.domain.limits import MAX_CUSTOM_METADATA_BYTES, MAX_INT64, MAX_OBJECT_NAME_BYTES
from registration.domain.model import StorageObject
from registration.exceptions import MalformedEventError

# Any code point, lone surrogates and controls included.
weird_text = st.text(st.characters(codec=None, min_codepoint=0), max_size=40) | st.sampled_from(
    ["", ".", "..", "\ud800", "a\x00b", "x" * 1100, "é" * 600, "a/\r\n", " 12", "1e9", "-1"]
)
# Hypothesis reprs sampled values, and the repr of 10**5000 raises: build it instead.
huge = st.builds(pow, st.just(10), st.just(5000))
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([MAX_INT64, MAX_INT64 + 1, -1, 0])
    | huge
)
digit_strings = st.from_regex(r"\A[0-9]{1,25}\Z") | st.sampled_from(["9" * 5000, "²", "0x1f"])
scalars = st.none() | st.booleans() | numbers | st.floats() | weird_text | digit_strings
json_ish = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(weird_text, children, max_size=3)
    ),
    max_leaves=10,
)
metadata = (
    st.none()
    | json_ish
    | st.dictionaries(weird_text, weird_text, max_size=4)
    | st.just({"big": "x" * (MAX_CUSTOM_METADATA_BYTES + 1)})
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "bucket": st.sampled_from(["bkt", "my.bucket_1", "B", "", "a" * 300]) | scalars,
        "name": weird_text | st.text(max_size=1100) | scalars,
        "generation": digit_strings | numbers | scalars,
        "size": digit_strings | numbers | scalars,
        "contentType": weird_text | st.sampled_from(["image/jpeg", "x" * 2000]) | scalars,
        "timeCreated": weird_text
        | st.sampled_from(["2026-11-24T08:00:00Z", "0001-01-01T00:00:00+05:00"]),
        "metadata": metadata,
    },
)
subjects = st.none() | weird_text | st.builds(lambda name: "objects/" + name, weird_text)


def _as_bytes(payload: dict[str, Any]) -> Any:
    try:
        return json.dumps(payload).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        return payload


def check(result: Any) -> None:
    """What a StorageObject out of the parser always satisfies."""
    assert isinstance(result, StorageObject)
    assert 0 < len(result.name.encode("utf-8")) <= MAX_OBJECT_NAME_BYTES
    assert "\r" not in result.name and "\n" not in result.name
    assert not result.name.startswith(".well-known/acme-challenge/")
    assert isinstance(result.generation, int) and 0 <= result.generation <= MAX_INT64
    assert result.size is None or 0 <= result.size <= MAX_INT64
    assert all(isinstance(v, str) for v in result.custom_metadata.values())
    total = sum(len(k.encode()) + len(v.encode()) for k, v in result.custom_metadata.items())
    assert total <= MAX_CUSTOM_METADATA_BYTES


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, subject=subjects, as_bytes=st.booleans())
def test_any_payload_gives_a_storage_object_or_a_malformed_event_error_and_nothing_else(
    payload: dict[str, Any], subject: str | None, as_bytes: bool
) -> None:
    data = _as_bytes(payload) if as_bytes else payload
    try:
        result = parse_storage_object(data, "event-p", subject=subject)
    except MalformedEventError as error:
        assert error.problem
        assert len(error.problem) < 1000
        return
    check(result)


@settings(max_examples=200, deadline=None)
@given(data=json_ish | st.binary(max_size=64) | weird_text)
def test_any_json_value_or_bytes_as_data_gives_an_object_or_a_malformed_event_error(
    data: Any,
) -> None:
    with contextlib.suppress(MalformedEventError):
        check(parse_storage_object(data))


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
@settings(max_examples=200, deadline=None)
@given(message=weird_text, value=json_ish | st.builds(object) | huge)
def test_logging_any_value_never_raises_and_writes_one_json_line(
    encoding: str, message: str, value: Any
) -> None:
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding=encoding, errors="strict")
    original = sys.stdout
    sys.stdout = stream
    try:
        logs.info(message, name=value, problem=value, event_id="e")
    finally:
        sys.stdout = original
    stream.flush()
    [line] = buffer.getvalue().decode(encoding).splitlines()
    assert json.loads(line)["severity"]


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")

    __repr__ = __str__


def _deep() -> list[Any]:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    return nested


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "a/\udc80.jpg",
        10**5000,
        _Unprintable(),
        _circular(),
        {("tuple", "key"): 1},
        _deep(),
        "x" * 1_000_000,
    ],
    ids=[
        "surrogate",
        "surrogate-name",
        "huge-int",
        "unprintable",
        "circular",
        "tuple-key",
        "nested",
        "a-megabyte",
    ],
)
def test_a_value_json_cannot_carry_is_still_logged_as_one_line(
    value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.warning("malformed event dropped", name=value)
    [line] = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["message"] == "malformed event dropped"
    assert len(line) < 20_000


def test_a_broken_stdout_does_not_make_logging_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr(sys, "stdout", stream)
    logs.error("nowhere to go", name="x")
