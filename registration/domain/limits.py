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
