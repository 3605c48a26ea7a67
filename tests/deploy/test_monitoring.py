"""deploy/terraform/monitoring.tf: log-based metrics and the alert policies built on them.

The metric filters are checked against real-looking log lines (tests/data/log_samples.jsonl,
one per message the code emits) with a small evaluator of the logging query language
(tests/deploy/logquery.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy import logquery
from tests.deploy.tools import ROOT, TERRAFORM, Block, resolve, single, terraform

SAMPLES = ROOT / "tests" / "data" / "log_samples.jsonl"
OPERATIONS = ROOT / "docs" / "operations.md"
SERVICE = "encord-registration-sweep"  # the samples' resource: a function of this deployment
METRIC_TYPE = re.compile(r'metric\.type="logging\.googleapis\.com/user/([^"]+)"')
EXTRACTOR = re.compile(r'^(EXTRACT|REGEXP_EXTRACT)\((jsonPayload\.\w+)(?:, "(.*)")?\)$')

# The fields of each message, as the code emits them (one JSON object per line on stdout).
FIELDS = {
    "manifest written": {"batch", "items", "manifest", "buffer", "names", "part", "parts"},
    "rejected": {"reason", "detail", "bucket", "name", "generation"},
    "manifest invalid": {"batch", "problem", "buffer"},
    "sweep failed for buffer": {"buffer", "problem"},
    "sweep done": {
        "buffers_checked", "buffers_flushed", "manifests_written", "batches_completed",
        "errors", "work_remaining", "overdue_buffers", "oldest_pending_age_seconds",
    },
    "encord submission failed": {"manifest", "reason", "retry_at"},
    "encord job finished": {"manifest", "job_id", "status", "units_done", "units_error"},
    "encord job started": {"manifest", "job_id", "attempt"},
}  # fmt: skip

Line = dict[str, Any]

# What each metric is meant to count, said in Python: its filter must agree on every sample.
INTENT: dict[str, Callable[[Line], bool]] = {
    "objects_registered": lambda line: line["message"] == "manifest written" and line["part"] == 1,
    "rejections": lambda line: line["message"] == "rejected",
    "manifests_invalid": lambda line: line["message"] == "manifest invalid",
    "sweep_errors": lambda line: (
        line["message"] == "sweep failed for buffer"
        or (line["message"] == "sweep done" and line["severity"] == "ERROR")
    ),
    "sweeps": lambda line: line["message"] == "sweep done",
    "oldest_pending_age": lambda line: (
        line["message"] == "sweep done" and line["oldest_pending_age_seconds"] is not None
    ),
    "sweeps_with_overdue_buffers": lambda line: (
        line["message"] == "sweep done" and line["overdue_buffers"] > 0
    ),
    "encord_submission_failures": lambda line: line["message"] == "encord submission failed",
    "encord_jobs_failed": lambda line: (
        line["message"] == "encord job finished" and line["status"] in ("ERROR", "CANCELLED")
    ),
    "encord_jobs_started": lambda line: line["message"] == "encord job started",
    "encord_jobs_finished": lambda line: line["message"] == "encord job finished",
}

POLICIES = {
    "manifest_invalid": ("manifests_invalid", "Manifest invalid"),
    "sweep_errors": ("sweep_errors", "Sweep errors"),
    "oldest_pending_too_old": ("oldest_pending_age", "Objects waiting too long"),
    "overdue_buffers": ("sweeps_with_overdue_buffers", "Overdue buffers"),
    "sweep_not_running": ("sweeps", "Sweep not running"),
    "encord_submission_failing": ("encord_submission_failures", "Encord submissions failing"),
    "encord_job_failed": ("encord_jobs_failed", "Encord job failed"),
    "rejection_spike": ("rejections", "Rejection spike"),
}


def samples() -> list[Line]:
    return [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]


def metrics() -> dict[str, Block]:
    return terraform().of_type("google_logging_metric")


def policies() -> dict[str, Block]:
    return terraform().of_type("google_monitoring_alert_policy")


def metric_filter(name: str) -> str:
    return str(resolve(metrics()[name]["filter"]))


def counted(name: str, line: Line, service: str = SERVICE) -> bool:
    return logquery.matches(metric_filter(name), logquery.log_entry(line, service))


def conditions(policy: Block) -> list[Block]:
    found = []
    for condition in policy["conditions"]:
        for kind in ("condition_threshold", "condition_absent"):
            if kind in condition:
                found.append(single(condition[kind]))
    return found


def metric_of(condition: Block) -> str:
    """The google_logging_metric resource a condition's filter reads."""
    match = METRIC_TYPE.search(condition["filter"])
    assert match, condition["filter"]
    reference = re.fullmatch(r"\$\{google_logging_metric\.(\w+)\.name\}", match.group(1))
    if reference:
        return reference.group(1)
    by_name = {resolve(body["name"]): key for key, body in metrics().items()}
    assert match.group(1) in by_name, f"{match.group(1)} is not a metric of monitoring.tf"
    return by_name[match.group(1)]


# ---------------------------------------------------------------------------------------
# The evaluator itself
# ---------------------------------------------------------------------------------------


def test_the_log_query_evaluator_reads_the_subset_the_filters_use() -> None:
    entry = logquery.log_entry(
        {"severity": "WARNING", "message": "rejected", "reason": "hidden_file", "n": 3, "z": None},
        "encord-registration-finalized",
    )
    assert logquery.matches('jsonPayload.message="rejected" AND severity>=WARNING', entry)
    assert not logquery.matches("severity>=ERROR", entry)
    assert logquery.matches('resource.labels.service_name=~"^encord-registration-"', entry)
    assert not logquery.matches('resource.labels.service_name=~"^other-"', entry)
    nested = 'jsonPayload.n>2 AND (jsonPayload.reason="x" OR NOT jsonPayload.n=4)'
    assert logquery.matches(nested, entry)
    assert not logquery.matches("jsonPayload.z>=0", entry)  # null: no comparison holds
    assert not logquery.matches("jsonPayload.missing=1", entry)
    assert not logquery.matches('jsonPayload.n="3"', entry)  # a number is not a string
    for outside in ('jsonPayload.message:"rej"', "jsonPayload.a=1 jsonPayload.b=2", "f(x)=1"):
        with pytest.raises(logquery.QueryError):
            logquery.parse(outside)


def test_every_metric_filter_stays_within_the_evaluated_subset() -> None:
    assert set(metrics()) == set(INTENT)
    for name in metrics():
        logquery.parse(metric_filter(name))  # raises QueryError outside the subset


# ---------------------------------------------------------------------------------------
# The sample lines
# ---------------------------------------------------------------------------------------


def test_sample_log_lines_have_exactly_the_fields_the_code_emits() -> None:
    seen = set()
    for line in samples():
        assert {"severity", "message", "time"} <= set(line), line
        assert line["severity"] in logquery.SEVERITIES
        fields = set(line) - {"severity", "message", "time"}
        if line["message"] in FIELDS:
            assert fields == FIELDS[line["message"]], line["message"]
            seen.add(line["message"])
    assert seen == set(FIELDS), "every message needs a sample line"
    assert any(line["message"] not in FIELDS for line in samples()), "and an unrelated one"


def test_sample_lines_have_the_documented_severities_and_part_numbers() -> None:
    for line in samples():
        message = line["message"]
        if message == "rejected":
            assert line["severity"] == "WARNING"
        if message in ("manifest invalid", "sweep failed for buffer"):
            assert line["severity"] == "ERROR"
        if message == "sweep done":
            assert line["severity"] == ("ERROR" if line["errors"] else "INFO")
        if message == "manifest written":
            assert 1 <= line["part"] <= line["parts"]


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INTENT))
def test_each_metric_filter_matches_exactly_the_lines_it_is_meant_to_count(name: str) -> None:
    lines = samples()
    matched = [line for line in lines if counted(name, line)]
    assert matched, f"{name} matches no sample line"
    assert len(matched) < len(lines), f"{name} matches every line"
    for line in lines:
        assert counted(name, line) == INTENT[name](line), (name, line)


def test_no_metric_counts_lines_of_another_service_in_the_project() -> None:
    for name in metrics():
        for line in samples():
            assert not counted(name, line, service="billing-export"), name
            assert not counted(name, line, service="encord-registrationx-sweep"), name


def test_objects_registered_counts_each_manifest_once_by_its_items() -> None:
    metric = metrics()["objects_registered"]
    descriptor = single(metric["metric_descriptor"])
    assert descriptor["value_type"] == "DISTRIBUTION"
    assert metric["value_extractor"] == "EXTRACT(jsonPayload.items)"
    written = [line for line in samples() if line["message"] == "manifest written"]
    assert len({line["batch"] for line in written}) < len(written), "need a manifest in parts"
    assert [line["part"] for line in written if counted("objects_registered", line)] == [1]


def test_metric_extractors_read_fields_present_in_the_lines_they_match() -> None:
    for name, metric in metrics().items():
        extractors = dict(metric.get("label_extractors", {}))
        if "value_extractor" in metric:
            extractors["(value)"] = metric["value_extractor"]
        descriptor = single(metric["metric_descriptor"])
        labels = {label["key"] for label in descriptor.get("labels", [])}
        assert labels == set(extractors) - {"(value)"}, name
        assert ("(value)" in extractors) == (descriptor["value_type"] == "DISTRIBUTION"), name
        for label, extractor in extractors.items():
            match = EXTRACTOR.fullmatch(extractor)
            assert match, f"{name}.{label}: {extractor}"
            function, path, pattern = match.groups()
            field = path.removeprefix("jsonPayload.")
            for line in (line for line in samples() if counted(name, line)):
                value = line.get(field)
                assert value is not None, f"{name}.{label}: no {field} in {line}"
                if label == "(value)":
                    assert isinstance(value, (int, float)) and not isinstance(value, bool)
                if function == "REGEXP_EXTRACT":
                    assert re.search(pattern, str(value)), f"{name}.{label}: {value}"


def test_metric_names_belong_to_this_deployment() -> None:
    for name, metric in metrics().items():
        assert metric["name"] == "${var.name_prefix}/" + name
        assert single(metric["metric_descriptor"])["metric_kind"] == "DELTA"


# ---------------------------------------------------------------------------------------
# Alert policies
# ---------------------------------------------------------------------------------------


def test_every_alert_policy_reads_a_log_based_metric_defined_in_monitoring_tf() -> None:
    assert set(policies()) == set(POLICIES)
    for name, policy in policies().items():
        found = conditions(policy)
        assert found, name
        for condition in found:
            assert metric_of(condition) in metrics(), name
            assert 'resource.type="cloud_run_revision"' in condition["filter"]
        assert metric_of(found[0]) == POLICIES[name][0], name


def test_every_alert_policy_notifies_the_channels_and_links_its_runbook_section() -> None:
    assert terraform().default("notification_channels") == []
    headings = set(re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), re.MULTILINE))
    for name, policy in policies().items():
        assert policy["notification_channels"] == "${var.notification_channels}", name
        content = resolve(single(policy["documentation"])["content"])
        assert "docs/operations.md" in content, name
        section = POLICIES[name][1]
        assert f'section "{section}"' in content, name
        assert section in headings, f"docs/operations.md has no section {section!r}"


def test_alert_conditions_sum_over_all_revisions() -> None:
    # A deployment makes a new revision: per-revision series would reset or go absent.
    for name, policy in policies().items():
        for condition in conditions(policy):
            aggregation = single(condition["aggregations"])
            assert aggregation["cross_series_reducer"] in ("REDUCE_SUM", "REDUCE_MAX"), name


def test_the_pending_age_alert_fires_above_twice_the_max_age() -> None:
    (condition,) = conditions(policies()["oldest_pending_too_old"])
    assert resolve(condition["threshold_value"]) == 2 * terraform().default("max_age_seconds")
    assert condition["comparison"] == "COMPARISON_GT"


def test_sweep_absence_alert_fires_after_20_minutes_without_a_sweep() -> None:
    (condition,) = policies()["sweep_not_running"]["conditions"]
    absent = single(condition["condition_absent"])
    assert absent["duration"] == "1200s"
    assert metric_of(absent) == "sweeps"
    # Sweep runs every minute by default: 20 minutes is twenty missed runs.
    assert terraform().default("sweep_schedule") == "* * * * *"


def test_encord_alerts_exist_only_with_an_encord_target() -> None:
    for name in ("encord_submission_failing", "encord_job_failed"):
        assert policies()[name]["count"] == "${local.encord_enabled ? 1 : 0}"
    assert policies()["rejection_spike"]["count"] == "${var.rejection_alert_per_hour > 0 ? 1 : 0}"


def test_monitoring_apis_are_enabled() -> None:
    apis = terraform().locals["required_apis"]
    assert '"logging.googleapis.com"' in apis
    assert '"monitoring.googleapis.com"' in apis
    assert (TERRAFORM / "monitoring.tf").exists()
