# Job notifications (docs/notifications.md): one message per finished Encord job, on a topic
# of this project, only when var.notify_topic is set (with an Encord target). Subscriptions
# are the consumers' own: Terraform makes none, and grants no one but the runtime account.

resource "google_pubsub_topic" "job_notifications" {
  #checkov:skip=CKV_GCP_83:Messages hold object URLs, item UUIDs and Encord's error texts, no file content; Google-managed encryption applies, and access is limited by IAM on this topic alone (publish: the runtime account only).
  count = local.notify_enabled ? 1 : 0

  project = var.project_id
  name    = var.notify_topic

  labels = {
    purpose = "encord-job-notifications"
  }

  depends_on = [google_project_service.required]
}

# The runtime account (on_storage_event, sweep, reconcile: whoever sees a job end) may
# publish to this one topic: a grant on the topic, not the project, and no other role.
resource "google_pubsub_topic_iam_member" "runtime_publishes_job_notifications" {
  count = local.notify_enabled ? 1 : 0

  project = var.project_id
  topic   = google_pubsub_topic.job_notifications[0].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.runtime.email}"
}
