output "event_functions" {
  description = "The on_storage_event functions, by event type."
  value       = { for key, fn in google_cloudfunctions2_function.on_storage_event : key => fn.name }
}

output "trigger_region" {
  description = "Location of the storage triggers (the source bucket's location)."
  value       = local.trigger_region
}

output "status_url" {
  description = "Call with: curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" URL"
  value       = google_cloudfunctions2_function.status.service_config[0].uri
}

output "sweep_url" {
  description = "Called by Cloud Scheduler; POST with an identity token to run a sweep by hand."
  value       = google_cloudfunctions2_function.sweep.service_config[0].uri
}

output "runtime_service_account" {
  description = "The identity the functions run as."
  value       = google_service_account.runtime.email
}

output "source_object" {
  description = "The uploaded source zip (kept, with its earlier versions, for rollback)."
  value       = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.function_source.name}"
}
