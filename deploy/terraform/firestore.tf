# Firestore: the (default) database in native mode, the composite indexes the queries need,
# the TTL that keeps rejection records from piling up, and (optional) the TTL on object records.

resource "google_firestore_database" "default" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = var.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # The buffers are the only record of objects not yet in a manifest: never let a
  # `terraform destroy` take them along.
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.required]
}

# buffers/{buffer}/objects: `state == "pending"` ordered by created_at, oldest first (to fill
# a batch, and for a buffer's age) and newest first (for a group's quiet time). Firestore
# serves each direction from its own index.
resource "google_firestore_index" "pending_objects_oldest_first" {
  project     = var.project_id
  database    = var.firestore_database
  collection  = "objects"
  query_scope = "COLLECTION"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.default, google_project_service.required]
}

resource "google_firestore_index" "pending_objects_newest_first" {
  project     = var.project_id
  database    = var.firestore_database
  collection  = "objects"
  query_scope = "COLLECTION"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_database.default, google_project_service.required]
}

# buffers/{buffer}/batches is queried by `state` alone, and rejections by `recorded_at`
# alone: the automatic single-field indexes serve both.

# rejections/{id}: Firestore deletes a record once its expire_at has passed.
resource "google_firestore_field" "rejections_expire" {
  project    = var.project_id
  database   = var.firestore_database
  collection = "rejections"
  field      = "expire_at"

  ttl_config {}
  # No index on the TTL field: nothing queries it, and an indexed timestamp that only
  # grows caps the collection's write rate (SPEC section 3).
  index_config {}

  depends_on = [google_firestore_database.default, google_project_service.required]
}

# buffers/{buffer}/objects: with record_retention_days > 0 the function stamps each registered
# object's record with expire_at, and Firestore deletes it after that. What expiry gives up
# (late duplicates, overwrite detection, trace) is in docs/deploy.md. Off by default.
resource "google_firestore_field" "objects_expire" {
  count = var.record_retention_days > 0 ? 1 : 0

  project    = var.project_id
  database   = var.firestore_database
  collection = "objects"
  field      = "expire_at"

  ttl_config {}
  # Not indexed: nothing queries it, and a growing indexed timestamp caps the write rate.
  index_config {}

  depends_on = [google_firestore_database.default, google_project_service.required]
}
