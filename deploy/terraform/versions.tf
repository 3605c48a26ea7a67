terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # google_cloudfunctions2_function, google_firestore_field ttl_config and
      # google_cloud_run_v2_service_iam_member are all in 6.x and 7.x.
      version = ">= 6.0, < 8.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
