"""`flush FOLDER KEY`: write the pending objects of one buffer now, full batch or not."""

from __future__ import annotations

import click

from registration.cli.app import cli, context
from registration.cli.output import CliState, routed_logs, streams
from registration.domain.model import ManifestKey, gs_url
from registration.services.flush import find_buffers, force_flush


@cli.command()
@click.argument("folder")
@click.argument("key", type=click.Choice([key.value for key in ManifestKey]))
@click.option("--bucket", default=None, help="Only the buffer of this source bucket.")
@click.option(
    "--sequence/--group",
    "sequence",
    default=None,
    help="For image_groups: only the image-sequence (or only the image-group) buffer.",
)
@click.pass_obj
def flush(
    state: CliState, folder: str, key: str, bucket: str | None, sequence: bool | None
) -> None:
    """Write the pending objects of FOLDER's KEY buffer now, full or not.

    FOLDER is the object's parent path ('site-a/cam 1'); '/' is the bucket's root.
    A group buffer flushed this way seals the groups it holds as they are.
    """
    io_ = streams()
    folder = folder.strip("/")
    with routed_logs(state, io_.err):
        ctx = context()
        buffers = find_buffers(ctx, folder, ManifestKey(key), bucket=bucket, sequence=sequence)
        if not buffers:
            raise click.ClickException(
                f"no {key} buffer for folder {folder or '(root)'!r}; "
                "`python -m registration status` lists the buffers"
            )
        for buffer in buffers:
            report = force_flush(ctx, buffer)
            written = report.manifests + report.completed
            io_.out.print(
                f"{buffer.label}: "
                + (f"{len(written)} manifest(s) written" if written else "nothing pending")
            )
            manifest_bucket = ctx.settings.manifest_bucket_for(buffer.bucket)
            for path in written:
                io_.out.print(f"  {gs_url(manifest_bucket, path)}", markup=False)
