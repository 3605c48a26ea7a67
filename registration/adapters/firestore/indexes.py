"""Every index the Firestore queries need, declared once (deploy/terraform/firestore.tf
creates them; tests/deploy checks the two agree). The emulator needs none of them.

Composite indexes: (collection, query scope, fields in order). Single-field settings:
(collection, field, scopes) where an empty tuple of scopes means "not indexed at all".
"""

from __future__ import annotations

from typing import Literal

Scope = Literal["COLLECTION", "COLLECTION_GROUP"]

# (collection, fields in order; " desc" marks a descending field). All collection-scoped.
COMPOSITE_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # A buffer's queue after its cursor (queue.py: one OR query over the shards), oldest
    # first (claims, counts, ages) and newest first (quiet groups). The shard comes before
    # the growing queued_at, so one folder writes 8 ranges, not one (docs/limits.md).
    ("objects", ("buffer", "state", "shard", "queued_at")),
    ("objects", ("buffer", "state", "shard", "queued_at desc")),
    # A batch's members: one shard's records within the batch's range.
    ("objects", ("buffer", "shard", "queued_at")),
    # Reconcile: the live records under a prefix of one bucket, one shard at a time (names
    # in a folder are often sequential: the shard splits them into 8 ranges too).
    ("objects", ("bucket", "shard", "state", "name")),
    # A folder's rejections, newest first (the detail page) and oldest first (its expiry).
    ("rejections", ("bucket", "folder", "recorded_at desc")),
    ("rejections", ("bucket", "folder", "recorded_at")),
    # The status view's filters: buffers of one type (and, for image groups, sequences or
    # not) under a folder prefix, by folder (keyset pages on folder, then the id).
    ("buffers", ("key", "folder")),
    ("buffers", ("key", "create_video", "folder")),
)

# (collection group, fields in order): composites over every buffer's subcollection.
COLLECTION_GROUP_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The sweep's unfinished Encord submissions, in order of their next attempt.
    ("batches", ("submission", "next_attempt_at")),
)

SINGLE_FIELD: tuple[tuple[str, str, tuple[Scope, ...]], ...] = (
    # A timestamp that only grows, indexed over one collection, caps every writer together
    # at about 500 writes/s: the composites above (which start with the buffer) serve it.
    ("objects", "created_at", ()),
    # The same for the other values that grow within a folder: the queue's commit time, the
    # generation (Cloud Storage's is a timestamp in microseconds), the object's creation
    # time, and the name (often numbered). Only the composites above index them.
    ("objects", "queued_at", ()),
    ("objects", "generation", ()),
    ("objects", "time_created", ()),
    ("objects", "name", ()),
    # Up to 8 KiB of user metadata as one JSON string: nothing queries it.
    ("objects", "metadata", ()),
    # TTL fields: nothing queries them.
    ("objects", "expire_at", ()),
    ("rejections", "expire_at", ()),
    # The sweep and the status view find batches of every buffer by state and by
    # submission state: collection-group queries, which need their own single-field index.
    ("batches", "state", ("COLLECTION", "COLLECTION_GROUP")),
    ("batches", "submission", ("COLLECTION", "COLLECTION_GROUP")),
    # `resubmit` finds the batch that wrote a manifest by its path, in any buffer.
    ("batches", "manifest_path", ("COLLECTION", "COLLECTION_GROUP")),
    # Finished batches with a dataset link due (issue 20): a range over every buffer's batches.
    ("batches", "links_due_at", ("COLLECTION", "COLLECTION_GROUP")),
    ("batches", "follow_up_failed", ("COLLECTION", "COLLECTION_GROUP")),
)
