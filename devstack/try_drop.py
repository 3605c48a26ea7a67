"""`make try DROP=./my-folder`: your own files through the function, locally, with verdicts.

    python -m devstack.try_drop DIR [--bucket NAME] [--all] [--encord] [--no-serve]
                                    [--report PATH]

Starts the local stack (Firestore emulator, Storage emulator, functions-framework servers for
on_storage_event, sweep and status), uploads every file under DIR to a bucket of the Storage
emulator (relative paths kept, hidden files included), posts one finalize CloudEvent per file
(with a progress bar), then sweeps with a short max age so partial batches and quiet groups
are written. It prints one line per manifest (its folder, type, file and number of files),
then one row per file that was rejected (and why) or is still pending; --all prints a row
for every file. Then it serves the status page at a printed local URL until Ctrl-C
(--no-serve exits instead; --report writes every verdict as JSON). With `make`:
`make try DROP=./my-folder ARGS="--no-serve --all"`.

--encord submits each manifest to a local Encord stub (tests/support/encord_stub.py, as
`make demo` does) through the real `encord` SDK, and follows each job to its end.

Settings: REGISTRATION_MAX_AGE_SECONDS and REGISTRATION_GROUP_QUIET_SECONDS default to 2 s
here; every REGISTRATION_* variable in your environment (batch sizes, prefixes, ...) is passed
through to the function, e.g. `REGISTRATION_BATCH_IMAGES=25 make try DROP=./photos`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mimetypes
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.cloud.storage as storage
import requests
from google.auth.credentials import AnonymousCredentials
from rich.console import Console
from rich.progress import MofNCompleteColumn
from rich.table import Table

from devstack import cloudevents
from devstack.demo import Encord, start_encord
from devstack.stack import PROJECT, Stack, StackError, local_stack
from registration.cli.output import SafeConsole, progress_bar
from registration.manifest.urls import parse_object_url
from tests.support.encord_stub import EncordStub

DEFAULT_BUCKET = "try-bucket"
SHORT_SETTINGS = {
    "REGISTRATION_MAX_AGE_SECONDS": "2",
    "REGISTRATION_GROUP_QUIET_SECONDS": "2",
}
MANIFEST_PREFIX_VARIABLE = "REGISTRATION_MANIFEST_PREFIX"
SWEEP_ROUNDS = 5
# With --encord: sweeps follow the jobs until each has ended, at most this long.
JOB_FOLLOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    name: str
    verdict: str  # registered | rejected | pending
    manifest: str | None = None
    key: str | None = None
    reason: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "manifest": self.manifest,
            "key": self.key,
            "reason": self.reason,
            "detail": self.detail,
        }


def files_under(root: Path) -> list[tuple[str, Path]]:
    """(object name, path) of every file under root, names relative with '/', sorted."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def function_settings(environ: dict[str, str]) -> dict[str, str]:
    """Short ages for a demo-like run, then every REGISTRATION_* the user set."""
    settings = dict(SHORT_SETTINGS)
    settings.update({k: v for k, v in environ.items() if k.startswith("REGISTRATION_")})
    return settings


def content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def upload_and_post(
    stack: Stack, bucket: str, files: list[tuple[str, Path]], event_url: str, console: Console
) -> list[str]:
    """Upload each file, then post its finalize event; the names whose event failed."""
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": stack.storage.url},
    )
    target = client.bucket(bucket)
    if not target.exists():
        client.create_bucket(bucket)
    failed: list[str] = []
    progress = progress_bar("try", console, MofNCompleteColumn())
    with progress, requests.Session() as session, ThreadPoolExecutor(8) as pool:
        task = progress.add_task(f"gs://{bucket}", total=len(files))

        def one(item: tuple[str, Path]) -> None:
            name, path = item
            data = path.read_bytes()
            kind = content_type(name)
            blob = target.blob(name)
            blob.upload_from_string(data, content_type=kind)
            blob.reload()
            event = cloudevents.object_data(
                bucket, name, int(blob.generation or 1), size=len(data), content_type=kind
            )
            response = cloudevents.finalize(event_url, event, session=session)
            if response.status_code >= 300:
                failed.append(name)
            progress.advance(task)

        list(pool.map(one, files))
    return failed


def manifests(stack: Stack, bucket: str, prefix: str) -> dict[str, tuple[str, str]]:
    """object name -> (manifest gs:// URL, manifest key), from every manifest written."""
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": stack.storage.url},
    )
    found: dict[str, tuple[str, str]] = {}
    for blob in client.list_blobs(bucket, prefix=prefix):
        if not blob.name.endswith(".json"):
            continue
        body = json.loads(blob.download_as_bytes())
        for key, items in body.items():
            if not isinstance(items, list):
                continue
            for name in _object_names(items):
                found[name] = (f"gs://{bucket}/{blob.name}", key)
    return found


def _object_names(items: list[Any]) -> Iterator[str]:
    for item in items:
        if not isinstance(item, dict):
            continue
        for field, value in item.items():
            if (field == "objectUrl" or field.startswith("objectUrl_")) and isinstance(value, str):
                yield parse_object_url(value)[1]


def rejections(stack: Stack, limit: int) -> dict[str, tuple[str, str]]:
    """object name -> (reason, detail), read from Firestore through the adapters."""
    from registration.bootstrap import build_backends

    stack.apply_to_this_process()
    return {
        record.name: (record.reason, record.detail)
        for record in build_backends().rejections.recent(limit)
    }


def verdicts(
    names: list[str],
    written: dict[str, tuple[str, str]],
    rejected: dict[str, tuple[str, str]],
) -> list[Verdict]:
    result = []
    for name in names:
        if name in written:
            manifest, key = written[name]
            result.append(Verdict(name, "registered", manifest=manifest, key=key))
        elif name in rejected:
            reason, detail = rejected[name]
            result.append(Verdict(name, "rejected", reason=reason, detail=detail))
        else:
            result.append(Verdict(name, "pending"))
    return result


@dataclass(frozen=True)
class ManifestSummary:
    url: str  # gs://BUCKET/PREFIX/FOLDER/KEY/NAME.json
    key: str
    files: int

    def parts(self, bucket: str, prefix: str) -> tuple[str, str]:
        """(folder, file name): the path under gs://BUCKET/PREFIX, split before the key."""
        path = self.url.removeprefix(f"gs://{bucket}/").removeprefix(prefix)
        head, _, name = path.rpartition("/")
        folder = head.removesuffix(self.key).rstrip("/")
        return folder or "(root)", name


def manifest_summaries(results: list[Verdict]) -> list[ManifestSummary]:
    files: dict[tuple[str, str], int] = {}
    for item in results:
        if item.manifest is not None and item.key is not None:
            files[(item.manifest, item.key)] = files.get((item.manifest, item.key), 0) + 1
    return [ManifestSummary(url, key, count) for (url, key), count in sorted(files.items())]


def tail(text: str, width: int) -> str:
    """text in at most width characters, keeping its end (a path's most telling part)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def print_verdicts(
    console: Console,
    results: list[Verdict],
    *,
    bucket: str = DEFAULT_BUCKET,
    prefix: str = "encord-manifests/",
    every_file: bool = False,
) -> None:
    """One row per manifest; then one per file rejected or pending (every file with
    every_file). Nothing wraps: a long path keeps its end after an ellipsis."""
    summaries = manifest_summaries(results)
    room = max(40, console.width)
    table = Table(title=f"Manifests under gs://{bucket}/{prefix}", title_justify="left")
    types = max([len(summary.key) for summary in summaries] + [4])
    path_width = room - types - 6 - 10  # Files column, borders and padding
    table.add_column("Manifest (folder/type/name)", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Files", justify="right", no_wrap=True)
    for summary in summaries:
        folder, name = summary.parts(bucket, prefix)
        path = f"{folder}/{summary.key}/{name}"
        table.add_row(tail(path, path_width), summary.key, str(summary.files))
    console.print(table if summaries else "No manifest was written.", markup=False)
    styles = {"registered": "green", "rejected": "red", "pending": "yellow"}
    shown = [item for item in results if every_file or item.verdict != "registered"]
    if shown:
        files = Table(
            title="Every file" if every_file else "Files rejected or still pending",
            title_justify="left",
        )
        inner = room - 10 - len("registered")
        name_width = inner * 55 // 100
        for column in ("File", "Verdict", "Manifest (or reason)"):
            files.add_column(column, no_wrap=True)
        for item in shown:
            if item.verdict == "registered" and item.manifest is not None:
                folder, name = ManifestSummary(item.manifest, item.key or "", 1).parts(
                    bucket, prefix
                )
                where = f"{folder}/{item.key}/{name}"
            else:
                where = item.reason or "—"
            files.add_row(
                tail(item.name, name_width),
                f"[{styles[item.verdict]}]{item.verdict}[/]",
                tail(where, inner - name_width),
            )
        console.print(files)
    counts: dict[str, int] = {}
    for item in results:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    console.print(
        ", ".join(f"{number} {verdict}" for verdict, number in sorted(counts.items())),
        markup=False,
    )


def run(args: argparse.Namespace, console: Console) -> int:
    root = Path(args.directory)
    if not root.is_dir():
        console.print(f"{root} is not a directory", markup=False)
        return 2
    files = files_under(root)
    if not files:
        console.print(f"{root} holds no files", markup=False)
        return 2
    settings = function_settings(dict(os.environ))
    prefix = settings.get(MANIFEST_PREFIX_VARIABLE, "encord-manifests/").rstrip("/") + "/"
    wait = max(
        int(settings["REGISTRATION_MAX_AGE_SECONDS"]),
        int(settings["REGISTRATION_GROUP_QUIET_SECONDS"]),
    )
    log_dir = Path(args.log_dir)
    console.print("Starting the Firestore and Storage emulators and functions-framework ...")
    with local_stack(log_dir) as stack, contextlib.ExitStack() as cleanup:
        encord = None
        if args.encord:
            stub = cleanup.enter_context(EncordStub(polls_until_done=1))
            encord = start_encord(stub)
            settings = {**settings, **encord.env}
            console.print(f"Encord: the local stub at {stub.url}, folder {encord.folder}")
        on_event = stack.serve("on_storage_event", settings)
        sweep = stack.serve("sweep", settings)
        status = stack.serve("status", settings)
        console.print(f"Uploading {len(files)} files to gs://{args.bucket} and posting events ...")
        failed = upload_and_post(stack, args.bucket, files, on_event.url, console)
        names = [name for name, _ in files]
        written: dict[str, tuple[str, str]] = {}
        rejected: dict[str, tuple[str, str]] = {}
        for _ in range(SWEEP_ROUNDS):
            # Past the max age and the quiet time, a sweep writes every partial batch.
            time.sleep(wait + 1)
            summary = requests.post(sweep.url, timeout=300).json()
            written = manifests(stack, args.bucket, prefix)
            rejected = rejections(stack, len(files) + 100)
            console.print(
                f"sweep: {summary.get('buffers_flushed', 0)} buffers flushed, "
                f"{len(summary.get('manifests_written', []))} manifests written",
                markup=False,
            )
            if all(name in written or name in rejected for name in names):
                break
        results = verdicts(names, written, rejected)
        print_verdicts(console, results, bucket=args.bucket, prefix=prefix, every_file=args.all)
        if encord is not None:
            follow_jobs(console, encord, sweep.url, prefix)
        if failed:
            console.print(f"{len(failed)} events were not acknowledged: {failed[:5]}", markup=False)
        status_url = status.url + "/"
        if args.report:
            report = {
                "bucket": args.bucket,
                "status_url": status_url,
                "files": {item.name: item.as_dict() for item in results},
                "manifests": sorted({manifest for manifest, _ in written.values()}),
                "events_failed": failed,
            }
            Path(args.report).write_text(json.dumps(report, indent=2, ensure_ascii=False))
            console.print(f"Report: {args.report}", markup=False)
        console.print(f"Logs of every process: {log_dir}/", markup=False)
        if args.no_serve:
            return 1 if failed else 0
        console.print(
            f"\nStatus page: [bold]{status_url}[/] (open it in a browser). Ctrl-C stops everything."
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("Stopping ...")
        return 1 if failed else 0


def follow_jobs(console: Console, encord: Encord, sweep_url: str, prefix: str) -> None:
    """Sweep until every Encord job has ended, then one line per job, as `make demo` shows."""
    deadline = time.monotonic() + JOB_FOLLOW_SECONDS
    while time.monotonic() < deadline:
        summary = requests.post(sweep_url, timeout=300).json()
        jobs = encord.stub.jobs(encord.folder)
        if jobs and all(job.status != "PENDING" for job in jobs) and not summary["submitted"]:
            break
        time.sleep(0.5)
    table = Table(title="Encord jobs (local stub)", title_justify="left")
    for column in ("Manifest", "Job", "Status", "Done", "Refused"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for job in encord.stub.jobs(encord.folder):
        counts = job.counts()
        table.add_row(
            job.file_name or "?", job.id[:8], job.status, str(counts["done"]), str(counts["error"])
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.try_drop",
        description="Run the function locally on your own files and show each file's verdict.",
    )
    parser.add_argument("directory", help="the folder to drop (its files keep their paths)")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET, help="bucket in the Storage emulator")
    parser.add_argument(
        "--no-serve", action="store_true", help="exit after the verdicts instead of serving"
    )
    parser.add_argument("--report", default=None, help="write the verdicts as JSON here")
    parser.add_argument(
        "--all",
        action="store_true",
        help="a row for every file, not only those rejected or pending",
    )
    parser.add_argument(
        "--encord", action="store_true", help="submit to a local Encord stub and follow each job"
    )
    parser.add_argument("--log-dir", default=".cache/try-logs", help="logs of every process")
    args = parser.parse_args(argv)
    console = SafeConsole(highlight=False)
    try:
        return run(args, console)
    except StackError as error:
        console.print(f"The local stack could not start: {error}", markup=False)
        return 3


if __name__ == "__main__":
    sys.exit(main())
