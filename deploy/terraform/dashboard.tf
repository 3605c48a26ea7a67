# The ops dashboard as code (Cloud Monitoring): the charts read the log-based metrics of
# monitoring.tf and Cloud Run's own request latencies of the sweep function. The layout is
# dashboard.json.tftpl; tests/deploy/test_dashboard.py checks that every chart names a
# metric that exists. docs/operations.md says where to find it.
resource "google_monitoring_dashboard" "registration" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    prefix           = var.name_prefix
    sweep_service    = "${var.name_prefix}-sweep"
    max_age_seconds  = var.max_age_seconds
    sweep_timeout_ms = local.flush_timeout_seconds * 1000
  })

  depends_on = [
    google_project_service.required,
    google_logging_metric.objects_registered,
    google_logging_metric.rejections,
    google_logging_metric.sweeps,
    google_logging_metric.sweep_errors,
    google_logging_metric.oldest_pending_age,
    google_logging_metric.sweeps_with_overdue_buffers,
    google_logging_metric.encord_submission_failures,
    google_logging_metric.encord_jobs_started,
    google_logging_metric.encord_jobs_finished,
  ]
}
