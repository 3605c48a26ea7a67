"""Every ceiling Encord and Google Cloud put on what we produce, stated once (pure).

Sources: Encord's registration page (../shared/reference/encord-gcp-private-cloud-registration.txt)
and Google's documented quotas (docs/limits.md says what happens at each edge).
"""

from __future__ import annotations

# Encord: one JSON registration file.
MAX_JSON_ITEMS = 500_000
MAX_JSON_URLS = 1_000_000
MAX_URL_BYTES = 16 * 1024
# Encord: file names and element titles. This and MAX_URL_BYTES are the only limits Encord
# documents on a name: any character is accepted, since objectUrl percent-encodes the name to
# ASCII and a title is a JSON string (or a quoted CSV cell). So a legal name is registered
# unless its file name is over MAX_TITLE_CHARS characters (code points, as Encord counts).
MAX_TITLE_CHARS = 300
# Encord: one image sequence; longer ones are split into parts.
MAX_SEQUENCE_FRAMES = 32_767
# Encord recommends at most 10,000-15,000 frames per image sequence.
RECOMMENDED_SEQUENCE_FRAMES = 15_000
# Encord: one CSV registration file.
MAX_CSV_ENTRIES = 10_000

# Cloud Storage: an object name is 1 to 1,024 bytes of UTF-8, any valid Unicode but CR and LF,
# never "." or "..", and never under ACME_CHALLENGE_PREFIX (cloud.google.com/storage/docs/
# naming-objects). Everything else it only advises against, so everything else is legal here.
MAX_OBJECT_NAME_BYTES = 1024
ACME_CHALLENGE_PREFIX = ".well-known/acme-challenge/"
# Firestore indexes only the first 1,500 bytes of a string: a malformed event's name up to this
# size is still recorded (as a malformed_event rejection) and found by name; a longer one is
# only counted.
MAX_RECORDED_MALFORMED_NAME_BYTES = 1500
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

# Pub/Sub: one message's data and attributes together are at most 10 MB; an attribute value is
# at most 1,024 bytes (cloud.google.com/pubsub/quotas). A job notification leaves headroom
# below the message limit for its attributes and the request's own framing.
MAX_PUBSUB_MESSAGE_BYTES = 10_000_000
MAX_NOTIFICATION_DATA_BYTES = 9_000_000
MAX_PUBSUB_ATTRIBUTE_VALUE_BYTES = 1024
