"""Structured logs in Cloud Logging's JSON form: one line per decision, on stdout.

Logging never raises, whatever a field holds: a log call sits on every path, including the
one that drops a malformed event, and an exception there would turn a drop into a 500 and a
day of redeliveries. A value JSON cannot carry is written as its str() (or its type name),
a line that cannot be written as UTF-8 (a lone surrogate) is written ASCII-escaped, and a
failed write is given up silently (docs/limits.md).
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

_lock = threading.Lock()

# One string field is cut to this many characters. Cloud Logging refuses an entry over
# 256 KB, and a hostile name or problem must not carry the whole line past it.
MAX_FIELD_CHARS = 16 * 1024


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _fallback(value: object) -> str:
    """json.dumps' default: str() where it works, the type name where even that fails."""
    try:
        return _cut(str(value))
    except Exception:  # a value whose __str__ raises must still be logged
        return f"<unprintable {type(value).__name__}>"


def _cut(value: str) -> str:
    if len(value) <= MAX_FIELD_CHARS:
        return value
    return f"{value[:MAX_FIELD_CHARS]}... ({len(value)} characters)"


def _field(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4096:
        return f"<an integer of {value.bit_length()} bits>"  # str() would raise ValueError
    return value


def _render(entry: dict[str, Any], *, ascii_only: bool = False) -> str:
    """One JSON line; UTF-8 where it can be, ASCII-escaped where it cannot."""
    payload: dict[str, Any] = entry
    try:
        line = json.dumps(payload, default=_fallback, ensure_ascii=ascii_only)
    except Exception:  # circular, deeply nested, non-str keys, huge ints...
        payload = {key: _fallback(value) for key, value in entry.items()}
        line = json.dumps(payload, ensure_ascii=ascii_only)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: JSON's \\u escape keeps it, and the line stays valid.
        line = json.dumps(payload, default=_fallback, ensure_ascii=True)
    # Characters that str.splitlines() and some log readers take for line ends; they can
    # only occur inside JSON strings, where the escape means the same.
    return line.translate(_LINE_BREAKS)


def log(severity: str, message: str, **fields: Any) -> None:
    """Emit one JSON line. Cloud Logging lifts 'severity' and 'message'; the rest is payload."""
    try:
        entry: dict[str, Any] = {
            "severity": severity,
            "message": _field(message),
            "time": datetime.now(UTC).isoformat(),
        }
        entry.update({key: _field(value) for key, value in fields.items() if value is not None})
        line = _render(entry)
    except Exception:  # the last line of defence: never raise from a log call
        entry = {"severity": "ERROR", "message": "a log line could not be rendered"}
        line = json.dumps(entry)
    # One write per line, under a lock, so concurrent requests never interleave a line.
    with _lock:
        try:
            try:
                sys.stdout.write(line + "\n")
            except UnicodeEncodeError:
                # stdout is not UTF-8 (a C locale): ASCII always encodes.
                sys.stdout.write(_render(entry, ascii_only=True) + "\n")
            sys.stdout.flush()
        except Exception:  # a closed or broken stdout: nowhere left to say so
            pass


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
