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

# Every index the queries need, as registration/adapters/firestore/indexes.py declares them
# (tests/deploy checks that the two agree). objects/ holds one record per object name; its
# queries always start with the buffer or the state, so no index is one hot range of time.
locals {
  composite_indexes = {
    # A buffer's queue after its cursor (one OR query over the shards), oldest first (claims,
    # counts, ages) and newest first (quiet groups); the shard splits a folder into 8 ranges.
    objects_queue_oldest_first = { collection = "objects", fields = ["buffer", "state", "shard", "queued_at"] }
    objects_queue_newest_first = { collection = "objects", fields = ["buffer", "state", "shard", "queued_at desc"] }
    # A batch's members: one shard's records within the batch's range.
    objects_batch_range = { collection = "objects", fields = ["buffer", "shard", "queued_at"] }
    # Reconcile: the live records under a prefix of one bucket, one shard at a time.
    objects_live_by_name = { collection = "objects", fields = ["bucket", "shard", "state", "name"] }
    # A folder's rejections, newest first (detail page) and oldest first (its expiry).
    rejections_of_folder_newest_first = { collection = "rejections", fields = ["bucket", "folder", "recorded_at desc"] }
    rejections_of_folder_oldest_first = { collection = "rejections", fields = ["bucket", "folder", "recorded_at"] }
    # The status view's filters: one type (and sequence or group) under a folder prefix.
    buffers_of_type_by_folder       = { collection = "buffers", fields = ["key", "folder"] }
    buffers_of_group_kind_by_folder = { collection = "buffers", fields = ["key", "create_video", "folder"] }
  }
}

# Composites over every buffer's subcollection (collection-group queries).
locals {
  collection_group_indexes = {
    # The sweep's unfinished Encord submissions, in order of their next attempt.
    batches_submissions_by_next_attempt = { collection = "batches", fields = ["submission", "next_attempt_at"] }
  }
}

resource "google_firestore_index" "collection_group" {
  for_each = local.collection_group_indexes

  project     = var.project_id
  database    = var.firestore_database
  collection  = each.value.collection
  query_scope = "COLLECTION_GROUP"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = split(" ", fields.value)[0]
      order      = endswith(fields.value, " desc") ? "DESCENDING" : "ASCENDING"
    }
  }

  depends_on = [google_firestore_database.default, google_project_service.required]
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  project     = var.project_id
  database    = var.firestore_database
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = split(" ", fields.value)[0]
      order      = endswith(fields.value, " desc") ? "DESCENDING" : "ASCENDING"
    }
  }

  depends_on = [google_firestore_database.default, google_project_service.required]
}

# Values that grow within a folder (times, Cloud Storage's generation, numbered names):
# indexed on their own, each would be one hot range capping every writer together at about
# 500 writes/s. The composites above, which start with the buffer or the bucket and a
# shard, serve every query on them (docs/limits.md).
resource "google_firestore_field" "objects_growing_unindexed" {
  for_each = toset(["created_at", "queued_at", "generation", "time_created", "name"])

  project    = var.project_id
  database   = var.firestore_database
  collection = "objects"
  field      = each.value

  index_config {}

  depends_on = [google_firestore_database.default, google_project_service.required]
}

# Up to 8 KiB of user metadata as one JSON string: nothing queries it.
resource "google_firestore_field" "objects_metadata_unindexed" {
  project    = var.project_id
  database   = var.firestore_database
  collection = "objects"
  field      = "metadata"

  index_config {}

  depends_on = [google_firestore_database.default, google_project_service.required]
}

# buffers/{buffer}/batches: the sweep and the status view query batches of every buffer
# by state and by submission state, `resubmit` by manifest path, and finished batches by when
# a dataset link is due and by a refused link or notification (collection-group queries need
# their own index).
resource "google_firestore_field" "batches_collection_group" {
  for_each = toset(["state", "submission", "manifest_path", "links_due_at", "follow_up_failed"])

  project    = var.project_id
  database   = var.firestore_database
  collection = "batches"
  field      = each.value

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_database.default, google_project_service.required]
}

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

# objects/: with record_retention_days > 0 the function stamps each registered
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
