# Everything the functions share: settings, enabled APIs, facts looked up from the project,
# and the uploaded source. The resources themselves live in functions.tf, iam.tf,
# firestore.tf, scheduler.tf, encord.tf, pubsub.tf and monitoring.tf.

locals {
  manifest_bucket = coalesce(var.manifest_bucket, var.source_bucket)

  # A storage trigger must sit in the bucket's own location ("us-central1", "eu", "nam4"),
  # which need not be the functions' region. Read it from the bucket instead of asking.
  trigger_region = lower(data.google_storage_bucket.source.location)

  # One 2nd gen function takes exactly one event trigger, so on_storage_event is deployed
  # once per event type: same source, entry point, settings and service accounts.
  storage_events = {
    finalized = "google.cloud.storage.object.v1.finalized"
    deleted   = "google.cloud.storage.object.v1.deleted"
  }

  # How long each function may run. A flush (event functions and sweep) holds a lease on its
  # buffer; another instance may take the lease over once it is older than
  # REGISTRATION_LEASE_SECONDS. A lease longer than the timeout makes a take-over of a live
  # request rare, but never impossible: Cloud Run answers the client at the timeout and may
  # keep running the request's code (a call stalled inside Encord, say). So correctness does
  # not rest on the timeout: every write after a take-over is fenced by the attempt it began
  # with (registration/domain/batch_lifecycle.py), and a stale writer's write is refused.
  flush_timeout_seconds  = 300
  status_timeout_seconds = 60
  lease_seconds          = local.flush_timeout_seconds + 60

  # The function's whole configuration, spelled out so that the deployed settings can be
  # read here rather than inferred from defaults. Names and meanings: SPEC section 1.
  function_env = {
    # Newer Python runtimes no longer set it; the client libraries would otherwise have to
    # ask the metadata server.
    GOOGLE_CLOUD_PROJECT                 = var.project_id
    REGISTRATION_BATCH_IMAGES            = tostring(var.batch_sizes.images)
    REGISTRATION_BATCH_VIDEOS            = tostring(var.batch_sizes.videos)
    REGISTRATION_BATCH_AUDIO             = tostring(var.batch_sizes.audio)
    REGISTRATION_BATCH_PDFS              = tostring(var.batch_sizes.pdfs)
    REGISTRATION_BATCH_TEXT              = tostring(var.batch_sizes.text)
    REGISTRATION_BATCH_NIFTI             = tostring(var.batch_sizes.nifti)
    REGISTRATION_BATCH_IMAGE_GROUPS      = tostring(var.batch_sizes.image_groups)
    REGISTRATION_BATCH_DICOM_SERIES      = tostring(var.batch_sizes.dicom_series)
    REGISTRATION_MANIFEST_BUCKET         = local.manifest_bucket
    REGISTRATION_MANIFEST_PREFIX         = var.manifest_prefix
    REGISTRATION_MAX_AGE_SECONDS         = tostring(var.max_age_seconds)
    REGISTRATION_GROUP_QUIET_SECONDS     = tostring(var.group_quiet_seconds)
    REGISTRATION_IMAGE_GROUP_PREFIXES    = join(",", var.image_group_prefixes)
    REGISTRATION_IMAGE_SEQUENCE_PREFIXES = join(",", var.image_sequence_prefixes)
    REGISTRATION_URL_STYLE               = var.url_style
    REGISTRATION_MANIFEST_FORMAT         = var.manifest_format
    REGISTRATION_LEASE_SECONDS           = tostring(local.lease_seconds)
    REGISTRATION_SWEEP_REPOLL_SECONDS    = tostring(var.sweep_repoll_seconds)
    REGISTRATION_RECORD_RETENTION_DAYS   = tostring(var.record_retention_days)
  }

  # Submission to Encord (encord.tf): only the functions that flush submit, and only when a
  # target is set. Without one, none of these variables is passed and no secret exists.
  encord_enabled = var.encord_folder != "" || var.encord_dataset != ""
  encord_settings = {
    REGISTRATION_ENCORD_FOLDER        = var.encord_folder
    REGISTRATION_ENCORD_DATASET       = var.encord_dataset
    REGISTRATION_ENCORD_INTEGRATION   = var.encord_integration
    REGISTRATION_ENCORD_DOMAIN        = var.encord_domain
    REGISTRATION_ENCORD_IGNORE_ERRORS = tostring(var.encord_ignore_errors)
    # After registration (docs/encord.md): dataset links, the two policies, notifications.
    REGISTRATION_ENCORD_DATASETS     = join(",", var.encord_datasets)
    REGISTRATION_ENCORD_ON_DELETE    = var.encord_on_delete
    REGISTRATION_ENCORD_ON_OVERWRITE = var.encord_on_overwrite
    REGISTRATION_NOTIFY_TOPIC        = local.notify_enabled ? local.notify_topic_path : ""
  }
  # Job notifications (pubsub.tf): a topic of our own, named from known values so that the
  # functions' settings are known at plan time.
  notify_enabled       = local.encord_enabled && var.notify_topic != ""
  notify_topic_path    = "projects/${var.project_id}/topics/${var.notify_topic}"
  encord_env           = { for name, value in local.encord_settings : name => value if local.encord_enabled && value != "" }
  encord_key_secret_id = coalesce(var.encord_key_secret_id, "${var.name_prefix}-encord-ssh-key")

  # on_storage_event and sweep flush buffers (and submit manifests); status only reads.
  flush_env = merge(local.function_env, local.encord_env)

  required_apis = toset(concat([
    "artifactregistry.googleapis.com", # build output of the functions
    "cloudbuild.googleapis.com",       # builds the functions from source
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com", # storage triggers
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",    # log-based metrics (monitoring.tf)
    "monitoring.googleapis.com", # alert policies (monitoring.tf)
    "pubsub.googleapis.com",     # transport of the storage events
    "run.googleapis.com",        # a 2nd gen function is a Cloud Run service
    "storage.googleapis.com",
    # The Encord key (encord.tf), only when a target is set.
  ], local.encord_enabled ? ["secretmanager.googleapis.com"] : []))
}

resource "google_project_service" "required" {
  for_each = local.required_apis

  project = var.project_id
  service = each.value
  # Other workloads in the project may use the same APIs: never switch them off on destroy.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_bucket" "source" {
  name = var.source_bucket
}

# ---------------------------------------------------------------------------------------
# Function source: a private bucket holding the zip made by deploy/package.py
# ---------------------------------------------------------------------------------------

resource "google_storage_bucket" "function_source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs (zips of this repository); Cloud Audit Logs already record who wrote them, and a second bucket for access logs would add nothing a review needs.
  name     = "${var.project_id}-${var.name_prefix}-source"
  project  = var.project_id
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Keeps every uploaded version of the source, so a rollback can point at an old zip.
  versioning {
    enabled = true
  }

  depends_on = [google_project_service.required]
}

resource "google_storage_bucket_object" "function_source" {
  # Named after the content: a changed zip is a new object, which makes Terraform update
  # the functions; an unchanged zip (deploy/package.py is reproducible) changes nothing.
  name   = "function-source-${filemd5(var.source_archive)}.zip"
  bucket = google_storage_bucket.function_source.name
  source = var.source_archive
}
