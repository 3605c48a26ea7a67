# Submission to Encord (docs/encord.md). Everything here exists only when a target is set
# (var.encord_folder or var.encord_dataset): otherwise manifests are only written.
#
# The SDK signs its requests with an Ed25519 private key, read from ENCORD_SSH_KEY. That key
# lives in Secret Manager: Terraform creates the secret, never a version, so the key is
# never in Terraform state or plan output. The operator adds it once, before the functions
# are deployed with it (Cloud Run refuses to mount a secret that has no version):
#
#   gcloud secrets versions add SECRET_ID --data-file=encord-key --project=PROJECT

# Google-managed encryption: a customer-managed KMS key would add a key ring, rotation and a
# service agent grant to guard one key; access is limited by IAM on this secret alone.
resource "google_secret_manager_secret" "encord_ssh_key" {
  count = local.encord_enabled ? 1 : 0

  project   = var.project_id
  secret_id = local.encord_key_secret_id

  labels = {
    purpose = "encord-sdk-key"
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}

# The runtime account (on_storage_event and sweep) may read this one secret: a grant on the
# secret, not the project, so no other secret in the project is readable. The status account
# gets nothing here.
resource "google_secret_manager_secret_iam_member" "runtime_reads_encord_key" {
  count = local.encord_enabled ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.encord_ssh_key[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}
