# ---------------------------------------------------------------------------------------
# Where it runs
# ---------------------------------------------------------------------------------------

variable "project_id" {
  description = "The GCP project that hosts the functions, Firestore and the scheduler job."
  type        = string
}

variable "region" {
  description = "Region of the functions and the scheduler job, e.g. europe-west1. The storage triggers follow the source bucket's own location, whatever this is."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every function, service account and job name."
  type        = string
  default     = "encord-registration"

  validation {
    # Service account ids are at most 30 characters; the longest suffix is "-scheduler".
    condition     = can(regex("^[a-z][a-z0-9-]{2,19}$", var.name_prefix))
    error_message = "name_prefix: 3 to 20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "source_archive" {
  description = "The zip made by `python3 deploy/package.py build/function-source.zip` (path relative to this folder, or absolute)."
  type        = string
  default     = "../../build/function-source.zip"
}

# ---------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------

variable "source_bucket" {
  description = "The existing bucket whose objects are registered with Encord. The function gets read access to it and nothing more."
  type        = string
}

variable "manifest_bucket" {
  description = "The existing bucket that receives the manifests (REGISTRATION_MANIFEST_BUCKET). Null: the source bucket. It must use uniform bucket-level access, because the write grant is limited to manifest_prefix by an IAM condition."
  type        = string
  default     = null
}

variable "manifest_prefix" {
  description = "Folder for the manifests inside the manifest bucket (REGISTRATION_MANIFEST_PREFIX). The function can write only under it."
  type        = string
  default     = "encord-manifests/"

  validation {
    condition     = can(regex("^[^/].*/$", var.manifest_prefix))
    error_message = "manifest_prefix: a folder such as \"encord-manifests/\": not empty, no leading \"/\", one trailing \"/\"."
  }
}

# ---------------------------------------------------------------------------------------
# Batching and grouping (the function's REGISTRATION_* settings; SPEC section 1)
# ---------------------------------------------------------------------------------------

variable "batch_sizes" {
  description = "Items per manifest, by manifest key. Keys left out keep these defaults, which are the function's own."
  type = object({
    images       = optional(number, 1000)
    videos       = optional(number, 100)
    audio        = optional(number, 500)
    pdfs         = optional(number, 500)
    text         = optional(number, 1000)
    nifti        = optional(number, 100)
    image_groups = optional(number, 50)
    dicom_series = optional(number, 50)
  })
  default = {}

  validation {
    condition     = alltrue([for size in values(var.batch_sizes) : size >= 1 && size <= 500000 && floor(size) == size])
    error_message = "batch_sizes: whole numbers from 1 to 500000 (Encord's limit per JSON manifest)."
  }
}

variable "max_age_seconds" {
  description = "A buffer that is not full is flushed by sweep once its oldest object is this old."
  type        = number
  default     = 900
}

variable "group_quiet_seconds" {
  description = "An image group or DICOM series is complete once its folder has had no new file for this long."
  type        = number
  default     = 300
}

variable "image_group_prefixes" {
  description = "Object-name prefixes under which each folder's images form one image group."
  type        = list(string)
  default     = []
}

variable "image_sequence_prefixes" {
  description = "Object-name prefixes under which each folder's images form one image sequence."
  type        = list(string)
  default     = []
}

variable "url_style" {
  description = "\"https\" (https://storage.cloud.google.com/...) or \"gs\" (gs://...)."
  type        = string
  default     = "https"

  validation {
    condition     = contains(["https", "gs"], var.url_style)
    error_message = "url_style: \"https\" or \"gs\"."
  }
}

variable "manifest_format" {
  description = "\"json\" or \"csv\" (CSV manifests hold at most 10,000 entries, so batch sizes must not exceed that)."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["json", "csv"], var.manifest_format)
    error_message = "manifest_format: \"json\" or \"csv\"."
  }
}

# ---------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------

variable "sweep_schedule" {
  description = "Cron schedule (UTC) on which Cloud Scheduler calls sweep. Keep it well under max_age_seconds. Every minute by default, so that an Encord job's end (and the links and message that follow it) is noticed within a minute; an idle sweep costs a handful of reads (docs/housekeeping.md)."
  type        = string
  default     = "* * * * *"
}

variable "sweep_repoll_seconds" {
  description = "With Encord jobs running, a sweep polls them again this many seconds after it started (REGISTRATION_SWEEP_REPOLL_SECONDS; 0: once per run). With the one-minute schedule a job's end is then recorded within about 30 s instead of a minute; a sweep with no job running never waits."
  type        = number
  default     = 30

  validation {
    condition     = var.sweep_repoll_seconds >= 0 && var.sweep_repoll_seconds <= 50
    error_message = "sweep_repoll_seconds must be between 0 and 50."
  }
}

variable "status_invokers" {
  description = "Who may call the status page, as IAM members (\"group:ops@example.com\", \"user:...\"). Nobody else can."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.status_invokers : !contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "status_invokers: the status page is never public; name users, groups or service accounts."
  }
}

variable "max_instance_count" {
  description = "Upper bound on instances per function: caps cost and Firestore contention during a bulk upload."
  type        = number
  default     = 20
}

variable "build_service_account" {
  description = "Service account Cloud Build uses to build the functions, as projects/PROJECT/serviceAccounts/EMAIL. Null: the project's default build account."
  type        = string
  default     = null
}

variable "create_firestore_database" {
  description = "Create the (default) Firestore database in native mode. Leave false if the project already has one."
  type        = bool
  default     = false
}

variable "firestore_location" {
  description = "Location of the Firestore database when it is created here, e.g. eur3 or europe-west1. Null: the region."
  type        = string
  default     = null
}

variable "firestore_database" {
  description = "The Firestore database the functions use. The runtime and status accounts get access to this database only (IAM condition). The function reads the (default) database, so this stays \"(default)\" until it gains a database setting."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)"
    error_message = "firestore_database: the function uses the (default) database; another one would leave it with no access."
  }
}

variable "record_retention_days" {
  description = "Days a registered object's record is kept (REGISTRATION_RECORD_RETENTION_DAYS); Firestore deletes it afterwards through a TTL policy on objects.expire_at. 0 keeps records for ever. Expiry gives up duplicate and overwrite detection for older objects: see docs/deploy.md."
  type        = number
  default     = 0

  validation {
    condition     = var.record_retention_days >= 0 && floor(var.record_retention_days) == var.record_retention_days
    error_message = "record_retention_days: a whole number of days, 0 for no expiry."
  }
}

# ---------------------------------------------------------------------------------------
# Submission to Encord (docs/encord.md). All optional: with neither encord_folder nor
# encord_dataset set, manifests are only written, and no secret is created or mounted.
# ---------------------------------------------------------------------------------------

variable "encord_folder" {
  description = "UUID of the Encord Files (Index) folder each manifest is registered into (REGISTRATION_ENCORD_FOLDER). Empty: no folder."
  type        = string
  default     = ""
}

variable "encord_dataset" {
  description = "Hash of a legacy Encord dataset to register into instead of a folder (REGISTRATION_ENCORD_DATASET). Empty: none. Never together with encord_folder."
  type        = string
  default     = ""
}

variable "encord_integration" {
  description = "The Encord cloud integration for the bucket, by UUID or title (REGISTRATION_ENCORD_INTEGRATION). Required when a folder or dataset is set."
  type        = string
  default     = ""
}

variable "encord_domain" {
  description = "Encord's API domain (REGISTRATION_ENCORD_DOMAIN), e.g. https://api.us.encord.com for the US deployment."
  type        = string
  default     = "https://api.encord.com"

  validation {
    condition     = can(regex("^https?://[^/]+$", var.encord_domain))
    error_message = "encord_domain: a scheme and host such as https://api.encord.com, with no path."
  }
}

variable "encord_ignore_errors" {
  description = "Passed to each upload job (REGISTRATION_ENCORD_IGNORE_ERRORS): a file Encord cannot register does not fail the whole job."
  type        = bool
  default     = true
}

variable "encord_key_secret_id" {
  description = "Id of the Secret Manager secret created for the Encord service-account key (ENCORD_SSH_KEY). Null: <name_prefix>-encord-ssh-key. Terraform creates the secret, never its value: add it with `gcloud secrets versions add` (docs/encord.md)."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------
# After registration (docs/encord.md, docs/notifications.md). All optional, and all need an
# Encord target; deleting items needs a folder target.
# ---------------------------------------------------------------------------------------

variable "encord_datasets" {
  description = "Hashes of Encord datasets that each finished job's new items are linked to, duplicates skipped (REGISTRATION_ENCORD_DATASETS). Empty: no links."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for hash in var.encord_datasets : can(regex("^[A-Za-z0-9_-]{1,128}$", hash))]) && length(distinct(var.encord_datasets)) == length(var.encord_datasets)
    error_message = "encord_datasets: distinct dataset hashes (letters, digits, - and _)."
  }
}

variable "encord_on_delete" {
  description = "What a registered object deleted from the bucket does in Encord (REGISTRATION_ENCORD_ON_DELETE): report (a rejection record only) or delete (its item is deleted too; needs encord_folder)."
  type        = string
  default     = "report"

  validation {
    condition     = contains(["report", "delete"], var.encord_on_delete)
    error_message = "encord_on_delete: report or delete."
  }
}

variable "encord_on_overwrite" {
  description = "What a new generation of a registered object does in Encord (REGISTRATION_ENCORD_ON_OVERWRITE): report (a rejection record only) or replace (the old item is deleted and the new generation registered; needs encord_folder)."
  type        = string
  default     = "report"

  validation {
    condition     = contains(["report", "replace"], var.encord_on_overwrite)
    error_message = "encord_on_overwrite: report or replace."
  }
}

variable "notify_topic" {
  description = "Id of a Pub/Sub topic, created in project_id, that gets one message per finished Encord job (REGISTRATION_NOTIFY_TOPIC; schema in docs/notifications.md). Only the runtime account may publish to it. Empty: no topic, no messages."
  type        = string
  default     = ""

  validation {
    condition     = var.notify_topic == "" || (can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.notify_topic)) && !startswith(var.notify_topic, "goog"))
    error_message = "notify_topic: a topic id of 3-255 characters that starts with a letter and not with \"goog\" (letters, digits, - _ . ~ + %)."
  }
}

# ---------------------------------------------------------------------------------------
# Alerts (monitoring.tf, docs/operations.md)
# ---------------------------------------------------------------------------------------

variable "notification_channels" {
  description = "Cloud Monitoring notification channels every alert policy notifies, as ids (projects/PROJECT/notificationChannels/ID). Empty: the policies still open incidents, visible in the console."
  type        = list(string)
  default     = []
}

variable "rejection_alert_per_hour" {
  description = "Rejected objects per hour above which the rejection-spike policy fires. 0 turns that policy off."
  type        = number
  default     = 1000
}

variable "reconcile_prefixes" {
  description = "Prefixes of the source bucket that a daily reconcile repairs; {date} stands for each of the last reconcile_days days (YYYY-MM-DD), e.g. [\"drops/{date}/\"]. Empty: no scheduled reconcile."
  type        = list(string)
  default     = []
}

variable "reconcile_days" {
  description = "How many days back {date} in reconcile_prefixes reaches (2 covers Eventarc's 24-hour retry window with margin)."
  type        = number
  default     = 2
}

variable "reconcile_schedule" {
  description = "Cron schedule (UTC) of the reconcile over the recent prefixes."
  type        = string
  default     = "30 3 * * *"
}
