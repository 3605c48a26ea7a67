"""Package the function source: exactly what Cloud Functions builds, nothing else.

    python3 deploy/package.py build/function-source.zip   # a zip, for Terraform
    python3 deploy/package.py build/function-source       # a folder, for gcloud --source

The upload holds main.py, requirements.txt and the registration/ package. Tests, the local
stack, benchmarks, dev requirements, caches and hidden files stay behind. The zip is
reproducible (sorted entries, fixed timestamps and modes): the same source gives the same
bytes, so Terraform, which names the uploaded object after its hash, redeploys only when the
code really changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the deployed function needs, relative to the repository root.
TOP_LEVEL_FILES = ("main.py", "requirements.txt")
PACKAGES = ("registration",)

# Never shipped, wherever they appear inside a package.
EXCLUDED_DIRECTORIES = frozenset({"__pycache__", "tests", "test"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp", "~")

# 1980-01-01, the earliest date a zip can hold: fixed so the archive bytes are reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _shipped(relative: Path) -> bool:
    if any(part.startswith(".") for part in relative.parts):
        return False  # .DS_Store, .mypy_cache, editor state
    if any(part in EXCLUDED_DIRECTORIES for part in relative.parts[:-1]):
        return False
    name = relative.name
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return False
    return not name.endswith(EXCLUDED_SUFFIXES)


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files to upload, relative to root, sorted. Fails if a required one is missing."""
    files: list[Path] = []
    for name in TOP_LEVEL_FILES:
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name} is missing: the function cannot be built")
        files.append(Path(name))
    for package in PACKAGES:
        if not (root / package / "__init__.py").is_file():
            raise FileNotFoundError(f"{root / package} is not a Python package")
        files.extend(_walk(root, root / package))
    return sorted(files)


def _walk(root: Path, directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and _shipped(relative):
            yield relative


def write_zip(destination: Path, root: Path = REPO_ROOT) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in source_files(root):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / relative).read_bytes())
    return destination


def write_directory(destination: Path, root: Path = REPO_ROOT) -> Path:
    # Start clean: a file deleted from the source must not linger in the upload.
    if destination.exists():
        shutil.rmtree(destination)
    for relative in source_files(root):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, target)
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="a path ending in .zip, or a folder")
    args = parser.parse_args(argv)
    output: Path = args.output
    if output.suffix == ".zip":
        write_zip(output)
    else:
        write_directory(output)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
