"""The uploaded source (deploy/package.py): what it holds, and that it runs on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests

from deploy import package
from devstack.stack import Process, Stack, free_port
from tests.deploy.tools import ROOT

VENV_BIN = Path(sys.executable).parent


def build(tmp_path: Path) -> list[str]:
    archive = package.write_zip(tmp_path / "function-source.zip")
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


def unpacked(tmp_path: Path) -> Path:
    archive = package.write_zip(tmp_path / "function-source.zip")
    target = tmp_path / "workspace"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)
    return target


def isolated_env(base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment without anything that could lead Python to the repository's code."""
    return {
        key: value
        for key, value in base.items()
        if not key.startswith("REGISTRATION_") and key not in {"PYTHONPATH", "PYTHONHOME"}
    }


def test_package_holds_main_requirements_and_the_registration_package(tmp_path: Path) -> None:
    names = build(tmp_path)
    assert "main.py" in names
    assert "requirements.txt" in names
    expected_modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "registration").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected_modules <= set(names)
    assert {name.split("/")[0] for name in names} == {"main.py", "requirements.txt", "registration"}


def test_package_leaves_out_tests_caches_and_hidden_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "registration" / "__pycache__").mkdir(parents=True)
    (root / "registration" / "tests").mkdir()
    for name in (
        "main.py",
        "requirements.txt",
        "requirements-dev.txt",
        "registration/__init__.py",
        "registration/core.py",
        "registration/template.html",
        "registration/__pycache__/core.cpython-311.pyc",
        "registration/stale.pyc",
        "registration/.DS_Store",
        "registration/tests/test_core.py",
        "registration/conftest.py",
        "registration/test_inline.py",
    ):
        (root / name).write_text("x = 1\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_all.py").write_text("")

    assert [path.as_posix() for path in package.source_files(root)] == [
        "main.py",
        "registration/__init__.py",
        "registration/core.py",
        "registration/template.html",
        "requirements.txt",
    ]


def test_packaging_fails_when_main_py_is_missing(tmp_path: Path) -> None:
    (tmp_path / "registration").mkdir()
    (tmp_path / "registration" / "__init__.py").write_text("")
    (tmp_path / "requirements.txt").write_text("")
    with pytest.raises(FileNotFoundError, match=r"main\.py"):
        package.source_files(tmp_path)


def test_package_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = package.write_zip(tmp_path / "a.zip").read_bytes()
    time.sleep(1.1)  # zip timestamps have a 2 s resolution; a real one would differ by now
    second = package.write_zip(tmp_path / "b.zip").read_bytes()
    assert first == second


def test_folder_package_matches_the_zip_and_drops_stale_files(tmp_path: Path) -> None:
    folder = tmp_path / "function-source"
    folder.mkdir()
    (folder / "leftover.py").write_text("")
    package.write_directory(folder)
    in_folder = sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    assert in_folder == sorted(build(tmp_path))


def test_cli_writes_the_zip_it_is_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "out" / "function-source.zip"
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "package.py"), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert zipfile.is_zipfile(target)


def test_deployed_requirements_hold_the_runtime_and_no_dev_tools(tmp_path: Path) -> None:
    workspace = unpacked(tmp_path)
    requirements = {
        line.split("==")[0].strip().lower()
        for line in (workspace / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "functions-framework" in requirements
    assert not requirements & {"pytest", "ruff", "mypy", "hypothesis", "gcp-storage-emulator"}
    assert not any(line.startswith("-r") for line in requirements)


def test_packaged_source_imports_on_its_own(tmp_path: Path) -> None:
    workspace = unpacked(tmp_path)
    probe = "import main, registration; print(main.__file__); print(registration.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=workspace,
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for loaded in result.stdout.split():
        assert Path(loaded).resolve().is_relative_to(workspace.resolve()), loaded


@pytest.fixture
def packaged_status(tmp_path: Path, emulators: Stack) -> Iterator[Process]:
    """functions-framework serving `status` from the unpacked package, over the emulators."""
    workspace = unpacked(tmp_path)
    port = free_port()
    log_path = tmp_path / "function.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [
                str(VENV_BIN / "functions-framework"),
                "--target=status",
                "--source=main.py",
                "--host=127.0.0.1",
                f"--port={port}",
            ],
            cwd=workspace,
            env=isolated_env(emulators.env()),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process("packaged-status", popen, log_path, f"http://127.0.0.1:{port}")
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.emulators
def test_packaged_source_serves_status_under_functions_framework(
    packaged_status: Process,
) -> None:
    process = packaged_status
    deadline = time.monotonic() + 60
    while True:
        assert process.popen.poll() is None, f"exited at start-up:\n{process.log_tail()}"
        try:
            response = requests.get(process.url, headers={"Accept": "application/json"}, timeout=30)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"never answered:\n{process.log_tail()}"
            time.sleep(0.2)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)
