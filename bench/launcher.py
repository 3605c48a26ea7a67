"""Starts a functions-framework server for any source file (devstack/stack.py serves main.py).

Same CLI, same defaults (gunicorn, one worker, 4 threads per core), cwd the repository root;
only --source differs, so the floor and the instrumented wrappers run exactly as main.py does.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from devstack.stack import ROOT, VENV_BIN, Process, StackError, free_port


def serve(
    source: str, target: str, env: Mapping[str, str], log_dir: Path, timeout: float = 60
) -> Process:
    port = free_port()
    argv = [
        str(VENV_BIN / "functions-framework"),
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    name = f"{Path(source).stem}-{target}-{port}"
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            start_new_session=True,
        )
    process = Process(name, popen, log_path, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise StackError(f"{name} exited early. Log:\n{process.log_tail()}")
        try:
            requests.get(process.url, timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    process.stop()
    raise StackError(f"{name} did not start within {timeout:.0f} s. Log:\n{process.log_tail()}")
