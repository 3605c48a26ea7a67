"""The local stack: Firestore and Pub/Sub emulators, gcp-storage-emulator and
functions-framework servers.

Shared by the tests, `make demo` and `make bench`. Everything binds to 127.0.0.1 on free
ports and is stopped by the context manager that started it. A part that cannot start
raises StackError saying which and why (the tests then fail; they never skip).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "local-project"
VENV_BIN = Path(sys.executable).parent


class StackError(RuntimeError):
    """A local emulator or server could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.popen.poll() is None:
            # Each part runs in its own process group: the gcloud wrapper starts a Java
            # child that a plain terminate() would orphan.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)

    def kill(self) -> None:
        """Kill at once, as a crashed instance dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def _spawn(
    name: str, argv: list[str], log_dir: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=ROOT,
            start_new_session=True,
        )
    except FileNotFoundError as error:
        raise StackError(f"{name}: cannot run {argv[0]!r}: {error}") from error
    finally:
        log.close()


def _wait_until_up(process: Process, probe_url: str, timeout: float, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise StackError(
                f"{process.name} exited with code {process.popen.returncode} before it was "
                f"ready. Log:\n{process.log_tail()}"
            )
        try:
            requests.request(method, probe_url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    process.stop()
    raise StackError(
        f"{process.name} did not answer on {probe_url} within {timeout:.0f} s. "
        f"Log:\n{process.log_tail()}"
    )


def start_firestore(log_dir: Path, port: int | None = None) -> Process:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError(
            "Firestore emulator: the 'gcloud' command is not on PATH. Install the Google Cloud "
            "CLI and its cloud-firestore-emulator component (Java 17 is needed too)."
        )
    port = port or free_port()
    argv = [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        "firestore-emulator",
        _spawn("firestore-emulator", argv, log_dir, os.environ),
        log_dir / "firestore-emulator.log",
        url,
    )
    _wait_until_up(process, url, timeout=90)
    return process


def start_pubsub(log_dir: Path, port: int | None = None) -> Process:
    """The official Pub/Sub emulator (Debian package google-cloud-cli-pubsub-emulator)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError(
            "Pub/Sub emulator: the 'gcloud' command is not on PATH. Install the Google Cloud "
            "CLI and its pubsub-emulator component (Java is needed too)."
        )
    port = port or free_port()
    argv = [
        gcloud,
        "beta",
        "emulators",
        "pubsub",
        "start",
        f"--host-port=127.0.0.1:{port}",
        f"--project={PROJECT}",
        "--quiet",
    ]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        "pubsub-emulator",
        _spawn("pubsub-emulator", argv, log_dir, os.environ),
        log_dir / "pubsub-emulator.log",
        url,
    )
    _wait_until_up(process, url, timeout=90)
    return process


def start_storage(log_dir: Path, port: int | None = None) -> Process:
    port = port or free_port()
    executable = VENV_BIN / "gcp-storage-emulator"
    argv = [str(executable), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", "-q"]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        "storage-emulator",
        _spawn("storage-emulator", argv, log_dir, os.environ),
        log_dir / "storage-emulator.log",
        url,
    )
    _wait_until_up(process, url + "/storage/v1/b", timeout=30)
    return process


def start_function(
    target: str,
    env: Mapping[str, str],
    log_dir: Path,
    port: int | None = None,
    source: str = "main.py",
) -> Process:
    """Serve one entry point; source may be a wrapper of main.py (fault injection, bench)."""
    port = port or free_port()
    argv = [
        str(VENV_BIN / "functions-framework"),
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        f"function-{target}",
        _spawn(f"function-{target}", argv, log_dir, env),
        log_dir / f"function-{target}.log",
        url,
    )
    # OPTIONS: any answer proves the server and the function's module are up, and none of
    # the entry points does work for it (a GET of status over a big database could take
    # longer than the probe waits, and a POST would run a sweep).
    _wait_until_up(process, url, timeout=60, method="OPTIONS")
    return process


# -- Cloud Storage's own limits, which gcp-storage-emulator does not enforce ---------------

MAX_OBJECT_NAME_BYTES = 1024
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_PEEK_BYTES = 64 * 1024
_COPY_BYTES = 256 * 1024
# Destination names in copy, rewrite and compose paths of the JSON API.
_DESTINATION = re.compile(
    r"^/storage/v1/b/[^/]+/o/(?:[^/]+/(?:rewriteTo|copyTo)/b/[^/]+/o/)?(?P<name>[^/?]+)"
    r"(?:/compose)?$"
)


def object_name_problem(name: str) -> str | None:
    """Why Cloud Storage would refuse this object name, or None."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "The object name is not valid UTF-8."
    if size == 0:
        return "The object name is empty."
    if size > MAX_OBJECT_NAME_BYTES:
        return f"The object name is {size} bytes long; the maximum is {MAX_OBJECT_NAME_BYTES}."
    if "\r" in name or "\n" in name:
        return "The object name contains a carriage return or line feed."
    if name in (".", ".."):
        return "The object name cannot be '.' or '..'."
    return None


def _multipart_name(head: bytes) -> str | None:
    """The 'name' of a multipart upload's first (JSON metadata) part, if it says one."""
    start = head.find(b"{")
    if start < 0:
        return None
    decoder = json.JSONDecoder()
    try:
        metadata, _ = decoder.raw_decode(head[start:].decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


class _GcsLimitsHandler(http.server.BaseHTTPRequestHandler):
    """Forwards to the emulator; refuses writes of names Cloud Storage would refuse."""

    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)
    _local = threading.local()

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _body_chunks(self, length: int, head: bytes) -> Iterator[bytes]:
        if head:
            yield head
        left = length - len(head)
        while left > 0:
            chunk = self.rfile.read(min(_COPY_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        head = b""
        if chunked:
            head = self._read_chunked()
            length = len(head)
        names: list[str] = []
        if self.command == "POST" and url.path.startswith("/upload/storage/v1/b/"):
            names.extend(query.get("name", []))
            upload_type = (query.get("uploadType") or [""])[0]
            if upload_type in ("multipart", "resumable") and not query.get("name"):
                if not chunked:
                    head = self.rfile.read(min(length, _PEEK_BYTES))
                found = _multipart_name(head)
                if found is not None:
                    names.append(found)
        elif self.command == "POST":
            match = _DESTINATION.match(url.path)
            writes = "/rewriteTo/" in url.path or "/copyTo/" in url.path
            if match is not None and (writes or url.path.endswith("/compose")):
                names.append(urllib.parse.unquote(match.group("name"), errors="surrogateescape"))
        for name in names:
            problem = object_name_problem(name)
            if problem is not None:
                for _ in self._body_chunks(length, head):
                    pass  # drain, so the client reads our answer rather than a reset
                self._refuse(problem)
                return
        self._forward(length, head)

    def _refuse(self, problem: str) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": 400,
                    "message": problem,
                    "errors": [{"message": problem, "domain": "global", "reason": "invalid"}],
                }
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None or fresh:
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(*self.upstream, timeout=300)
            self._local.connection = connection
        return connection

    def _forward(self, length: int, head: bytes) -> None:
        headers = {
            key: value for key, value in self.headers.items() if key.lower() not in _HOP_BY_HOP
        }
        headers.pop("Content-Length", None)
        if length or self.command not in ("GET", "HEAD", "DELETE"):
            headers["Content-Length"] = str(length)
        body = self._body_chunks(length, head) if length else None
        connection = self._connection()
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            if body is not None and (head or length):
                raise  # part of the body is gone; the client must retry
            connection = self._connection(fresh=True)
            connection.request(self.command, self.path, body=None, headers=headers)
            response = connection.getresponse()
        known_length = response.getheader("Content-Length")
        payload = None if known_length is not None else response.read()
        self.send_response(response.status, response.reason)
        proxy_base = f"http://{self.headers.get('Host', '')}"
        upstream_base = f"http://{self.upstream[0]}:{self.upstream[1]}"
        for key, value in response.getheaders():
            if key.lower() in _HOP_BY_HOP or key.lower() == "content-length":
                continue
            if key.lower() == "location":
                value = value.replace(upstream_base, proxy_base)
            self.send_header(key, value)
        if payload is None:
            self.send_header("Content-Length", str(known_length))
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload is not None:
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        while chunk := response.read(_COPY_BYTES):
            self.wfile.write(chunk)
        if response.will_close:
            self._connection(fresh=True)


def serve_gcs_limits(port: int, upstream_url: str) -> None:
    """Run the limits proxy in the foreground (the stack runs it as its own process)."""
    upstream = urllib.parse.urlsplit(upstream_url)
    handler = type(
        "Handler",
        (_GcsLimitsHandler,),
        {"upstream": (upstream.hostname or "127.0.0.1", upstream.port or 80)},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.serve_forever()


def start_storage_limits(log_dir: Path, upstream: Process, port: int | None = None) -> Process:
    """A proxy in front of gcp-storage-emulator that refuses what Cloud Storage refuses:
    object names over 1,024 bytes of UTF-8, with CR or LF, or '.' and '..' (400, GCS's
    error shape). Everything else is forwarded, bodies streamed."""
    port = port or free_port()
    argv = [sys.executable, "-m", "devstack.stack", "gcs-limits", str(port), upstream.url]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        "storage-limits",
        _spawn("storage-limits", argv, log_dir, os.environ),
        log_dir / "storage-limits.log",
        url,
    )
    _wait_until_up(process, url + "/storage/v1/b", timeout=30)
    return process


@dataclass
class Stack:
    firestore: Process
    storage: Process
    log_dir: Path
    functions: dict[str, Process] = field(default_factory=dict)
    # The raw gcp-storage-emulator; `storage` is the proxy in front of it that enforces
    # Cloud Storage's name limits (start_storage_limits). None when storage is the emulator.
    storage_emulator: Process | None = None
    # The Pub/Sub emulator that job notifications go to (PUBSUB_EMULATOR_HOST).
    pubsub: Process | None = None

    @property
    def firestore_host(self) -> str:
        return self.firestore.url.removeprefix("http://")

    @property
    def pubsub_host(self) -> str | None:
        return None if self.pubsub is None else self.pubsub.url.removeprefix("http://")

    def _emulator_hosts(self) -> dict[str, str]:
        hosts = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "STORAGE_EMULATOR_HOST": self.storage.url,
        }
        if self.pubsub_host is not None:
            hosts["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        return hosts

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a function instance gets: emulators plus REGISTRATION_* values."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRATION_")}
        env.update(self._emulator_hosts())
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def apply_to_this_process(self) -> None:
        os.environ.update(self._emulator_hosts())

    def serve(self, target: str, extra_env: Mapping[str, str] | None = None) -> Process:
        self.stop_function(target)
        process = start_function(target, self.env(extra_env), self.log_dir)
        self.functions[target] = process
        return process

    def stop_function(self, target: str) -> None:
        process = self.functions.pop(target, None)
        if process is not None:
            process.stop()

    def wipe_firestore(self, patience_seconds: float = 180) -> None:
        url = f"{self.firestore.url}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
        deadline = time.monotonic() + patience_seconds
        while True:
            response = requests.delete(url, timeout=30)
            # 409: transactions of a killed server (the stress suite kills them on purpose)
            # still hold locks; the emulator frees them when they time out.
            if response.status_code != 409 or time.monotonic() > deadline:
                response.raise_for_status()
                return
            time.sleep(1)

    def stop(self) -> None:
        for target in list(self.functions):
            self.stop_function(target)
        self.storage.stop()
        if self.storage_emulator is not None:
            self.storage_emulator.stop()
        if self.pubsub is not None:
            self.pubsub.stop()
        self.firestore.stop()


@contextlib.contextmanager
def local_stack(log_dir: Path | None = None) -> Iterator[Stack]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="registration-stack-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    firestore = start_firestore(log_dir)
    try:
        emulator = start_storage(log_dir)
    except BaseException:
        firestore.stop()
        raise
    try:
        storage = start_storage_limits(log_dir, emulator)
    except BaseException:
        emulator.stop()
        firestore.stop()
        raise
    try:
        pubsub = start_pubsub(log_dir)
    except BaseException:
        storage.stop()
        emulator.stop()
        firestore.stop()
        raise
    stack = Stack(firestore, storage, log_dir, storage_emulator=emulator, pubsub=pubsub)
    try:
        yield stack
    finally:
        stack.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["gcs-limits"]:
        serve_gcs_limits(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit("usage: python -m devstack.stack gcs-limits PORT UPSTREAM_URL")
