# Who may do what. Four service accounts of our own, each with only its job:
#
#   runtime    what on_storage_event and sweep run as: Firestore (the product's database
#              only), read the source bucket, write manifests, read the Encord key (encord.tf)
#   status     what status runs as: read Firestore, nothing else
#   trigger    what Eventarc uses to deliver storage events to on_storage_event
#   scheduler  what Cloud Scheduler uses to call sweep
#
# plus the two grants Google's own service agents need for storage triggers. No basic role
# (owner, editor, viewer) and no public member appears anywhere.

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-run"
  display_name = "Encord registration: function runtime"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "status" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-status"
  display_name = "Encord registration: status page (read only)"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-trigger"
  display_name = "Encord registration: storage event delivery"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "Encord registration: calls sweep"
  depends_on   = [google_project_service.required]
}

# ---------------------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------------------

# Firestore roles are granted on the project; datastore.user is read and write of documents,
# with no index, database or IAM administration. The condition narrows it to the product's
# database, so other databases in the project stay out of reach.
resource "google_project_iam_member" "runtime_uses_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.runtime.email}"

  condition {
    title       = "registration-database-only"
    description = "The Firestore database ${var.firestore_database} only."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}

# ---------------------------------------------------------------------------------------
# Status: reads buffers, batches and rejections, and nothing else
# ---------------------------------------------------------------------------------------

resource "google_project_iam_member" "status_reads_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.status.email}"

  condition {
    title       = "registration-database-only"
    description = "The Firestore database ${var.firestore_database} only."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""
  }
}

# Object metadata arrives in the event; the function reads an object itself only to sniff
# extension-less DICOM files (the first 132 bytes).
resource "google_storage_bucket_iam_member" "runtime_reads_source" {
  bucket = var.source_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.runtime.email}"
}

# Writing a manifest is objects.create, and finishing an interrupted batch rewrites the same
# name, which Cloud Storage allows only with objects.delete too. objectCreator cannot
# overwrite, so objectUser it is, but only under the manifest prefix: even when the
# manifests share the source bucket, the function cannot change or delete source objects.
resource "google_storage_bucket_iam_member" "runtime_writes_manifests" {
  bucket = local.manifest_bucket
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.runtime.email}"

  condition {
    title       = "encord-manifests-only"
    description = "Objects under ${var.manifest_prefix} only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.manifest_bucket}/objects/${var.manifest_prefix}\")"
  }
}

# ---------------------------------------------------------------------------------------
# Storage event delivery
# ---------------------------------------------------------------------------------------

# Cloud Storage publishes object changes to Pub/Sub as its own service agent.
data "google_storage_project_service_account" "storage_agent" {
  project = var.project_id
}

resource "google_project_iam_member" "storage_agent_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.storage_agent.email_address}"
}

# An Eventarc trigger's service account must hold eventReceiver (project level only) ...
resource "google_project_iam_member" "trigger_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.trigger.email}"
}

# ... and may invoke the two event functions, and nothing else.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_event_functions" {
  for_each = google_cloudfunctions2_function.on_storage_event

  project  = var.project_id
  location = each.value.location
  name     = each.value.name # a 2nd gen function's Cloud Run service has its name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# Pub/Sub signs each push with a token for the trigger account. Projects created before
# April 2021 need this grant explicitly; it is scoped to that one account.
resource "google_service_account_iam_member" "pubsub_signs_as_trigger" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# ---------------------------------------------------------------------------------------
# Invokers of the HTTP functions
# ---------------------------------------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_sweep" {
  project  = var.project_id
  location = google_cloudfunctions2_function.sweep.location
  name     = google_cloudfunctions2_function.sweep.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "people_read_status" {
  for_each = toset(var.status_invokers)

  project  = var.project_id
  location = google_cloudfunctions2_function.status.location
  name     = google_cloudfunctions2_function.status.name
  role     = "roles/run.invoker"
  member   = each.value
}
