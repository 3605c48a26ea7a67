"""Command-line arguments that name objects: gs:// URLs (and Encord objectUrls)."""

from __future__ import annotations

import click

from registration.manifest.urls import parse_object_url


def parse_gs_url(url: str, *, need_name: bool) -> tuple[str, str]:
    """gs://BUCKET/REST -> (bucket, rest). REST is taken literally (no percent-decoding).

    An Encord objectUrl (https://storage.cloud.google.com/...) is accepted too, decoded.
    """
    if url.startswith("https://"):
        try:
            bucket, rest = parse_object_url(url)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error
    elif url.startswith("gs://"):
        bucket, _, rest = url.removeprefix("gs://").partition("/")
    else:
        raise click.BadParameter(f"expected gs://BUCKET/{'NAME' if need_name else 'PREFIX'}")
    if not bucket:
        raise click.BadParameter("the URL names no bucket")
    if need_name and not rest:
        raise click.BadParameter("the URL names no object")
    return bucket, rest
