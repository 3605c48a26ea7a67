"""The status report as an HTML page for people (pure; no I/O).

One table per buffer, then the recent rejected objects and the rejected counts per folder.
Ages are rendered relative to the report's own generated_at (the server's clock), so the
page reads right without JavaScript; a few lines of script keep them ticking while the page
stays open, counting from that same server time so a skewed client clock cannot distort them.
Every value from the report is escaped: object names are user data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

MISSING = "—"


def relative_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return MISSING
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _text(value: Any) -> str:
    return escape(MISSING if value is None or value == "" else str(value))


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return MISSING
    # data-age carries the age in seconds at generated_at; the script adds time on page.
    seconds = max(0, int((now - moment).total_seconds()))
    return (
        f'<time datetime="{escape(moment.isoformat())}" title="{escape(moment.isoformat())}" '
        f'data-age="{seconds}">{escape(relative_age(moment, now))}</time>'
    )


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


def _counts(counts: Mapping[str, int] | None) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{escape(reason)}: {count}" for reason, count in sorted(counts.items()))


def _kind(row: Mapping[str, Any]) -> str:
    if row.get("sequence"):
        return "image sequences"
    return str(row["key"]).replace("_", " ")


def _buffer_table(row: Mapping[str, Any], now: datetime, max_age: int | None) -> str:
    folder = row["folder"] or "(root)"
    pending = f"{row['pending']} of {row['batch_size']}" if "batch_size" in row else row["pending"]
    oldest = _age(row.get("oldest_pending_at"), now)
    if max_age and row.get("oldest_pending_at") is not None:
        oldest += f" (written at the latest {_duration(max_age)} after it arrived)"
    rows = [
        ("Pending", _text(pending)),
        ("Oldest pending", oldest),
        ("Last flush", _age(row.get("last_flush_at"), now)),
        ("Last manifest", _text(row.get("last_manifest_path"))),
        ("Batches written", _text(row.get("batches_written"))),
        ("Objects registered", _text(row.get("objects_registered"))),
        ("Rejected in this folder", _counts(row.get("rejected_by_reason"))),
    ]
    body = "".join(f"<tr><th scope='row'>{label}</th><td>{cell}</td></tr>" for label, cell in rows)
    caption = f"{_text(folder)} — {escape(_kind(row))}"
    return (
        f'<table class="buffer"><caption>{caption}'
        f'<span class="bucket">gs://{_text(row["bucket"])}</span></caption>'
        f"<tbody>{body}</tbody></table>"
    )


def _rejected_table(items: list[Mapping[str, Any]], now: datetime) -> str:
    if not items:
        return "<p>No rejected objects.</p>"
    rows = "".join(
        "<tr>"
        f"<td>{_text(item['name'])}</td>"
        f"<td>{_text(item['reason'])}</td>"
        f"<td>{_text(item.get('detail'))}</td>"
        f"<td>{_age(item.get('recorded_at'), now)}</td>"
        "</tr>"
        for item in items
    )
    return (
        '<table id="rejected"><thead><tr><th>Name</th><th>Reason</th><th>Detail</th>'
        f"<th>When</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _folder_counts_table(items: list[Mapping[str, Any]], now: datetime) -> str:
    if not items:
        return "<p>No rejection counts yet (the sweep computes them).</p>"
    rows = "".join(
        "<tr>"
        f"<td>gs://{_text(item['bucket'])}</td>"
        f"<td>{_text(item['folder'] or '(root)')}</td>"
        f"<td>{_counts(item.get('counts'))}</td>"
        f"<td>{_age(item.get('counted_at'), now)}</td>"
        "</tr>"
        for item in items
    )
    return (
        '<table id="rejected-counts"><thead><tr><th>Bucket</th><th>Folder</th>'
        f"<th>Rejected by reason</th><th>Counted</th></tr></thead><tbody>{rows}</tbody></table>"
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 1.5em}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;vertical-align:top}
thead th,tbody th{background:#f2f2f2;font-weight:600}
caption{text-align:left;font-weight:600;padding:4px 0}
caption .bucket{font-weight:400;color:#666;margin-left:1em}
.buffers{display:flex;flex-wrap:wrap;gap:0 2em}
"""

# Mirrors relative_age(): the same words, advanced by the time the page has been open.
_SCRIPT = """
(function () {
  var opened = Date.now();
  function words(s) {
    if (s < 0) return "just now";
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1]) return Math.floor(s / units[i][1]) + " " + units[i][0] + " ago";
    }
    return s + " s ago";
  }
  function tick() {
    var extra = Math.floor((Date.now() - opened) / 1000);
    var all = document.querySelectorAll("time[data-age]");
    for (var i = 0; i < all.length; i++) {
      all[i].textContent = words(parseInt(all[i].getAttribute("data-age"), 10) + extra);
    }
  }
  tick();
  setInterval(tick, 10000);
})();
"""


def render_status(report: dict[str, Any]) -> str:
    now: datetime = report.get("generated_at") or datetime.now(UTC)
    max_age = report.get("max_age_seconds")
    buffers = report["buffers"]
    rejected = report["rejected"]
    tables = "".join(_buffer_table(row, now, max_age) for row in buffers)
    pending = sum(int(row.get("pending") or 0) for row in buffers)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Encord registration status</title><style>{_STYLE}</style></head>
<body>
<h1>Encord registration status</h1>
<p>{len(buffers)} buffers, {pending} objects pending, {len(rejected)} recent rejections.
Generated <time datetime="{escape(now.isoformat())}">{escape(now.isoformat())}</time>.</p>
<h2>Buffers</h2>
<div class="buffers">{tables or "<p>No buffers yet.</p>"}</div>
<h2>Recently rejected objects</h2>
{_rejected_table(rejected, now)}
<h2>Rejected objects by folder</h2>
{_folder_counts_table(report.get("rejected_counts") or [], now)}
<script>{_SCRIPT}</script>
</body></html>
"""
