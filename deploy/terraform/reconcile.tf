# After the platform gives up: Eventarc drops an event after 24 hours of retries. A daily
# reconcile over the recent prefixes registers what events missed (docs/operations.md).
# Off unless reconcile_prefixes is set. It runs as the runtime account (it writes records
# and manifests, like sweep), and only the scheduler account may invoke it.

locals {
  reconcile_enabled = length(var.reconcile_prefixes) > 0
  reconcile_env = merge(local.flush_env, {
    REGISTRATION_RECONCILE_BUCKET   = var.source_bucket
    REGISTRATION_RECONCILE_PREFIXES = join(",", var.reconcile_prefixes)
    REGISTRATION_RECONCILE_DAYS     = tostring(var.reconcile_days)
  })
}

resource "google_cloudfunctions2_function" "reconcile" {
  count = local.reconcile_enabled ? 1 : 0

  name        = "${var.name_prefix}-reconcile"
  project     = var.project_id
  location    = var.region
  description = "Registers objects whose storage events were dropped (recent prefixes)."

  build_config {
    runtime         = "python311"
    entry_point     = "reconcile"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email          = google_service_account.runtime.email
    environment_variables          = local.reconcile_env
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    available_memory               = "1Gi"
    timeout_seconds                = local.flush_timeout_seconds
    max_instance_count             = 1

    dynamic "secret_environment_variables" {
      for_each = google_secret_manager_secret.encord_ssh_key
      content {
        key        = "ENCORD_SSH_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_reconcile" {
  count = local.reconcile_enabled ? 1 : 0

  project  = var.project_id
  location = google_cloudfunctions2_function.reconcile[0].location
  name     = google_cloudfunctions2_function.reconcile[0].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "reconcile" {
  count = local.reconcile_enabled ? 1 : 0

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-reconcile"
  description      = "Calls ${google_cloudfunctions2_function.reconcile[0].name} (POST) daily."
  schedule         = var.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "320s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.reconcile[0].service_config[0].uri
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.reconcile[0].service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.required,
    google_cloud_run_v2_service_iam_member.scheduler_invokes_reconcile,
  ]
}
