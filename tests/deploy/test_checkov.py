"""checkov over deploy/: no failed check, and every skipped one justified where it is skipped."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from tests.deploy.tools import CHECKOV, DEPLOY, ROOT, TERRAFORM, require_tool

# Each skip, and why it is acceptable, is written next to the resource it applies to.
JUSTIFIED_SKIPS = {
    ("CKV_GCP_62", "google_storage_bucket.function_source"),  # access logs for build zips
    ("CKV_GCP_124", "google_cloudfunctions2_function.status"),  # people reach it; IAM gates it
    ("CKV_GCP_83", "google_pubsub_topic.job_notifications"),  # no file content; IAM on the topic
}
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV\w+)(?::(.*))?")


def run_checkov() -> dict[str, Any]:
    checkov = require_tool(
        "checkov",
        "install it with: python3 -m venv .venv-checkov && "
        ".venv-checkov/bin/pip install -r deploy/requirements-check.txt",
        path=CHECKOV,
    )
    # --skip-download: no network here, and the checks ship with the package.
    result = subprocess.run(
        [checkov, "--directory", str(DEPLOY), "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (terraform_report,) = [r for r in reports if r["check_type"] == "terraform"]
    return dict(terraform_report)


def test_checkov_finds_no_failed_check_in_deploy() -> None:
    report = run_checkov()
    summary = report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 20, "checkov checked almost nothing: did it read the .tf files?"
    skipped = {
        (check["check_id"], check["resource"]) for check in report["results"]["skipped_checks"]
    }
    assert skipped == JUSTIFIED_SKIPS


def test_every_checkov_skip_says_why() -> None:
    skips = [
        match
        for path in sorted(TERRAFORM.glob("*.tf"))
        for match in SKIP_COMMENT.finditer(path.read_text())
    ]
    assert {check for check, _ in (m.groups() for m in skips)} == {c for c, _ in JUSTIFIED_SKIPS}
    for match in skips:
        reason = (match.group(2) or "").strip()
        assert len(reason.split()) >= 8, f"{match.group(1)} is skipped without a real reason"
