# Cloud Scheduler calls sweep every minute: it flushes buffers that are not full but old,
# seals quiet groups, finishes interrupted batches, and notices an Encord job's end within a
# minute (then records its items, publishes its message and links its datasets). sweep is idempotent and safe to run
# alongside itself, so an overlapping or repeated run does no harm.

resource "google_cloud_scheduler_job" "sweep" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-sweep"
  description = "Calls ${google_cloudfunctions2_function.sweep.name} (POST)."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"
  # Slightly above the function's own timeout, so a slow sweep is not reported as failed.
  attempt_deadline = "320s"

  # A missed run is made up by the next one minutes later; retrying would only overlap it.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.sweep.service_config[0].uri
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    # Signed as the scheduler account, for the function's URL: Cloud Run checks both.
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.sweep.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.required,
    google_cloud_run_v2_service_iam_member.scheduler_invokes_sweep,
  ]
}
