"""CloudEvent data from Cloud Storage -> StorageObject. Strict about what it needs.

Everything that reaches here is untrusted: a value Cloud Storage could never have sent (a
name GCS refuses, a generation outside int64, metadata over GCS's 8 KiB) is refused with
MalformedEventError, which main.py logs, records and acknowledges. Names follow Cloud Storage's
rules and nothing stricter: every name it accepts (tabs, other controls, bidi and zero-width
characters included) reaches classification. Nothing else may escape: no
ValueError, RecursionError or OverflowError from a hostile value (docs/limits.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from registration.domain.limits import (
    ACME_CHALLENGE_PREFIX,
    MAX_BUCKET_NAME_CHARS,
    MAX_CONTENT_TYPE_BYTES,
    MAX_CUSTOM_METADATA_BYTES,
    MAX_INT64,
    MAX_OBJECT_NAME_BYTES,
    MAX_RECORDED_MALFORMED_NAME_BYTES,
)
from registration.domain.model import StorageObject
from registration.exceptions import MalformedEventError

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"

# Cloud Storage refuses CR and LF in object names (cloud.google.com/storage/docs/naming-objects)
# and only advises against the other controls: a tab, DEL or U+0085 is a legal name and must be
# registered, so only these two make a name malformed.
_LINE_BREAK = re.compile("[\r\n]")
# Control characters refused in a Content-Type: header injection, not a naming rule.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_INT64_DIGITS = len(str(MAX_INT64))
# How much of a hostile value an error message quotes: problems end up in log lines.
_QUOTE_CHARS = 80


def shorten(value: object, keep: int = _QUOTE_CHARS) -> str:
    """A bounded, ASCII-safe repr of any value, for error messages and logs."""
    if isinstance(value, str):
        if len(value) > keep:
            return f"{value[:keep]!a}... ({len(value)} characters)"
        return ascii(value)
    if isinstance(value, int | float | bool) or value is None:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return repr(value)
    return f"a {type(value).__name__}"


def _as_mapping(data: Any, event_id: str | None) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedEventError(event_id, "data is not UTF-8") from error
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise MalformedEventError(event_id, f"data is not JSON: {error.msg}") from error
        except (ValueError, RecursionError) as error:
            # An integer over Python's 4,300-digit limit, or nesting deeper than the stack.
            raise MalformedEventError(
                event_id, f"data is not usable JSON: {type(error).__name__}"
            ) from error
    if not isinstance(data, Mapping):
        raise MalformedEventError(event_id, f"data is {type(data).__name__}, not an object")
    return data


def _required_text(data: Mapping[str, Any], field: str, event_id: str | None) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(
            event_id, f"'{field}' must be a non-empty string, got {shorten(value)}"
        )
    return value


def _utf8_length(value: str, field: str, event_id: str | None) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise MalformedEventError(
            event_id,
            f"'{field}' is not valid Unicode (a lone surrogate at character {error.start}): "
            f"{shorten(value)}",
        ) from error


def _bucket(data: Mapping[str, Any], event_id: str | None) -> str:
    bucket = _required_text(data, "bucket", event_id)
    if len(bucket) > MAX_BUCKET_NAME_CHARS or not _BUCKET.fullmatch(bucket):
        raise MalformedEventError(
            event_id, f"'bucket' is not a Cloud Storage bucket name: {shorten(bucket)}"
        )
    return bucket


def _object_name(data: Mapping[str, Any], event_id: str | None) -> str:
    """The name, refused where Cloud Storage could not have stored it (docs/limits.md)."""
    name = _required_text(data, "name", event_id)
    size = _utf8_length(name, "name", event_id)
    if size > MAX_OBJECT_NAME_BYTES:
        raise MalformedEventError(
            event_id,
            f"'name' is {size} bytes of UTF-8; Cloud Storage allows at most "
            f"{MAX_OBJECT_NAME_BYTES}: {shorten(name)}",
        )
    line_break = _LINE_BREAK.search(name)
    if line_break is not None:
        raise MalformedEventError(
            event_id,
            f"'name' holds U+{ord(line_break.group()):04X} at character {line_break.start()}; "
            f"Cloud Storage refuses CR and LF in object names: {shorten(name)}",
        )
    if name in (".", ".."):
        raise MalformedEventError(event_id, f"'name' {name!r} is no Cloud Storage object name")
    if name.startswith(ACME_CHALLENGE_PREFIX):
        raise MalformedEventError(
            event_id,
            f"'name' starts with {ACME_CHALLENGE_PREFIX!r}, which Cloud Storage refuses: "
            f"{shorten(name)}",
        )
    return name


def _integer(
    data: Mapping[str, Any], field: str, event_id: str | None, *, required: bool
) -> int | None:
    """An int64 field: GCS sends them as decimal strings; real ints are accepted too."""
    value = data.get(field)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        # isascii: str.isdigit() also admits '²' and '①', which int() refuses. The length
        # check comes before int(): 5,000 digits would hit Python's conversion limit.
        if len(value) > _INT64_DIGITS:
            raise MalformedEventError(
                event_id, f"'{field}' is out of int64 range, got {shorten(value)}"
            )
        number = int(value)
    else:
        raise MalformedEventError(event_id, f"'{field}' must be an integer, got {shorten(value)}")
    if number < 0:
        raise MalformedEventError(
            event_id, f"'{field}' must not be negative, got {shorten(number)}"
        )
    if number > MAX_INT64:
        raise MalformedEventError(
            event_id, f"'{field}' is out of int64 range, got {shorten(number)}"
        )
    return number


def _content_type(data: Mapping[str, Any], event_id: str | None) -> str | None:
    value = data.get("contentType")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEventError(event_id, f"'contentType' must be a string, got {shorten(value)}")
    size = _utf8_length(value, "contentType", event_id)
    if size > MAX_CONTENT_TYPE_BYTES:
        raise MalformedEventError(
            event_id,
            f"'contentType' is {size} bytes; at most {MAX_CONTENT_TYPE_BYTES} are accepted",
        )
    if _CONTROL.search(value):
        raise MalformedEventError(
            event_id, f"'contentType' holds a control character: {shorten(value)}"
        )
    return value


def _metadata(data: Mapping[str, Any], event_id: str | None) -> dict[str, str]:
    """Custom metadata: string keys and string values, at most 8 KiB in all (GCS's limit)."""
    metadata = data.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise MalformedEventError(
            event_id, f"'metadata' must be an object, got {shorten(metadata)}"
        )
    total = 0
    result: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise MalformedEventError(
                event_id,
                f"'metadata' {shorten(key)}: keys and values must be strings, as Cloud "
                f"Storage sends them; got {shorten(value)}",
            )
        total += _utf8_length(key, "metadata", event_id)
        total += _utf8_length(value, "metadata", event_id)
        if total > MAX_CUSTOM_METADATA_BYTES:
            raise MalformedEventError(
                event_id,
                f"'metadata' is over {MAX_CUSTOM_METADATA_BYTES} bytes; Cloud Storage "
                "allows at most that for all custom metadata of an object",
            )
        result[key] = value
    return result


def _timestamp(data: Mapping[str, Any], field: str) -> datetime | None:
    value = data.get(field)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        # Informational only; not worth dropping the event for. OverflowError: year 1 with
        # a positive offset has no UTC equivalent.
        return None


def _check_subject(subject: object, name: str, event_id: str | None) -> None:
    """The CloudEvent subject is 'objects/NAME'; one naming another object is refused.

    Header values are percent-encoded on the wire (the CloudEvents HTTP binding), so both
    the raw and the decoded subject are compared. No subject at all is accepted.
    """
    if subject is None:
        return
    expected = "objects/" + name
    if isinstance(subject, str) and (
        subject == expected or unquote(subject, errors="replace") == expected
    ):
        return
    raise MalformedEventError(
        event_id,
        f"the event subject {shorten(subject)} does not name the object {shorten(name)}",
    )


def parse_storage_object(
    data: Any, event_id: str | None = None, *, subject: object = None
) -> StorageObject:
    """The object an event's data describes; MalformedEventError for anything else.

    subject: the CloudEvent's subject, if the event has one; it must name the same object.
    """
    try:
        return _parse(data, event_id, subject)
    except MalformedEventError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError, UnicodeError) as error:
        # A last line: no hostile value may turn into a 500 and 24 hours of redelivery.
        raise MalformedEventError(
            event_id, f"data cannot be read: {type(error).__name__}"
        ) from error


def _parse(data: Any, event_id: str | None, subject: object) -> StorageObject:
    fields = _as_mapping(data, event_id)
    bucket = _bucket(fields, event_id)
    name = _object_name(fields, event_id)
    generation = _integer(fields, "generation", event_id, required=True)
    assert generation is not None
    size = _integer(fields, "size", event_id, required=False)
    content_type = _content_type(fields, event_id)
    metadata = _metadata(fields, event_id)
    _check_subject(subject, name, event_id)
    return StorageObject(
        bucket=bucket,
        name=name,
        generation=generation,
        size=size,
        content_type=content_type,
        time_created=_timestamp(fields, "timeCreated"),
        custom_metadata=metadata,
    )


def named_object(data: Any) -> StorageObject | None:
    """What a malformed event still names, where that can be recorded; never raises.

    A bucket Cloud Storage could hold and a name that is valid Unicode and short enough to
    index (MAX_RECORDED_MALFORMED_NAME_BYTES) give an object to record the event against: its
    generation where that is readable, else 0. Anything less (no name, a lone surrogate, a
    20 MB name) names nothing recordable, and the event is only counted.
    """
    try:
        fields = _as_mapping(data, None)
        bucket = _bucket(fields, None)
        name = fields.get("name")
        if not isinstance(name, str) or not name:
            return None
        if _utf8_length(name, "name", None) > MAX_RECORDED_MALFORMED_NAME_BYTES:
            return None
        try:
            generation = _integer(fields, "generation", None, required=True) or 0
        except MalformedEventError:
            generation = 0
        return StorageObject(bucket=bucket, name=name, generation=generation)
    except (MalformedEventError, ValueError, TypeError, RecursionError, OverflowError):
        return None
