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
    # A buffer's pending objects, oldest first (claims, ages) and newest first (quiet groups).
    ("objects", ("buffer", "state", "created_at")),
    ("objects", ("buffer", "state", "created_at desc")),
    # The sweep's and the status view's skip scan over the buffers with a pending object.
    ("objects", ("state", "buffer", "created_at")),
    # Reconcile: the live records under a prefix of one bucket.
    ("objects", ("bucket", "state", "name")),
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
