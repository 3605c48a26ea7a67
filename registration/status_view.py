"""The status report as a small HTML page for people (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any


def relative_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _cell(value: Any) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"


def render_status(report: dict[str, Any]) -> str:
    now: datetime = report.get("generated_at") or datetime.now(UTC)
    rows = []
    for row in report["buffers"]:
        rows.append(
            "<tr>"
            + _cell(row["bucket"])
            + _cell(row["folder"] or "(root)")
            + _cell(row["key"])
            + _cell(f"{row['pending']} / {row['batch_size']}")
            + _cell(relative_age(row["oldest_pending_at"], now))
            + _cell(relative_age(row["last_flush_at"], now))
            + _cell(row["batches_written"])
            + _cell(row["last_manifest_path"] or "—")
            + "</tr>"
        )
    rejected = [
        "<tr>"
        + _cell(item["name"])
        + _cell(item["reason"])
        + _cell(item["detail"])
        + _cell(relative_age(item["recorded_at"], now))
        + "</tr>"
        for item in report["rejected"]
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Encord registration status</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#eee}}</style>
</head><body>
<h1>Encord registration status</h1>
<p>Generated {escape(now.isoformat())}</p>
<h2>Buffers ({len(rows)})</h2>
<table id="buffers"><thead><tr><th>Bucket</th><th>Folder</th><th>Type</th><th>Pending</th>
<th>Oldest pending</th><th>Last flush</th><th>Batches written</th><th>Last manifest</th></tr>
</thead><tbody>{"".join(rows) or '<tr><td colspan="8">No buffers yet</td></tr>'}</tbody></table>
<h2>Rejected objects ({len(rejected)})</h2>
<table id="rejected"><thead><tr><th>Name</th><th>Reason</th><th>Detail</th><th>When</th></tr>
</thead><tbody>{"".join(rejected) or '<tr><td colspan="4">None</td></tr>'}</tbody></table>
</body></html>
"""
