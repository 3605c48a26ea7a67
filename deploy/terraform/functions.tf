# The three entry points of main.py as 2nd gen functions. None of them is public:
# events arrive through Eventarc with the trigger service account's token, sweep is called
# by Cloud Scheduler with an OIDC token, and status answers only the members in
# var.status_invokers (iam.tf). on_storage_event and sweep run as the runtime account;
# status runs as its own read-only account.

# on_storage_event, once per event type (see local.storage_events).
resource "google_cloudfunctions2_function" "on_storage_event" {
  for_each = local.storage_events

  name        = "${var.name_prefix}-${each.key}"
  project     = var.project_id
  location    = var.region
  description = "Registers objects of gs://${var.source_bucket} with Encord (${each.key} events)."

  build_config {
    runtime         = "python311"
    entry_point     = "on_storage_event"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.runtime.email
    environment_variables = local.flush_env
    # Eventarc counts as internal traffic; nothing on the internet needs to reach this.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    available_memory               = "512Mi"
    timeout_seconds                = local.flush_timeout_seconds
    max_instance_count             = var.max_instance_count

    # The Encord key, only when a target is set (encord.tf).
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

  event_trigger {
    event_type     = each.value
    trigger_region = local.trigger_region
    # The handler raises only for transient failures (SPEC section 3) and every step is
    # idempotent, so a redelivery converges instead of losing the object.
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
    event_filters {
      attribute = "bucket"
      value     = var.source_bucket
    }
  }

  lifecycle {
    precondition {
      condition     = var.manifest_format != "csv" || alltrue([for size in values(var.batch_sizes) : size <= 10000])
      error_message = "manifest_format is csv, and a CSV manifest holds at most 10000 entries: lower batch_sizes."
    }
  }

  # Eventarc checks these grants when it creates the trigger.
  depends_on = [
    google_project_service.required,
    google_project_iam_member.storage_agent_publishes_events,
    google_project_iam_member.trigger_receives_events,
    # Cloud Run checks that the runtime account may read a mounted secret.
    google_secret_manager_secret_iam_member.runtime_reads_encord_key,
    # The first job's end may be published as soon as the function runs.
    google_pubsub_topic_iam_member.runtime_publishes_job_notifications,
  ]
}

# sweep: POST, from Cloud Scheduler only (scheduler.tf).
resource "google_cloudfunctions2_function" "sweep" {
  name        = "${var.name_prefix}-sweep"
  project     = var.project_id
  location    = var.region
  description = "Flushes aged buffers, seals quiet groups, finishes interrupted batches."

  build_config {
    runtime         = "python311"
    entry_point     = "sweep"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.runtime.email
    environment_variables = local.flush_env
    # Cloud Scheduler in the same project counts as internal traffic.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    available_memory               = "512Mi"
    timeout_seconds                = local.flush_timeout_seconds
    # One sweep every few minutes; a second instance covers an overlap.
    max_instance_count = 2

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

  lifecycle {
    precondition {
      condition     = var.encord_folder == "" || var.encord_dataset == ""
      error_message = "Set encord_folder or encord_dataset, not both."
    }
    precondition {
      condition     = !local.encord_enabled || var.encord_integration != ""
      error_message = "encord_integration (the integration's UUID or title) is required when encord_folder or encord_dataset is set."
    }
    # After registration: the same rules as registration/config.py, before anything deploys.
    precondition {
      condition     = local.encord_enabled || (length(var.encord_datasets) == 0 && var.notify_topic == "")
      error_message = "encord_datasets and notify_topic need an Encord target (encord_folder or encord_dataset)."
    }
    precondition {
      condition     = var.encord_folder != "" || (var.encord_on_delete == "report" && var.encord_on_overwrite == "report")
      error_message = "encord_on_delete = delete and encord_on_overwrite = replace delete items through a folder: they need encord_folder."
    }
  }

  depends_on = [
    google_project_service.required,
    google_secret_manager_secret_iam_member.runtime_reads_encord_key,
    google_pubsub_topic_iam_member.runtime_publishes_job_notifications,
  ]
}

# status: GET, the ops view, for the members in var.status_invokers only.
resource "google_cloudfunctions2_function" "status" {
  #checkov:skip=CKV_GCP_124:People open the status page from their own machines, so the network path must stay open; access is gated by IAM instead: run.invoker only for var.status_invokers (never allUsers, enforced by a validation), and every request needs a Google identity token.
  name        = "${var.name_prefix}-status"
  project     = var.project_id
  location    = var.region
  description = "The ops view of buffers, batches and rejections (JSON or HTML)."

  build_config {
    runtime         = "python311"
    entry_point     = "status"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    # Its own account, which can only read Firestore (iam.tf): the page has no business
    # writing manifests or reading the Encord key. It gets no Encord settings either.
    service_account_email          = google_service_account.status.email
    environment_variables          = local.function_env
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    available_memory               = "512Mi"
    timeout_seconds                = local.status_timeout_seconds
    max_instance_count             = 2
  }

  depends_on = [google_project_service.required]
}
