"""Every ceiling Encord and Google Cloud put on what we produce, stated once (pure).

Sources: Encord's registration page (../shared/reference/encord-gcp-private-cloud-registration.txt)
and Google's documented quotas (docs/limits.md says what happens at each edge).
"""

from __future__ import annotations

# Encord: one JSON registration file.
MAX_JSON_ITEMS = 500_000
MAX_JSON_URLS = 1_000_000
MAX_URL_BYTES = 16 * 1024
# Encord: file names and element titles.
MAX_TITLE_CHARS = 300
# Encord: one image sequence; longer ones are split into parts.
MAX_SEQUENCE_FRAMES = 32_767
# Encord recommends at most 10,000-15,000 frames per image sequence.
RECOMMENDED_SEQUENCE_FRAMES = 15_000
# Encord: one CSV registration file.
MAX_CSV_ENTRIES = 10_000

# Cloud Storage: an object name is at most 1,024 bytes of UTF-8.
MAX_OBJECT_NAME_BYTES = 1024
# Cloud Storage: a bucket name is at most 222 characters (63 per dot-separated part).
MAX_BUCKET_NAME_CHARS = 222
# Cloud Storage: all custom metadata keys and values of one object, 8 KiB in total.
MAX_CUSTOM_METADATA_BYTES = 8 * 1024
# Cloud Storage documents no limit on Content-Type; RFC 6838 caps type and subtype at 127
# characters each, so 1 KiB leaves room for parameters and refuses only abuse.
MAX_CONTENT_TYPE_BYTES = 1024
# Cloud Storage: generations and sizes are int64.
MAX_INT64 = 2**63 - 1
# The manifest prefix for which every manifest path fits MAX_OBJECT_NAME_BYTES: the path
# adds at most 18 bytes of shortened folder and about 60 of key, batch id and extension.
MAX_MANIFEST_PREFIX_BYTES = 900
