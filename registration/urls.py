"""Object name <-> Encord objectUrl. Percent-encoding per RFC 3986, keeping '/'."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, unquote

UrlStyle = Literal["https", "gs"]

HTTPS_HOST = "https://storage.cloud.google.com/"
GS_SCHEME = "gs://"


def encode_object_name(name: str) -> str:
    # safe="/" keeps only the path separator; space, '+', '#', '?', '%' and every
    # non-ASCII byte are escaped, so decoding gives back the exact name.
    return quote(name, safe="/", encoding="utf-8", errors="strict")


def object_url(bucket: str, name: str, style: UrlStyle = "https") -> str:
    prefix = HTTPS_HOST if style == "https" else GS_SCHEME
    return f"{prefix}{bucket}/{encode_object_name(name)}"


def parse_object_url(url: str) -> tuple[str, str]:
    """Inverse of object_url: (bucket, object name)."""
    for prefix in (HTTPS_HOST, GS_SCHEME):
        if url.startswith(prefix):
            bucket, _, encoded = url[len(prefix) :].partition("/")
            return bucket, unquote(encoded, encoding="utf-8", errors="strict")
    raise ValueError(f"not a Cloud Storage object URL: {url!r}")
