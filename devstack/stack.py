"""The local stack: Firestore emulator, gcp-storage-emulator and functions-framework servers.

Shared by the tests, `make demo` and `make bench`. Everything binds to 127.0.0.1 on free
ports and is stopped by the context manager that started it. A part that cannot start
raises StackError saying which and why (the tests then fail; they never skip).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
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


def _wait_until_up(process: Process, probe_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise StackError(
                f"{process.name} exited with code {process.popen.returncode} before it was "
                f"ready. Log:\n{process.log_tail()}"
            )
        try:
            requests.get(probe_url, timeout=1)
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
    _wait_until_up(process, url, timeout=60)
    return process


@dataclass
class Stack:
    firestore: Process
    storage: Process
    log_dir: Path
    functions: dict[str, Process] = field(default_factory=dict)

    @property
    def firestore_host(self) -> str:
        return self.firestore.url.removeprefix("http://")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a function instance gets: emulators plus REGISTRATION_* values."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRATION_")}
        env.update(
            {
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "FIRESTORE_EMULATOR_HOST": self.firestore_host,
                "STORAGE_EMULATOR_HOST": self.storage.url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra or {})
        return env

    def apply_to_this_process(self) -> None:
        os.environ.update(
            {
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "FIRESTORE_EMULATOR_HOST": self.firestore_host,
                "STORAGE_EMULATOR_HOST": self.storage.url,
            }
        )

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
        self.firestore.stop()


@contextlib.contextmanager
def local_stack(log_dir: Path | None = None) -> Iterator[Stack]:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="registration-stack-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    firestore = start_firestore(log_dir)
    try:
        storage = start_storage(log_dir)
    except BaseException:
        firestore.stop()
        raise
    stack = Stack(firestore, storage, log_dir)
    try:
        yield stack
    finally:
        stack.stop()
