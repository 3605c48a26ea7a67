"""A local stand-in for the part of Encord's HTTP API that registers cloud files.

It speaks the wire format of the real SDK (encord 0.1.211), so tests drive it with the SDK itself:

- v2 (`/v2/public/...`, camelCase JSON, RFC 9421 Ed25519 signatures):
  `GET cloud-integrations`, `GET storage/folders/{folder}`,
  `POST storage/folders/{folder}/data-upload-jobs` (the answer is the job id as a bare JSON string),
  `GET .../data-upload-jobs/{job}?timeoutSeconds=N`, `POST .../data-upload-jobs/{job}/cancel`;
  after registration (issue 20): `POST storage/folders/{folder}/items/delete`,
  `PATCH storage/folders/{folder}/items/{item}`, `GET storage/items/{item}` and
  `POST storage/items/get-bulk`.
- v1 (`POST /public`, `Authorization: <public key hex>:<hex signature of sha256(body)>`, the
  `ResourceID` header naming the dataset): query types `dataset` (GET) and
  `datasetdatalongpolling` (POST starts a job, GET polls it) and `datasetlinkitems` (POST
  links storage items to the dataset, with the SDK's SKIP / DUPLICATE / FAIL). v1 answers are
  HTTP 200 with the outcome inside: `{"status": 200, "response": ...}`, or an error code such as
  `["AUTHENTICATION_ERROR"]` (the SDK compares the code to a one-element list).

Only requests signed by a registered Ed25519 key are served. Each upload job is worked out when
it is created (as if Encord processed it at once): every unit (one item, or one group with its
`objectUrl_N`) is registered, skipped as a duplicate, or failed by a rule the test set. The job
still reports PENDING for `polls_until_done` polls before its final status. Tests inject faults
(429, 503, accept-then-timeout) into the next start or poll calls, or make every call hang
(`hang_every_call`: held, then dropped unanswered).

The stub keeps its own records of what Encord would hold, for tests to assert on: every item a
job created (`items`, `items_for_url`), each dataset's linked items (`linked_items`), and each
delete request with its `remove_unused_frames` (`deletions`). Its model of a delete: the item
goes, its dataset links go with it, and its URLs can be registered again; a group's frame files
go too only with `remove_unused_frames` (otherwise they stay in the folder, so a group made of
the same files again is skipped as a duplicate).

In-process (the main use)::

    with EncordStub(public_keys=[key.public_key()]) as stub:
        folder = stub.add_folder()
        integration = stub.add_integration("gcs-bucket")
        ...  # EncordUserClient.create_with_ssh_private_key(..., domain=stub.url)
        assert stub.registered_urls(folder)[url] == 1

Standalone: `python -m tests.support.encord_stub --port 8099 --public-key HEX --auto-create`
prints the URL and serves until SIGTERM (read-only views: `GET /_stub/jobs`,
`/_stub/registered/{target}`, `/_stub/items/{target}`, `/_stub/links/{dataset}`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from types import FrameType, TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_public_key,
)

JobStatus = Literal["PENDING", "DONE", "ERROR", "CANCELLED"]
Operation = Literal["start", "poll", "link"]
UnitOutcome = Literal["registered", "skipped", "error", "cancelled"]

SINGLE_KEYS = ("images", "videos", "audio", "pdfs", "text", "nifti")
GROUP_KEYS = ("image_groups", "dicom_series")
FLAG_KEYS = ("skip_duplicate_urls", "upsert_metadata")
MAX_ITEMS = 500_000
MAX_URL_BYTES = 16 * 1024
MAX_CLOCK_SKEW_SECONDS = 300

_URL_FORMS = (
    re.compile(r"^https://storage\.cloud\.google\.com/(?P<bucket>[^/]+)/(?P<object>.+)$"),
    re.compile(r"^gs://(?P<bucket>[^/]+)/(?P<object>.+)$"),
)
_OBJECT_URL_N = re.compile(r"^objectUrl_(\d+)$")
_V2_FOLDER = re.compile(r"^/v2/public/storage/folders/(?P<folder>[^/]+)$")
_V2_JOBS = re.compile(r"^/v2/public/storage/folders/(?P<folder>[^/]+)/data-upload-jobs$")
_V2_JOB = re.compile(
    r"^/v2/public/storage/folders/(?P<folder>[^/]+)/data-upload-jobs/(?P<job>[^/]+)$"
)
_V2_DELETE_ITEMS = re.compile(r"^/v2/public/storage/folders/(?P<folder>[^/]+)/items/delete$")
_V2_FOLDER_ITEM = re.compile(
    r"^/v2/public/storage/folders/(?P<folder>[^/]+)/items/(?P<item>[^/]+)$"
)
_V2_ITEM = re.compile(r"^/v2/public/storage/items/(?P<item>[^/]+)$")
_V2_ITEMS_BULK = "/v2/public/storage/items/get-bulk"
_V2_CANCEL = re.compile(
    r"^/v2/public/storage/folders/(?P<folder>[^/]+)/data-upload-jobs/(?P<job>[^/]+)/cancel$"
)
_SIGNATURE_INPUT = re.compile(
    r"^(?P<label>[A-Za-z0-9_-]+)=(?P<params>\((?P<components>[^)]*)\).*)$"
)
_SIGNATURE = re.compile(r"^(?P<label>[A-Za-z0-9_-]+)=:(?P<value>[A-Za-z0-9+/=]*):$")
_SIG_PARAM = re.compile(r';([a-z]+)=("([^"]*)"|(\d+))')


# ---------------------------------------------------------------- records kept per job


@dataclass
class StubUnit:
    """One job unit: a single item, or one group with all its frames."""

    key: str
    title: str
    urls: tuple[str, ...]
    outcome: UnitOutcome
    error: str | None = None
    item_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    subtask_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class StubItem:
    """A storage item a job created: one file, or one group or series with its frame files."""

    uuid: str
    folder: str  # the folder UUID, or the legacy dataset hash the job targeted
    key: str
    name: str
    urls: tuple[str, ...]
    client_metadata: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created_at: str = field(default_factory=lambda: _timestamp())

    @property
    def is_group(self) -> bool:
        return self.key in GROUP_KEYS


@dataclass(frozen=True)
class StubDeletion:
    """One delete request as the stub received it."""

    folder: str
    item_uuids: tuple[str, ...]
    remove_unused_frames: bool


@dataclass
class StubJob:
    """An upload job as the stub recorded it."""

    id: str
    api: Literal["folder", "dataset"]
    target: str
    integration_id: str
    ignore_errors: bool
    manifest: dict[str, Any]
    file_name: str | None
    units: list[StubUnit]
    key_id: str
    polls_until_done: int
    folder_uuid: str | None = None
    created_at: float = field(default_factory=time.time)
    polls: int = 0
    poll_timeouts: list[int] = field(default_factory=list)
    cancelled: bool = False
    answered: bool = True  # False when the start answer never reached the client

    @property
    def status(self) -> JobStatus:
        """What the last poll reported (PENDING until `polls_until_done` polls have been seen)."""
        if self.cancelled:
            return "CANCELLED"
        if self.polls <= self.polls_until_done:
            return "PENDING"
        if not self.ignore_errors and any(u.outcome == "error" for u in self.units):
            return "ERROR"
        return "DONE"

    @property
    def registered(self) -> tuple[str, ...]:
        """URLs this job registered (duplicates it skipped and failed units are not included)."""
        return tuple(url for u in self.units if u.outcome == "registered" for url in u.urls)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(url for u in self.units if u.outcome == "skipped" for url in u.urls)

    @property
    def unit_errors(self) -> list[StubUnit]:
        return [u for u in self.units if u.outcome == "error"]

    def counts(self) -> dict[str, int]:
        if self.status == "PENDING":
            return {"pending": len(self.units), "done": 0, "error": 0, "cancelled": 0}
        c = Counter(u.outcome for u in self.units)
        return {
            "pending": 0,
            "done": c["registered"] + c["skipped"],
            "error": c["error"],
            "cancelled": c["cancelled"],
        }

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "target": self.target,
            "integration_id": self.integration_id,
            "ignore_errors": self.ignore_errors,
            "file_name": self.file_name,
            "status": self.status,
            "answered": self.answered,
            "polls": self.polls,
            "registered": list(self.registered),
            "skipped": list(self.skipped),
            "unit_errors": [{"urls": list(u.urls), "error": u.error} for u in self.unit_errors],
        }


@dataclass
class _Fault:
    kind: Literal["rate_limit", "unavailable", "accept_then_timeout"]
    remaining: int
    retry_after: int | None = None
    mode: Literal["delay", "drop"] = "delay"
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class StubRequest:
    """One request as the stub saw it (for assertions on what the client sent)."""

    method: str
    path: str
    api: Literal["v1", "v2", "stub"]
    key_id: str | None
    status: int
    query_type: str | None = None


class _ApiError(Exception):
    """A request answered with an error; v2 as an HTTP status, v1 inside the envelope."""

    def __init__(self, status: int, message: str, v1_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.v1_code = v1_code


class _ManifestError(_ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, message, "INVALID_ARGUMENTS_ERROR")


# ---------------------------------------------------------------- the stub


def public_key_hex(key: Ed25519PublicKey | bytes | str) -> str:
    """The key id the SDK sends: the raw 32-byte public key in hex.

    Accepts a key object, its raw bytes, its hex, or an OpenSSH `ssh-ed25519 AAAA...` line.
    """
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    if isinstance(key, bytes):
        return public_key_hex(Ed25519PublicKey.from_public_bytes(key))
    text = key.strip()
    if text.startswith("ssh-ed25519"):
        loaded = load_ssh_public_key(text.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return public_key_hex(loaded)
    return public_key_hex(bytes.fromhex(text))


class EncordStub:
    """Encord's registration API on 127.0.0.1, thread-safe, with fault injection for tests."""

    def __init__(
        self,
        public_keys: Iterable[Ed25519PublicKey | bytes | str] = (),
        *,
        polls_until_done: int = 1,
        auto_create_targets: bool = False,
        max_body_bytes: int = 64 * 1024 * 1024,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._keys: set[str] = {public_key_hex(k) for k in public_keys}
        self.auto_create_targets = auto_create_targets
        self.max_body_bytes = max_body_bytes
        self._default_polls_until_done = polls_until_done
        self._init_state()

    def _init_state(self) -> None:
        self._items: dict[str, StubItem] = {}  # live items by UUID
        self._links: dict[str, list[str]] = {}  # dataset hash -> linked item UUIDs, in order
        self._deletions: list[StubDeletion] = []
        self.polls_until_done = self._default_polls_until_done
        self._integrations: dict[str, str] = {}  # uuid -> title
        self._folders: dict[str, str] = {}  # uuid -> name
        self._datasets: dict[str, str] = {}  # hash -> title
        self._jobs: dict[str, StubJob] = {}
        self._registered: dict[str, Counter[str]] = {}
        self._fail_rules: list[tuple[re.Pattern[str], str]] = []
        self._faults: dict[Operation, list[_Fault]] = {"start": [], "poll": [], "link": []}
        self._requests: list[StubRequest] = []
        self._hang_seconds: float | None = None
        self._unhang = threading.Event()
        self.hung_requests = 0

    # -- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.stub = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="encord-stub", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are holding back an answer
        self._unhang.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the `domain` to give the SDK."""
        if self._server is None:
            raise RuntimeError("the Encord stub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- setup by tests

    def add_public_key(self, key: Ed25519PublicKey | bytes | str) -> str:
        """Accept requests signed by this key; returns its key id (hex)."""
        key_id = public_key_hex(key)
        with self._lock:
            self._keys.add(key_id)
        return key_id

    def remove_public_key(self, key: Ed25519PublicKey | bytes | str) -> None:
        with self._lock:
            self._keys.discard(public_key_hex(key))

    def add_integration(self, title: str, integration_id: str | None = None) -> str:
        """A cloud integration; returns its UUID. Titles need not be unique (as on Encord)."""
        integration_id = integration_id or str(uuid.uuid4())
        with self._lock:
            self._integrations[str(uuid.UUID(integration_id))] = title
        return integration_id

    def add_folder(self, folder_uuid: str | None = None, name: str = "stub folder") -> str:
        folder_uuid = str(uuid.UUID(folder_uuid)) if folder_uuid else str(uuid.uuid4())
        with self._lock:
            self._folders[folder_uuid] = name
        return folder_uuid

    def add_dataset(self, dataset_hash: str | None = None, title: str = "stub dataset") -> str:
        dataset_hash = dataset_hash or str(uuid.uuid4())
        with self._lock:
            self._datasets[dataset_hash] = title
        return dataset_hash

    def fail_urls_matching(self, pattern: str, error: str = "Failed to read the file") -> None:
        """Units with a URL matching `pattern` (re.search) become unit errors with `error`."""
        with self._lock:
            self._fail_rules.append((re.compile(pattern), error))

    def clear_failures(self) -> None:
        """Forget every fail_urls_matching rule: the files are fixed."""
        with self._lock:
            self._fail_rules.clear()

    def set_polls_until_done(self, polls: int) -> None:
        """New jobs report PENDING for this many polls, then their final status."""
        with self._lock:
            self.polls_until_done = polls

    def inject_rate_limit(
        self, retry_after: int | None = 1, times: int = 1, on: Operation = "start"
    ) -> None:
        """The next `times` calls of `on` answer 429 with `Retry-After` (nothing is created)."""
        self._add_fault(on, _Fault("rate_limit", times, retry_after=retry_after))

    def inject_unavailable(self, times: int = 1, on: Operation = "start") -> None:
        """The next `times` calls of `on` answer 503 from 'the infrastructure' (nothing created)."""
        self._add_fault(on, _Fault("unavailable", times))

    def inject_accept_then_timeout(
        self,
        times: int = 1,
        *,
        mode: Literal["delay", "drop"] = "delay",
        delay_seconds: float = 5.0,
        on: Operation = "start",
    ) -> None:
        """The next `times` calls of `on` are carried out (a start creates and records its job),
        then the answer is held back `delay_seconds` (mode 'delay', past the client's timeout) or
        the connection is closed with no answer (mode 'drop'). The client never learns the id."""
        fault = _Fault("accept_then_timeout", times, mode=mode, delay_seconds=delay_seconds)
        self._add_fault(on, fault)

    def hang_every_call(self, seconds: float = 600.0) -> None:
        """Encord hanging: every API request (v1 and v2, any route) is held for `seconds`,
        or until `stop_hanging()` or `stop()`, then dropped unanswered and never acted on."""
        with self._lock:
            self._unhang.clear()
            self._hang_seconds = seconds

    def stop_hanging(self) -> None:
        with self._lock:
            self._hang_seconds = None
        self._unhang.set()

    def _hang(self) -> bool:
        """Hold this request if Encord is hanging; True when it must then be dropped."""
        with self._lock:
            seconds = self._hang_seconds
            if seconds is None:
                return False
            self.hung_requests += 1
        self._unhang.wait(seconds)
        return True

    def _add_fault(self, on: Operation, fault: _Fault) -> None:
        if on not in ("start", "poll", "link"):
            raise ValueError(f"faults apply to 'start', 'poll' or 'link', not {on!r}")
        with self._lock:
            self._faults[on].append(fault)

    def reset(self) -> None:
        """Forget all but the registered keys: integrations, targets, jobs, rules, faults."""
        with self._lock:
            self._unhang.set()  # requests held by a hang are let go first
            self._init_state()

    # -- inspection by tests

    def jobs(self, target: str | None = None) -> list[StubJob]:
        """Jobs in creation order, answered or not; only those of `target` when given."""
        with self._lock:
            return [j for j in self._jobs.values() if target is None or j.target == target]

    def job(self, job_id: str) -> StubJob:
        with self._lock:
            return self._jobs[str(job_id)]

    def registered_urls(self, target: str) -> Counter[str]:
        """url -> how many times it was registered into this folder (UUID) or dataset (hash)."""
        with self._lock:
            return Counter(self._registered.get(self._target_key(target), Counter()))

    def requests(self) -> list[StubRequest]:
        with self._lock:
            return list(self._requests)

    def items(self, target: str | None = None) -> list[StubItem]:
        """Live items in creation order; only those of a folder (UUID) or dataset when given."""
        with self._lock:
            key = None if target is None else self._target_key(target)
            return [i for i in self._items.values() if key is None or i.folder == key]

    def item(self, item_uuid: str) -> StubItem | None:
        with self._lock:
            return self._items.get(str(item_uuid))

    def items_for_url(self, target: str, url: str) -> list[StubItem]:
        """The live items of a folder (or dataset) that hold this URL, as a file or a frame."""
        return [i for i in self.items(target) if url in i.urls]

    def linked_items(self, dataset_hash: str) -> list[str]:
        """Item UUIDs linked to a dataset (a legacy target's own items included), in order."""
        with self._lock:
            return list(self._links.get(dataset_hash, []))

    def deletions(self) -> list[StubDeletion]:
        with self._lock:
            return list(self._deletions)

    @staticmethod
    def _target_key(target: str) -> str:
        try:
            return str(uuid.UUID(str(target)))
        except ValueError:
            return str(target)

    # -- what the handler calls (all under the lock)

    def _check_key(self, key_id: str) -> None:
        if key_id not in self._keys:
            raise _ApiError(HTTPStatus.UNAUTHORIZED, "Unknown public key", "AUTHENTICATION_ERROR")

    def _take_fault(self, on: Operation) -> _Fault | None:
        with self._lock:
            for fault in self._faults[on]:
                if fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _log(self, entry: StubRequest) -> None:
        with self._lock:
            self._requests.append(entry)

    def _folder(self, folder_uuid: str) -> str:
        key = self._target_key(folder_uuid)
        if key not in self._folders:
            if not self.auto_create_targets:
                raise _ApiError(
                    HTTPStatus.FORBIDDEN,
                    f"Folder {folder_uuid} does not exist or you do not have access to it",
                    "AUTHORISATION_ERROR",
                )
            self._folders[key] = "auto-created folder"
        return key

    def _dataset(self, dataset_hash: str) -> str:
        if dataset_hash not in self._datasets:
            if not self.auto_create_targets or not dataset_hash:
                raise _ApiError(
                    HTTPStatus.NOT_FOUND,
                    f"Dataset {dataset_hash or '<none>'} not found",
                    "RESOURCE_NOT_FOUND_ERROR",
                )
            self._datasets[dataset_hash] = "auto-created dataset"
        return dataset_hash

    def _integration(self, integration_id: Any) -> str:
        try:
            key = str(uuid.UUID(str(integration_id)))
        except ValueError:
            key = ""
        if key not in self._integrations:
            raise _ApiError(
                HTTPStatus.BAD_REQUEST,
                f"Cloud integration {integration_id} not found",
                "INVALID_ARGUMENTS_ERROR",
            )
        return key

    def _create_job(
        self,
        *,
        api: Literal["folder", "dataset"],
        target: str,
        integration_id: str,
        ignore_errors: bool,
        manifest: Any,
        file_name: str | None,
        key_id: str,
        folder_uuid: str | None = None,
    ) -> StubJob:
        if not isinstance(manifest, dict):
            raise _ManifestError("The upload needs a JSON object of external files")
        items = _parse_manifest(manifest)
        skip = manifest.get("skip_duplicate_urls") is True
        registered = self._registered.setdefault(target, Counter())
        units: list[StubUnit] = []
        for key, title, urls in items:
            error = self._failure_for(urls)
            if error is not None:
                units.append(StubUnit(key, title, urls, "error", error))
            elif skip and all(registered[u] > 0 for u in urls):
                units.append(StubUnit(key, title, urls, "skipped"))
            else:
                registered.update(urls)
                unit = StubUnit(key, title, urls, "registered")
                units.append(unit)
                self._items[unit.item_uuid] = StubItem(unit.item_uuid, target, key, title, urls)
                if api == "dataset":
                    # A legacy dataset's upload makes data rows backed by the new items.
                    self._links.setdefault(target, []).append(unit.item_uuid)
        job = StubJob(
            id=str(uuid.uuid4()),
            api=api,
            target=target,
            integration_id=integration_id,
            ignore_errors=ignore_errors,
            manifest=manifest,
            file_name=file_name,
            units=units,
            key_id=key_id,
            polls_until_done=self.polls_until_done,
            folder_uuid=folder_uuid,
        )
        self._jobs[job.id] = job
        return job

    def _failure_for(self, urls: tuple[str, ...]) -> str | None:
        for url in urls:
            if not any(form.match(url) for form in _URL_FORMS):
                return (
                    f"Unsupported URL {url!r}: expected gs:// or https://storage.cloud.google.com/"
                )
            for pattern, error in self._fail_rules:
                if pattern.search(url):
                    return error
        return None

    def _find_job(self, target: str, job_id: str) -> StubJob:
        job = self._jobs.get(job_id)
        if job is None or job.target != target:
            raise _ApiError(
                HTTPStatus.NOT_FOUND, f"Upload job {job_id} not found", "RESOURCE_NOT_FOUND_ERROR"
            )
        return job

    def _poll(self, target: str, job_id: str, timeout_seconds: int) -> StubJob:
        job = self._find_job(target, job_id)
        job.polls += 1
        job.poll_timeouts.append(timeout_seconds)
        return job

    def _cancel(self, target: str, job_id: str) -> int:
        job = self._find_job(target, job_id)
        if job.status != "PENDING":
            return 0
        job.cancelled = True
        registered = self._registered.setdefault(target, Counter())
        cancelled = 0
        for unit in job.units:
            if unit.outcome == "registered":
                registered.subtract(unit.urls)
                self._forget_item(unit.item_uuid)
            if unit.outcome in ("registered", "skipped"):
                unit.outcome = "cancelled"
                cancelled += 1
        self._registered[target] = +registered
        return cancelled

    def _forget_item(self, item_uuid: str) -> None:
        self._items.pop(item_uuid, None)
        for linked in self._links.values():
            while item_uuid in linked:
                linked.remove(item_uuid)

    def _live_item(self, item_uuid: Any) -> StubItem:
        item = self._items.get(self._target_key(str(item_uuid)))
        if item is None:
            # Encord answers an unknown item and one the key may not see alike.
            raise _ApiError(
                HTTPStatus.FORBIDDEN,
                f"Item {item_uuid} does not exist or you do not have access to it",
                "AUTHORISATION_ERROR",
            )
        return item

    def _delete_items(self, folder: str, item_uuids: list[Any], remove_unused_frames: bool) -> int:
        items = [self._live_item(u) for u in item_uuids]
        strangers = [i.uuid for i in items if i.folder != folder]
        if strangers:
            raise _ApiError(
                HTTPStatus.BAD_REQUEST,
                f"Items {strangers} are not children of folder {folder}",
                "INVALID_ARGUMENTS_ERROR",
            )
        self._deletions.append(
            StubDeletion(folder, tuple(i.uuid for i in items), remove_unused_frames)
        )
        registered = self._registered.setdefault(folder, Counter())
        for item in items:
            if not item.is_group or remove_unused_frames:
                registered.subtract(item.urls)
            self._forget_item(item.uuid)
        self._registered[folder] = +registered
        return len(items)

    def _update_item(self, folder: str, item_uuid: str, patch: dict[str, Any]) -> StubItem:
        item = self._live_item(item_uuid)
        if item.folder != folder:
            raise _ApiError(HTTPStatus.NOT_FOUND, f"Item {item_uuid} is not in folder {folder}", "")
        if patch.get("name") is not None:
            item.name = str(patch["name"])
        if patch.get("description") is not None:
            item.description = str(patch["description"])
        if patch.get("clientMetadata") is not None:
            item.client_metadata = dict(patch["clientMetadata"])
        return item

    def _link_items(self, dataset: str, item_uuids: list[Any], behaviour: str) -> list[StubItem]:
        """Link items to a dataset; returns the items that got a new data row."""
        items = [self._live_item(u) for u in item_uuids]
        linked = self._links.setdefault(dataset, [])
        if behaviour == "FAIL" and any(i.uuid in linked for i in items):
            raise _ApiError(
                HTTPStatus.CONFLICT, "Some items are already linked", "INVALID_ARGUMENTS_ERROR"
            )
        if behaviour not in ("SKIP", "DUPLICATE", "FAIL"):
            raise _ApiError(
                HTTPStatus.BAD_REQUEST,
                f"Unknown duplicates_behavior {behaviour!r}",
                "INVALID_ARGUMENTS_ERROR",
            )
        added: list[StubItem] = []
        for item in items:
            if behaviour == "SKIP" and (item.uuid in linked or item in added):
                continue
            linked.append(item.uuid)
            added.append(item)
        return added


def _parse_manifest(manifest: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(data key, title, urls) per unit; a 400 for anything Encord's format does not allow."""
    unknown = set(manifest) - set(SINGLE_KEYS) - set(GROUP_KEYS) - set(FLAG_KEYS)
    if unknown:
        raise _ManifestError(f"Unknown keys in the upload file: {sorted(unknown)}")
    units: list[tuple[str, str, tuple[str, ...]]] = []
    urls: tuple[Any, ...]
    for key in (*SINGLE_KEYS, *GROUP_KEYS):
        entries = manifest.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise _ManifestError(f"{key!r} must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _ManifestError(f"{key}[{index}] must be an object")
            if key in GROUP_KEYS:
                numbered = sorted(
                    (int(m.group(1)), value)
                    for name, value in entry.items()
                    if (m := _OBJECT_URL_N.match(name))
                )
                if not numbered or [n for n, _ in numbered] != list(range(len(numbered))):
                    raise _ManifestError(f"{key}[{index}]: objectUrl_N must run 0, 1, 2, ...")
                urls = tuple(value for _, value in numbered)
                if not isinstance(entry.get("title"), str):
                    raise _ManifestError(f"{key}[{index}]: a group needs a title")
            else:
                urls = (entry.get("objectUrl"),)
            for url in urls:
                if not isinstance(url, str) or not url:
                    raise _ManifestError(f"{key}[{index}]: missing objectUrl")
                if len(url.encode()) > MAX_URL_BYTES:
                    raise _ManifestError(f"{key}[{index}]: URL longer than 16 KB")
            title = entry.get("title") or unquote(PurePosixPath(urlsplit(urls[0]).path).name)
            units.append((key, str(title), urls))
    if not units:
        raise _ManifestError("The upload file holds no items")
    if len(units) > MAX_ITEMS:
        raise _ManifestError(f"The upload file holds {len(units)} items, over {MAX_ITEMS}")
    return units


# ---------------------------------------------------------------- signatures


def _verify_v2(stub: EncordStub, method: str, target: str, headers: Any, body: bytes) -> str:
    """Check Content-Digest and the RFC 9421 Ed25519 signature; returns the key id."""
    digest = headers.get("Content-Digest")
    sig_input = headers.get("Signature-Input")
    signature = headers.get("Signature")
    if headers.get("Authorization", "").startswith("Bearer "):
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Bearer tokens are not accepted by the stub", "")
    if not digest or not sig_input or not signature:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Missing request signature", "")
    expected = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    if digest != expected:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Content-Digest does not match the body", "")
    m_input = _SIGNATURE_INPUT.match(sig_input)
    m_sig = _SIGNATURE.match(signature)
    if not m_input or not m_sig or m_input["label"] != m_sig["label"]:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Malformed Signature-Input or Signature", "")
    components = m_input["components"].split()
    if set(components) != {'"@method"', '"@request-target"', '"content-digest"'}:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, f"Signature covers {components}", "")
    params = {
        m[0]: (m[2] if m[2] or m[1].startswith('"') else m[3])
        for m in _SIG_PARAM.findall(m_input["params"])
    }
    if params.get("alg") != "ed25519" or "keyid" not in params or "created" not in params:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Signature parameters incomplete", "")
    if abs(time.time() - int(params["created"])) > MAX_CLOCK_SKEW_SECONDS:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Signature expired or from the future", "")
    values = {'"@method"': method.upper(), '"@request-target"': target, '"content-digest"': digest}
    lines = [f"{c}: {values[c]}" for c in components]
    lines.append(f'"@signature-params": {m_input["params"]}')
    key_id = str(params["keyid"])
    _verify_ed25519(key_id, base64.b64decode(m_sig["value"]), "\n".join(lines).encode())
    with stub._lock:
        stub._check_key(key_id)
    return key_id


def _verify_v1(stub: EncordStub, headers: Any, body: bytes) -> str:
    auth = str(headers.get("Authorization", ""))
    key_id, _, sig_hex = auth.partition(":")
    if not key_id or not sig_hex:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Missing Authorization", "AUTHENTICATION_ERROR")
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError as e:
        raise _ApiError(
            HTTPStatus.UNAUTHORIZED, "Malformed signature", "AUTHENTICATION_ERROR"
        ) from e
    _verify_ed25519(key_id, sig, hashlib.sha256(body).digest())
    with stub._lock:
        stub._check_key(key_id)
    return key_id


def _verify_ed25519(key_id: str, signature: bytes, message: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_id)).verify(signature, message)
    except (ValueError, InvalidSignature) as e:
        raise _ApiError(HTTPStatus.UNAUTHORIZED, "Invalid signature", "AUTHENTICATION_ERROR") from e


# ---------------------------------------------------------------- wire format


def _v2_state(job: StubJob) -> dict[str, Any]:
    counts = job.counts()
    finished = job.status != "PENDING"
    return {
        "status": job.status,
        "itemsWithNames": [
            {"itemUuid": u.item_uuid, "name": u.title}
            for u in job.units
            if finished and u.outcome == "registered"
        ],
        "errors": [u.error for u in job.unit_errors] if finished else [],
        "unitErrors": [
            {
                "objectUrls": list(u.urls),
                "error": u.error,
                "subtaskUuid": u.subtask_uuid,
                "actionDescription": f"Registering {u.key} item {u.title!r}",
            }
            for u in job.unit_errors
        ]
        if finished
        else [],
        "unitsPendingCount": counts["pending"],
        "unitsDoneCount": counts["done"],
        "unitsErrorCount": counts["error"],
        "unitsCancelledCount": counts["cancelled"],
        "fileName": job.file_name,
    }


_ITEM_TYPES = {
    "images": "image",
    "videos": "video",
    "audio": "audio",
    "pdfs": "pdf",
    "text": "plainText",
    "nifti": "nifti",
    "image_groups": "imageGroup",
    "dicom_series": "dicomSeries",
}
_DATA_TYPES = {
    "images": "IMAGE",
    "videos": "VIDEO",
    "audio": "AUDIO",
    "pdfs": "PDF",
    "text": "PLAIN_TEXT",
    "nifti": "NIFTI",
    "image_groups": "IMG_GROUP",
    "dicom_series": "DICOM",
}


def _v2_item(item: StubItem) -> dict[str, Any]:
    """A storage item as `GET storage/items/{uuid}` answers it (orm.storage.StorageItem)."""
    return {
        "uuid": item.uuid,
        "parent": item.folder if _is_uuid(item.folder) else str(uuid.UUID(int=0)),
        "itemType": _ITEM_TYPES[item.key],
        "name": item.name,
        "description": item.description,
        "clientMetadata": json.dumps(item.client_metadata),
        "owner": "stub@example.com",
        "createdAt": item.created_at,
        "lastEditedAt": _timestamp(),
        "isTombstone": False,
        "isPlaceholder": False,
        "backedDataUnitsCount": 0,
        "storageLocation": "gcp",
        "integrationHash": None,
        # A group or series is one item over many files: it has no URL of its own.
        "url": None if item.is_group else item.urls[0],
        "signedUrl": None,
        "fileSize": None,
        "mimeType": None,
        "duration": None,
        "fps": None,
        "height": None,
        "width": None,
        "dicomInstanceUid": None,
        "dicomStudyUid": None,
        "dicomSeriesUid": None,
        "frameCount": len(item.urls) if item.is_group else None,
        "audioSampleRate": None,
        "audioBitDepth": None,
        "audioCodec": None,
        "audioNumChannels": None,
    }


def _v1_data_row(item: StubItem) -> dict[str, Any]:
    """A dataset data row backed by a storage item (orm.dataset.DataRow.from_dict)."""
    return {
        "data_hash": str(uuid.uuid5(uuid.NAMESPACE_URL, item.uuid)),
        "data_title": item.name,
        "data_type": _DATA_TYPES[item.key],
        "created_at": item.created_at,
        "last_edited_at": _timestamp(),
        "client_metadata": item.client_metadata,
        "width": None,
        "height": None,
        "file_link": None if item.is_group else item.urls[0],
        "file_size": None,
        "file_type": None,
        "storage_location": 2,  # StorageLocation.GCP
        "frames_per_second": None,
        "duration": None,
        "signed_url": None,
        "is_optimised_image_group": None,
        "backing_item_uuid": item.uuid,
        "images_data": None,
    }


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _v1_state(job: StubJob) -> dict[str, Any]:
    counts = job.counts()
    finished = job.status != "PENDING"
    return {
        "status": job.status,
        "data_hashes_with_titles": [
            {"data_hash": u.item_uuid, "title": u.title, "backing_item_uuid": u.item_uuid}
            for u in job.units
            if finished and u.outcome == "registered"
        ],
        "errors": [u.error for u in job.unit_errors] if finished else [],
        "data_unit_errors": [
            {
                "object_urls": list(u.urls),
                "error": u.error,
                "subtask_uuid": u.subtask_uuid,
                "action_description": f"Registering {u.key} item {u.title!r}",
            }
            for u in job.unit_errors
        ]
        if finished
        else [],
        "units_pending_count": counts["pending"],
        "units_done_count": counts["done"],
        "units_error_count": counts["error"],
        "units_cancelled_count": counts["cancelled"],
    }


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EncordStub/0.1"

    @property
    def stub(self) -> EncordStub:
        return self.server.stub  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # -- plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        try:
            self.send_response(status)
            content_type = "text/plain" if raw is not None else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        body = self._read_body()
        if split.path.startswith("/_stub/"):
            self._stub_view(split.path)
        elif self.stub._hang():
            self._drop()
        elif split.path.startswith("/v2/public/"):
            self._v2(split.path, parse_qs(split.query), body)
        elif split.path in ("/public", "/public/user"):
            self._v1(body)
        else:
            self._send(HTTPStatus.NOT_FOUND, {"message": f"No route {self.command} {split.path}"})

    def _operation_v2(self, path: str) -> Operation | None:
        if self.command == "POST" and _V2_JOBS.match(path):
            return "start"
        if self.command == "GET" and _V2_JOB.match(path):
            return "poll"
        return None

    def _before(self, on: Operation | None) -> _Fault | None:
        """Answer a 429/503 fault here (raising _FaultAnswerError); return any other fault."""
        if on is None:
            return None
        fault = self.stub._take_fault(on)
        if fault is None or fault.kind == "accept_then_timeout":
            return fault
        if fault.kind == "rate_limit":
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            self._send(HTTPStatus.TOO_MANY_REQUESTS, None, headers=headers, raw=b"Rate limited")
        else:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, None, raw=b"Service Unavailable")
        raise _FaultAnswerError(fault.kind)

    def _after(self, fault: _Fault | None, status: int, body: Any) -> None:
        if fault is not None and fault.kind == "accept_then_timeout":
            if fault.mode == "drop":
                self._drop()
                return
            self.stub._stopping.wait(fault.delay_seconds)
        self._send(status, body)

    # -- v2

    def _v2(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        on = self._operation_v2(path)
        key_id: str | None = None
        fault: _Fault | None = None
        try:
            key_id = _verify_v2(self.stub, self.command, self.path, self.headers, body)
            fault = self._before(on)
            if len(body) > self.stub.max_body_bytes:
                raise _ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large", "")
            status, answer, job = self._v2_route(path, query, body, key_id)
        except _FaultAnswerError as answered:
            self._log("v2", key_id, answered.status)
            return
        except _ApiError as refusal:
            self._log("v2", key_id, refusal.status)
            self._send(refusal.status, {"message": refusal.message})
            return
        if job is not None and fault is not None and fault.kind == "accept_then_timeout":
            with self.stub._lock:
                job.answered = on != "start"
        self._log("v2", key_id, status)
        self._after(fault, status, answer)

    def _v2_route(
        self, path: str, query: dict[str, list[str]], body: bytes, key_id: str
    ) -> tuple[int, Any, StubJob | None]:
        stub = self.stub
        with stub._lock:
            if self.command == "GET" and path == "/v2/public/cloud-integrations":
                titles = query.get("filterIntegrationTitles")
                uuids = {str(uuid.UUID(u)) for u in query.get("filterIntegrationUuids", [])}
                result = [
                    {"integrationUuid": i, "title": t}
                    for i, t in stub._integrations.items()
                    if (titles is None or t in titles) and (not uuids or i in uuids)
                ]
                return HTTPStatus.OK, {"result": result}, None
            if self.command == "GET" and (m := _V2_FOLDER.match(path)):
                folder = stub._folder(m["folder"])
                now = _timestamp()
                return (
                    HTTPStatus.OK,
                    {
                        "uuid": folder,
                        "parent": None,
                        "name": stub._folders[folder],
                        "description": "",
                        "clientMetadata": None,
                        "owner": "stub@example.com",
                        "createdAt": now,
                        "lastEditedAt": now,
                        "userRole": "admin",
                        "syncedDatasetHash": None,
                        "pathToRoot": [],
                        "folderType": "generic",
                    },
                    None,
                )
            if self.command == "POST" and (m := _V2_JOBS.match(path)):
                folder = stub._folder(m["folder"])
                payload = _json(body)
                if payload.get("dataItems") is not None:
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "The stub takes externalFiles only", "")
                job = stub._create_job(
                    api="folder",
                    target=folder,
                    integration_id=stub._integration(payload.get("integrationHash")),
                    ignore_errors=bool(payload.get("ignoreErrors", False)),
                    manifest=payload.get("externalFiles"),
                    file_name=payload.get("fileName"),
                    key_id=key_id,
                )
                return HTTPStatus.OK, job.id, job
            if self.command == "GET" and (m := _V2_JOB.match(path)):
                folder = stub._folder(m["folder"])
                timeout = int((query.get("timeoutSeconds") or ["60"])[0])
                job = stub._poll(folder, m["job"], timeout)
                return HTTPStatus.OK, _v2_state(job), job
            if self.command == "POST" and (m := _V2_CANCEL.match(path)):
                folder = stub._folder(m["folder"])
                return HTTPStatus.OK, {"unitsCancelledCount": stub._cancel(folder, m["job"])}, None
            if self.command == "POST" and (m := _V2_DELETE_ITEMS.match(path)):
                folder = stub._folder(m["folder"])
                payload = _json(body)
                children = payload.get("childUuids")
                frames = payload.get("removeUnusedFrames")
                if not isinstance(children, list) or not isinstance(frames, bool):
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "childUuids and removeUnusedFrames", "")
                deleted = stub._delete_items(folder, children, frames)
                return HTTPStatus.OK, {"deletedCount": deleted}, None
            if self.command == "PATCH" and (m := _V2_FOLDER_ITEM.match(path)):
                folder = stub._folder(m["folder"])
                item = stub._update_item(folder, m["item"], _json(body))
                return HTTPStatus.OK, _v2_item(item), None
            if self.command == "GET" and (m := _V2_ITEM.match(path)):
                return HTTPStatus.OK, _v2_item(stub._live_item(m["item"])), None
            if self.command == "POST" and path == _V2_ITEMS_BULK:
                wanted = _json(body).get("itemUuids")
                if not isinstance(wanted, list):
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "itemUuids must be a list", "")
                results = [_v2_item(stub._live_item(u)) for u in wanted]
                return HTTPStatus.OK, {"results": results}, None
        raise _ApiError(HTTPStatus.NOT_FOUND, f"No route {self.command} {path}", "")

    # -- v1

    def _v1(self, body: bytes) -> None:
        key_id: str | None = None
        query_type: str | None = None
        fault: _Fault | None = None
        try:
            request = _json(body)
            query_type = request.get("query_type")
            method = request.get("query_method")
            on: Operation | None = None
            if query_type == "datasetdatalongpolling":
                on = "start" if method == "POST" else "poll" if method == "GET" else None
            elif query_type == "datasetlinkitems":
                on = "link"
            key_id = _verify_v1(self.stub, self.headers, body)
            fault = self._before(on)
            if len(body) > self.stub.max_body_bytes:
                self._log("v1", key_id, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, query_type)
                too_large = {"message": "Request body too large"}
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
                return
            answer, job = self._v1_route(request, key_id)
        except _FaultAnswerError as answered:
            self._log("v1", key_id, answered.status, query_type)
            return
        except _ApiError as refusal:
            self._log("v1", key_id, refusal.status, query_type)
            code = refusal.v1_code or "INVALID_ARGUMENTS_ERROR"
            envelope = {
                "status": int(refusal.status),
                "response": [code],
                "payload": refusal.message,
            }
            self._send(HTTPStatus.OK, envelope)
            return
        if job is not None and fault is not None and fault.kind == "accept_then_timeout":
            with self.stub._lock:
                job.answered = on != "start"
        self._log("v1", key_id, HTTPStatus.OK, query_type)
        self._after(fault, HTTPStatus.OK, {"status": 200, "response": answer})

    def _v1_route(self, request: dict[str, Any], key_id: str) -> tuple[Any, StubJob | None]:
        stub = self.stub
        query_type = request.get("query_type")
        method = request.get("query_method")
        values = request.get("values") or {}
        payload = values.get("payload") or {}
        resource_id = self.headers.get("ResourceID", "")
        with stub._lock:
            if query_type == "dataset" and method == "GET":
                dataset = stub._dataset(resource_id)
                return (
                    {
                        "dataset_hash": dataset,
                        "title": stub._datasets[dataset],
                        "description": "",
                        "dataset_type": "GCP_STR",
                        "backing_folder_uuid": None,
                        "data_rows": [],
                    },
                    None,
                )
            if query_type == "datasetdatalongpolling" and method == "POST":
                dataset = stub._dataset(resource_id)
                if payload.get("dataItems") is not None:
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "The stub only takes files", "")
                job = stub._create_job(
                    api="dataset",
                    target=dataset,
                    integration_id=stub._integration(payload.get("integrationId")),
                    ignore_errors=bool(payload.get("ignoreErrors", False)),
                    manifest=payload.get("files"),
                    file_name=payload.get("fileName"),
                    key_id=key_id,
                    folder_uuid=payload.get("folderUuid"),
                )
                return {"process_hash": job.id}, job
            if query_type == "datasetdatalongpolling" and method == "GET":
                dataset = stub._dataset(resource_id)
                job_id = str(payload.get("process_hash"))
                job = stub._poll(dataset, job_id, int(payload.get("timeout_seconds", 0)))
                return _v1_state(job), job
            if query_type == "datasetlinkitems" and method == "POST":
                dataset = stub._dataset(resource_id)
                uuids = payload.get("item_uuids")
                if not isinstance(uuids, list):
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "item_uuids must be a list", "")
                behaviour = str(payload.get("duplicates_behavior", "SKIP"))
                added = stub._link_items(dataset, uuids, behaviour)
                return [_v1_data_row(item) for item in added], None
        raise _ApiError(
            HTTPStatus.BAD_REQUEST,
            f"The stub does not implement {method} {query_type}",
            "INVALID_ARGUMENTS_ERROR",
        )

    # -- read-only view for the standalone process

    def _stub_view(self, path: str) -> None:
        stub = self.stub
        if path == "/_stub/jobs":
            self._send(HTTPStatus.OK, [j.summary() for j in stub.jobs()])
        elif path.startswith("/_stub/registered/"):
            self._send(HTTPStatus.OK, dict(stub.registered_urls(path.rsplit("/", 1)[1])))
        elif path.startswith("/_stub/items/"):
            items = stub.items(path.rsplit("/", 1)[1])
            self._send(
                HTTPStatus.OK, [{"uuid": i.uuid, "name": i.name, "urls": i.urls} for i in items]
            )
        elif path.startswith("/_stub/links/"):
            self._send(HTTPStatus.OK, stub.linked_items(path.rsplit("/", 1)[1]))
        else:
            self._send(HTTPStatus.NOT_FOUND, {"message": "unknown stub view"})

    def _log(
        self, api: Literal["v1", "v2"], key_id: str | None, status: int, qt: str | None = None
    ) -> None:
        path = urlsplit(self.path).path
        self.stub._log(StubRequest(self.command, path, api, key_id, int(status), qt))


class _FaultAnswerError(Exception):
    """A fault already answered the request."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        rate_limited = kind == "rate_limit"
        self.status = 429 if rate_limited else 503


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as e:
        raise _ApiError(HTTPStatus.BAD_REQUEST, "Body is not JSON", "") from e
    if not isinstance(value, dict):
        raise _ApiError(HTTPStatus.BAD_REQUEST, "Body is not a JSON object", "")
    return value


# ---------------------------------------------------------------- standalone process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="accepted Ed25519 public key: raw hex or an 'ssh-ed25519 AAAA...' line (repeatable)",
    )
    parser.add_argument("--integration", action="append", default=[], help="TITLE or TITLE=UUID")
    parser.add_argument("--folder", action="append", default=[], help="a storage folder UUID")
    parser.add_argument("--dataset", action="append", default=[], help="a legacy dataset hash")
    parser.add_argument("--auto-create", action="store_true", help="accept any folder/dataset id")
    parser.add_argument("--polls-until-done", type=int, default=1)
    args = parser.parse_args(argv)

    stub = EncordStub(
        args.public_key,
        polls_until_done=args.polls_until_done,
        auto_create_targets=args.auto_create,
        host=args.host,
        port=args.port,
    )
    for spec in args.integration:
        title, _, integration_id = spec.partition("=")
        print(f"integration {title!r}: {stub.add_integration(title, integration_id or None)}")
    for folder in args.folder:
        stub.add_folder(folder)
    for dataset in args.dataset:
        stub.add_dataset(dataset)

    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with stub:
        print(stub.url, flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
