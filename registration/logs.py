"""Structured logs in Cloud Logging's JSON form: one line per decision, on stdout."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

_lock = threading.Lock()


def log(severity: str, message: str, **fields: Any) -> None:
    """Emit one JSON line. Cloud Logging lifts 'severity' and 'message'; the rest is payload."""
    entry: dict[str, Any] = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat(),
    }
    entry.update({key: value for key, value in fields.items() if value is not None})
    line = json.dumps(entry, default=str, ensure_ascii=False)
    # One write per line, under a lock, so concurrent requests never interleave a line.
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
