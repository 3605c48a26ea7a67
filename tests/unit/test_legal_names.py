"""Every name Cloud Storage accepts is registered or rejected with a reason, never dropped.

The table (tests/support/legal_names.py) says each character class's fate; these tests run it
through the pure parser and the use cases over the in-memory fake, in JSON and CSV. The same
table runs end to end in tests/e2e/test_legal_names_e2e.py.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devstack import cloudevents
from registration.config import Settings
from registration.domain.events import named_object, parse_storage_object
from registration.domain.model import RejectionReason, StorageObject
from registration.exceptions import MalformedEventError
from registration.manifest.urls import parse_object_url
from registration.services.intake import register
from registration.services.malformed import drop_malformed
from registration.services.ports import Context
from registration.services.status import status
from registration.services.sweep import sweep
from registration.services.threshold import ThresholdGate
from tests.support.clock import FakeClock
from tests.support.legal_names import (
    NAME_CASES,
    REGISTERED,
    NameCase,
    legal_image_names,
    legal_names,
)
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "bkt"
START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def world(fmt: str = "json") -> tuple[Context, MemoryStore, MemoryBucket]:
    clock = FakeClock(START)
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    config = Settings(batch_images=1, manifest_format=fmt)  # type: ignore[arg-type]
    return Context(config, memory_backends(store, bucket), clock), store, bucket


def registered_names(bucket: MemoryBucket) -> list[str]:
    """Every object name in every manifest written, one entry per appearance."""
    names: list[str] = []
    for _, path, data in bucket.history:
        if path.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            names += [parse_object_url(row[0])[1] for row in rows[1:]]
            continue
        for key, items in json.loads(data).items():
            if key == "skip_duplicate_urls":
                continue
            for item in items:
                names += [
                    parse_object_url(value)[1]
                    for field, value in item.items()
                    if field == "objectUrl" or field.startswith("objectUrl_")
                ]
    return names


def fate_of(store: MemoryStore, bucket: MemoryBucket, name: str) -> str | None:
    """'registered', a rejection reason, or None (dropped: the failure this file guards)."""
    if name in registered_names(bucket):
        return REGISTERED
    reasons = [record.reason for record in store.of_object(BUCKET, name)]
    return reasons[0] if reasons else None


def event_data(name: str, generation: int = 1) -> dict[str, Any]:
    return cloudevents.object_data(BUCKET, name, generation, content_type=None)


@pytest.mark.parametrize("case", NAME_CASES, ids=lambda case: case.ident)
def test_each_legal_character_class_parses_into_the_object_it_names(case: NameCase) -> None:
    parsed = parse_storage_object(event_data(case.name), "e1", subject="objects/" + case.name)
    assert parsed.name == case.name


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("case", NAME_CASES, ids=lambda case: case.ident)
def test_each_legal_character_class_meets_its_fate_in_json_and_csv(
    case: NameCase, fmt: str
) -> None:
    ctx, store, bucket = world(fmt)
    register(ctx, parse_storage_object(event_data(case.name)), ThresholdGate())
    assert fate_of(store, bucket, case.name) == case.fate
    if case.fate == REGISTERED:
        # The URL in the manifest decodes back to the exact name, once.
        assert registered_names(bucket) == [case.name]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(legal_image_names(), min_size=1, max_size=8, unique=True))
def test_any_image_named_from_the_legal_alphabet_is_registered_once_under_its_exact_name(
    names: list[str],
) -> None:
    ctx, _, bucket = world()
    gate = ThresholdGate()
    for generation, name in enumerate(names, start=1):
        register(ctx, parse_storage_object(event_data(name, generation)), gate)
    assert sorted(registered_names(bucket)) == sorted(names)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=legal_names(), fmt=st.sampled_from(["json", "csv"]))
@example(name="0.NII", fmt="json")  # a key whose batch is over 1: it waits for the sweep
@example(name="clip\t.mp4", fmt="csv")
@example(name="s/\u202e1.dcm", fmt="json")
def test_any_legal_name_ends_registered_or_rejected_with_a_reason_never_dropped(
    name: str, fmt: str
) -> None:
    ctx, store, bucket = world(fmt)
    try:
        obj = parse_storage_object(event_data(name), "e1", subject="objects/" + name)
    except MalformedEventError as error:  # pragma: no cover - the failure under test
        pytest.fail(f"a legal name was refused as malformed: {error}")
    register(ctx, obj, ThresholdGate())
    # A name whose key has a batch over 1 (a video, a NIfTI, a DICOM series) waits for its
    # batch: the sweep writes it once its buffer is past the max age or its group is quiet.
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    clock.advance(3600)
    assert sweep(ctx).errors == []
    fate = fate_of(store, bucket, name)
    prefix = ctx.settings.manifest_prefix
    if name.startswith(prefix):
        return  # our own output: ignored on purpose, to avoid a loop (SPEC section 2)
    assert fate is not None, f"{name!a} was dropped"
    assert fate == REGISTERED or fate in set(RejectionReason)


@pytest.mark.parametrize(
    ("name", "generation"),
    [
        pytest.param("a/b\r\nc.jpg", "5", id="crlf"),
        pytest.param("a/b\nc.jpg", "not-a-number", id="lf-and-a-bad-generation"),
        pytest.param(".well-known/acme-challenge/x.jpg", "5", id="acme"),
    ],
)
def test_a_malformed_event_that_names_an_object_leaves_a_malformed_event_rejection(
    name: str, generation: str
) -> None:
    ctx, store, _ = world()
    data = {**event_data(name), "generation": generation}
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data, "e1")

    drop_malformed(ctx, caught.value, named_object(data))

    [record] = store.of_object(BUCKET, name)
    assert record.reason == RejectionReason.MALFORMED_EVENT
    assert record.generation == (5 if generation == "5" else 0)
    assert caught.value.problem in record.detail
    view = status(ctx)
    assert view.totals.malformed_events_by_day == {START.date().isoformat(): 1}
    assert [item.name for item in view.rejected] == [name]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"bucket": BUCKET, "name": "a/\ud800.jpg", "generation": "1"}, id="surrogate"),
        pytest.param({"bucket": BUCKET, "name": "x" * 5000, "generation": "1"}, id="5000-bytes"),
        pytest.param({"bucket": BUCKET, "generation": "1"}, id="no-name"),
        pytest.param({"bucket": "Not A Bucket", "name": "x.jpg"}, id="bad-bucket"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_a_malformed_event_naming_nothing_recordable_is_still_counted_for_the_day(
    data: Any,
) -> None:
    ctx, store, _ = world()
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data, "e1")

    drop_malformed(ctx, caught.value, named_object(data))

    assert store.recent(10) == []
    assert status(ctx).totals.malformed_events_by_day == {START.date().isoformat(): 1}


def test_recording_a_malformed_event_never_raises_even_when_the_store_fails() -> None:
    class FailingStore(MemoryStore):
        def count_malformed_event(self, now: datetime) -> None:
            raise ConnectionError("Firestore is down")

    clock = FakeClock(START)
    ctx = Context(Settings(), memory_backends(FailingStore(clock=clock), MemoryBucket()), clock)
    data = event_data("a/b\rc.jpg")
    with pytest.raises(MalformedEventError) as caught:
        parse_storage_object(data, "e1")

    drop_malformed(ctx, caught.value, named_object(data))  # does not raise


def test_a_well_formed_event_names_its_object_for_the_record_too() -> None:
    data = event_data("cam/\tx.jpg", 9)
    assert named_object(data) == StorageObject(BUCKET, "cam/\tx.jpg", 9)
