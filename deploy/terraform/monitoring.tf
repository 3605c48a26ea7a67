# Alerts as code: log-based metrics read from the functions' structured logs, and alert
# policies on them. Every policy notifies var.notification_channels and links its runbook
# entry in docs/operations.md.
#
# The functions print one JSON object per line on stdout. On Cloud Run functions (2nd gen)
# Cloud Logging turns such a line into a LogEntry whose resource is the function's Cloud Run
# revision: `severity` becomes LogEntry.severity, `time` its timestamp, and every other
# field, `message` included, stays in jsonPayload. Hence jsonPayload.message="..." below.
#
# The filters keep to a small part of the logging query language (comparisons joined by
# AND / OR / NOT with parentheses) that tests/deploy/test_monitoring.py evaluates against
# the sample lines in tests/data/log_samples.jsonl.

locals {
  # Log lines of this deployment's functions, and nothing else in the project.
  function_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=~\"^${var.name_prefix}-\""

  runbook = "docs/operations.md in the encord-registration repository"
}

# ---------------------------------------------------------------------------------------
# Log-based metrics
# ---------------------------------------------------------------------------------------

# Objects that went into manifests. A counter can only count log lines, and one "manifest
# written" line stands for up to 1,000 objects, so this is a distribution of its `items`:
# its count is the number of manifests, and count x mean the number of objects. Only
# part 1 of a manifest's lines carries the manifest: later parts (long name lists) would
# count it again.
resource "google_logging_metric" "objects_registered" {
  project     = var.project_id
  name        = "${var.name_prefix}/objects_registered"
  description = "Objects per manifest written (count: manifests; count x mean: objects)."
  filter      = "${local.function_logs} AND jsonPayload.message=\"manifest written\" AND jsonPayload.part=1"

  value_extractor = "EXTRACT(jsonPayload.items)"
  label_extractors = {
    # buffer is "bucket/folder:key"; the manifest key is after the last colon.
    "key" = "REGEXP_EXTRACT(jsonPayload.buffer, \":([a-z_]+)$\")"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "Encord registration: objects per manifest"
    labels {
      key         = "key"
      value_type  = "STRING"
      description = "Manifest key: images, videos, image_groups, ..."
    }
  }

  bucket_options {
    explicit_buckets {
      bounds = [1, 10, 50, 100, 250, 500, 1000, 5000, 10000, 50000, 100000, 500000]
    }
  }
}

resource "google_logging_metric" "rejections" {
  project     = var.project_id
  name        = "${var.name_prefix}/rejections"
  description = "Objects recorded as not registrable, by reason."
  filter      = "${local.function_logs} AND jsonPayload.message=\"rejected\""

  label_extractors = {
    "reason" = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: rejections"
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "unknown_type, hidden_file, name_too_long, encord_refused, ..."
    }
  }
}

resource "google_logging_metric" "manifests_invalid" {
  project     = var.project_id
  name        = "${var.name_prefix}/manifests_invalid"
  description = "Manifests that failed their own check before upload."
  filter      = "${local.function_logs} AND jsonPayload.message=\"manifest invalid\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: invalid manifests"
  }
}

# A buffer the sweep could not handle, or a sweep that ended with errors.
resource "google_logging_metric" "sweep_errors" {
  project     = var.project_id
  name        = "${var.name_prefix}/sweep_errors"
  description = "Buffers a sweep failed on, and sweeps that ended in error."
  filter      = "${local.function_logs} AND (jsonPayload.message=\"sweep failed for buffer\" OR (jsonPayload.message=\"sweep done\" AND severity>=ERROR))"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: sweep errors"
  }
}

# Every finished sweep: its absence means the scheduler or sweep itself has stopped.
resource "google_logging_metric" "sweeps" {
  project     = var.project_id
  name        = "${var.name_prefix}/sweeps"
  description = "Sweeps that ran to the end (with or without errors)."
  filter      = "${local.function_logs} AND jsonPayload.message=\"sweep done\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: sweeps"
  }
}

# Age of the oldest object still waiting for a manifest, as each sweep sees it. A sweep
# with nothing pending reports null, which the filter leaves out.
resource "google_logging_metric" "oldest_pending_age" {
  project     = var.project_id
  name        = "${var.name_prefix}/oldest_pending_age"
  description = "Age in seconds of the oldest pending object, per sweep."
  filter      = "${local.function_logs} AND jsonPayload.message=\"sweep done\" AND jsonPayload.oldest_pending_age_seconds>=0"

  value_extractor = "EXTRACT(jsonPayload.oldest_pending_age_seconds)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "Encord registration: oldest pending object age"
  }

  # 1 s to about 3 days, each bucket 30 % wider than the last.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 48
      growth_factor      = 1.3
      scale              = 1
    }
  }
}

# Sweeps that found buffers past their max age still unflushed.
resource "google_logging_metric" "sweeps_with_overdue_buffers" {
  project     = var.project_id
  name        = "${var.name_prefix}/sweeps_with_overdue_buffers"
  description = "Sweeps that left at least one buffer overdue (older than max age, not flushed)."
  filter      = "${local.function_logs} AND jsonPayload.message=\"sweep done\" AND jsonPayload.overdue_buffers>0"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: sweeps with overdue buffers"
  }
}

resource "google_logging_metric" "encord_submission_failures" {
  project     = var.project_id
  name        = "${var.name_prefix}/encord_submission_failures"
  description = "Manifests Encord did not accept for upload (retried at retry_at), by reason."
  filter      = "${local.function_logs} AND jsonPayload.message=\"encord submission failed\""

  label_extractors = {
    "reason" = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: Encord submission failures"
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "Why the submission failed."
    }
  }
}

resource "google_logging_metric" "encord_jobs_failed" {
  project     = var.project_id
  name        = "${var.name_prefix}/encord_jobs_failed"
  description = "Encord upload jobs that ended in ERROR or CANCELLED."
  filter      = "${local.function_logs} AND jsonPayload.message=\"encord job finished\" AND (jsonPayload.status=\"ERROR\" OR jsonPayload.status=\"CANCELLED\")"

  label_extractors = {
    "status" = "EXTRACT(jsonPayload.status)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: failed Encord jobs"
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "ERROR or CANCELLED."
    }
  }
}

resource "google_logging_metric" "encord_jobs_started" {
  project     = var.project_id
  name        = "${var.name_prefix}/encord_jobs_started"
  description = "Encord upload jobs started, one per manifest submitted (retries included)."
  filter      = "${local.function_logs} AND jsonPayload.message=\"encord job started\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: Encord jobs started"
  }
}

resource "google_logging_metric" "encord_jobs_finished" {
  project     = var.project_id
  name        = "${var.name_prefix}/encord_jobs_finished"
  description = "Encord upload jobs that reached their end, by status (DONE, ERROR, CANCELLED)."
  filter      = "${local.function_logs} AND jsonPayload.message=\"encord job finished\""

  label_extractors = {
    "status" = "EXTRACT(jsonPayload.status)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Encord registration: finished Encord jobs"
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "DONE, ERROR or CANCELLED."
    }
  }
}

# ---------------------------------------------------------------------------------------
# Alert policies. Each condition sums over all revisions of all functions (REDUCE_SUM), so
# a new revision after a deployment neither splits nor resets a series.
# ---------------------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "manifest_invalid" {
  project               = var.project_id
  display_name          = "Encord registration: manifest invalid"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "A manifest failed its check"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.manifests_invalid.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A manifest was built that does not pass its own check, so it was not uploaded and its objects are not in Encord. This is a bug, never load. Runbook: ${local.runbook}, section \"Manifest invalid\"."
  }
}

resource "google_monitoring_alert_policy" "sweep_errors" {
  project               = var.project_id
  display_name          = "Encord registration: sweep errors"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Sweeps keep failing on buffers for 20 minutes"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.sweep_errors.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      # A single transient failure (a lock timeout) is retried by the next sweep.
      duration = "1200s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Sweeps have reported errors for 20 minutes: buffers may not be flushed or batches not finished. Runbook: ${local.runbook}, section \"Sweep errors\"."
  }
}

resource "google_monitoring_alert_policy" "oldest_pending_too_old" {
  project               = var.project_id
  display_name          = "Encord registration: objects waiting too long"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Oldest pending object older than twice the max age"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.oldest_pending_age.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.max_age_seconds * 2
      duration        = "600s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An object has waited for its manifest for more than twice max_age_seconds. Runbook: ${local.runbook}, section \"Objects waiting too long\"."
  }
}

resource "google_monitoring_alert_policy" "overdue_buffers" {
  project               = var.project_id
  display_name          = "Encord registration: overdue buffers"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Sweeps leave overdue buffers for 15 minutes"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.sweeps_with_overdue_buffers.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Every sweep for 15 minutes has ended with buffers past their max age still unflushed. Runbook: ${local.runbook}, section \"Overdue buffers\"."
  }
}

resource "google_monitoring_alert_policy" "sweep_not_running" {
  project               = var.project_id
  display_name          = "Encord registration: sweep not running"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "No sweep finished for 20 minutes"
    condition_absent {
      filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.sweeps.name}\""
      duration = "1200s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "No sweep has logged \"sweep done\" for 20 minutes: aged buffers are not flushed and interrupted batches not finished. Runbook: ${local.runbook}, section \"Sweep not running\"."
  }
}

resource "google_monitoring_alert_policy" "encord_submission_failing" {
  count = local.encord_enabled ? 1 : 0

  project               = var.project_id
  display_name          = "Encord registration: Encord submissions failing"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Submissions to Encord fail for 30 minutes"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.encord_submission_failures.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "1800s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Manifests are written but Encord has refused or not answered their upload for 30 minutes; they are retried. Runbook: ${local.runbook}, section \"Encord submissions failing\"."
  }
}

resource "google_monitoring_alert_policy" "encord_job_failed" {
  count = local.encord_enabled ? 1 : 0

  project               = var.project_id
  display_name          = "Encord registration: Encord job failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "An Encord upload job ended in ERROR or CANCELLED"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.encord_jobs_failed.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An Encord upload job finished in ERROR or CANCELLED: its manifest's objects may be missing in Encord. Runbook: ${local.runbook}, section \"Encord job failed\"."
  }
}

resource "google_monitoring_alert_policy" "rejection_spike" {
  count = var.rejection_alert_per_hour > 0 ? 1 : 0

  project               = var.project_id
  display_name          = "Encord registration: rejection spike"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More rejections in an hour than rejection_alert_per_hour"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.rejections.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.rejection_alert_per_hour
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.reason"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Many uploaded objects are being rejected (see the reason label). Runbook: ${local.runbook}, section \"Rejection spike\"."
  }
}
