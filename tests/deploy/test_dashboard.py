"""deploy/terraform/dashboard.tf: the Cloud Monitoring dashboard, rendered from its template
as Terraform would (variables at their defaults), and read chart by chart: every chart's
query names a metric that exists, by the labels that metric has."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.deploy.tools import TERRAFORM, resolve, terraform

TEMPLATE = TERRAFORM / "dashboard.json.tftpl"
# Cloud Run's own metrics the dashboard may read (no log-based metric gives a duration).
BUILT_IN: dict[str, set[str]] = {"run.googleapis.com/request_latencies": set()}
FILTER_METRIC = re.compile(r'metric\.type="([^"]+)"')
MQL_METRIC = re.compile(r"\| metric '([^']+)'")
PLACEHOLDER = re.compile(r"(?<!\$)\$\{(\w+)\}")


def template_values() -> dict[str, Any]:
    """The values dashboard.tf hands templatefile(), each as Terraform resolves it."""
    body = terraform().resource("google_monitoring_dashboard", "registration")
    call = body["dashboard_json"]
    assert "dashboard.json.tftpl" in call
    # The parsed call: templatefile("...", {a = x, b = "${y}-z", ...})
    arguments = call.split(", {", 1)[1].rsplit("})", 1)[0]
    values = dict(re.findall(r'(\w+) = ("[^"]*"|[^,]+)', arguments))
    resolved = {}
    for name, expression in values.items():
        expression = expression.strip()
        if expression.startswith('"'):
            resolved[name] = resolve(expression.strip('"'))
        elif expression == "local.flush_timeout_seconds * 1000":
            resolved[name] = resolve("${local.flush_timeout_seconds}") * 1000
        else:
            resolved[name] = resolve(expression if "${" in expression else "${" + expression + "}")
    return resolved


def rendered() -> dict[str, Any]:
    values = template_values()
    text = TEMPLATE.read_text()
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    assert not missing, f"the template uses values dashboard.tf does not pass: {missing}"
    text = PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)
    parsed: dict[str, Any] = json.loads(text.replace("$${", "${"))
    return parsed


def log_metrics() -> dict[str, set[str]]:
    """logging.googleapis.com/user/NAME of every log-based metric, with its labels."""
    found = {}
    for body in terraform().of_type("google_logging_metric").values():
        name = resolve(body["name"])
        labels = set((body.get("label_extractors") or {}).keys())
        found[f"logging.googleapis.com/user/{name}"] = labels
    return found


def charts() -> list[dict[str, Any]]:
    return [tile["widget"] for tile in rendered()["mosaicLayout"]["tiles"]]


def metric_and_labels(query: dict[str, Any]) -> tuple[str, list[str]]:
    if "timeSeriesFilter" in query:
        series = query["timeSeriesFilter"]
        [metric] = FILTER_METRIC.findall(series["filter"])
        fields = series.get("aggregation", {}).get("groupByFields", [])
        return metric, [field.removeprefix("metric.label.") for field in fields]
    [metric] = MQL_METRIC.findall(query["timeSeriesQueryLanguage"])
    return metric, re.findall(r"metric\.(\w+)", query["timeSeriesQueryLanguage"])


def test_every_chart_reads_a_metric_that_exists_by_labels_it_has() -> None:
    known = {**log_metrics(), **BUILT_IN}
    read = []
    for chart in charts():
        datasets = chart["xyChart"]["dataSets"]
        assert datasets, chart["title"]
        for dataset in datasets:
            metric, labels = metric_and_labels(dataset["timeSeriesQuery"])
            assert metric in known, f"{chart['title']}: {metric} is no metric"
            assert set(labels) <= known[metric], f"{chart['title']}: {labels} on {metric}"
            read.append(metric)
    assert len(read) >= len(charts())


def test_the_dashboard_has_the_charts_operations_asks_for() -> None:
    titles = " | ".join(chart["title"] for chart in charts()).lower()
    for wanted in (
        "objects registered per minute",
        "oldest pending age",
        "overdue buffers",
        "rejections per minute, by reason",
        "encord: jobs started, and submission failures",
        "encord: job outcomes",
        "sweep duration",
        "sweep errors",
    ):
        assert wanted in titles, wanted


def test_the_dashboard_reads_only_this_deployments_metrics_and_sweep() -> None:
    prefix = terraform().default("name_prefix")
    text = json.dumps(rendered())
    for metric in FILTER_METRIC.findall(text) + MQL_METRIC.findall(text.replace("\\n", "\n")):
        assert metric.startswith(f"logging.googleapis.com/user/{prefix}/") or metric in BUILT_IN
    latencies = [
        dataset["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for chart in charts()
        for dataset in chart["xyChart"]["dataSets"]
        if "request_latencies" in json.dumps(dataset)
    ]
    assert latencies and all(f'"service_name"="{prefix}-sweep"' in item for item in latencies)


def test_a_filter_matches_no_metric_of_another_name() -> None:
    # The check above would catch a misspelt metric: prove it on one.
    query = {"timeSeriesFilter": {"filter": 'metric.type="logging.googleapis.com/user/x/nope"'}}
    metric, _ = metric_and_labels(query)
    assert metric not in {**log_metrics(), **BUILT_IN}
