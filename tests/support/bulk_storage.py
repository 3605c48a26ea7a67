"""A Storage emulator that starts out holding many objects, without uploading them one by one.

gcp-storage-emulator rewrites its whole metadata file on every upload, so N uploads cost
O(N²): 2,000 tiny uploads took 68 s and the next 2,000 took 103 s. To test a backfill of
"a bucket that already holds data" at scale, this module instead starts a disk-backed
emulator, uploads one template object through the real API, stops it, writes the metadata
of N objects cloned from that template (plus their bytes), and starts it again on the same
directory. Callers check the result by listing through the real client, so a change in the
emulator's file format fails loudly instead of passing quietly.

Each seeded emulator is its own process, so its objects never slow down the session's
shared in-memory emulator.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from devstack.stack import (
    PROJECT,
    VENV_BIN,
    Process,
    StackError,
    _spawn,
    _wait_until_up,
    free_port,
)

STORAGE_DIR = ".cloudstorage"  # gcp_storage_emulator.settings.STORAGE_DIR
META = ".meta"
FIRST_GENERATION = 1_700_000_000_000_000


def _start(data_dir: Path, port: int, log_dir: Path) -> Process:
    argv = [
        str(VENV_BIN / "gcp-storage-emulator"),
        "-d",
        str(data_dir),
        "start",
        "--host=127.0.0.1",
        f"--port={port}",
        "-q",
    ]
    name = f"seeded-storage-{port}"
    popen = _spawn(name, argv, log_dir, os.environ)
    process = Process(name, popen, log_dir / f"{name}.log", f"http://127.0.0.1:{port}")
    _wait_until_up(process, process.url + "/storage/v1/b", timeout=30)
    return process


def _upload_template(url: str, bucket: str, content: bytes, content_type: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )
    client.create_bucket(bucket)
    client.bucket(bucket).blob("template").upload_from_string(content, content_type=content_type)


@contextlib.contextmanager
def seeded_storage(
    log_dir: Path,
    bucket: str,
    names: Sequence[str],
    *,
    content: bytes = b"\xff\xd8\xff\xe0",
) -> Iterator[Process]:
    """An emulator on a free port whose bucket holds exactly `names` (one generation each).

    Each object's content type is guessed from its name, as `gcloud storage cp` does.
    """
    with tempfile.TemporaryDirectory(prefix="seeded-gcs-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        first = _start(data_dir, port, log_dir)
        try:
            _upload_template(first.url, bucket, content, "image/jpeg")
        finally:
            first.stop()
        meta_path = data_dir / STORAGE_DIR / META
        try:
            meta = json.loads(meta_path.read_text())
            template = meta["objects"][bucket]["template"]
        except (OSError, KeyError, ValueError) as error:
            raise StackError(f"seeded storage: unexpected emulator layout ({error!r})") from error
        objects: dict[str, dict[str, Any]] = {}
        for index, name in enumerate(names):
            generation = str(FIRST_GENERATION + index)
            item = dict(template)
            item.update(
                {
                    "name": name,
                    "id": f"{bucket}/{name}/{generation}",
                    "selfLink": f"/storage/v1/b/{bucket}/o/{name}",
                    "generation": generation,
                    "contentType": mimetypes.guess_type(name)[0] or "application/octet-stream",
                    "mediaLink": template["mediaLink"]
                    .replace("/o/template?", f"/o/{name}?")
                    .replace(template["generation"], generation),
                }
            )
            objects[name] = item
            if not name.endswith("/"):  # a folder placeholder has no file of its own here
                path = data_dir / STORAGE_DIR / bucket / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        (data_dir / STORAGE_DIR / bucket / "template").unlink()
        meta["objects"][bucket] = objects
        meta_path.write_text(json.dumps(meta))
        process = _start(data_dir, port, log_dir)
        try:
            yield process
        finally:
            process.stop()
