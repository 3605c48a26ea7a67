"""`make try` (python -m devstack.try_drop) on a folder of 50 mixed files: one verdict each.

It runs as a person would run it, in its own process with its own local stack, with
--no-serve so it exits after writing its JSON report. If the stack cannot start, the command
exits non-zero and this test FAILS with its output (there is no skip path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.samples import dicom_bytes, jpeg_bytes, mp4_bytes, nifti_bytes, pdf_bytes, png_bytes
from devstack.stack import ROOT

SERIES = "1.2.826.0.1.3680043.8.498.77"


def make_drop(root: Path) -> dict[str, tuple[str, str]]:
    """50 files; name -> expected (verdict, manifest key or rejection reason)."""
    expected: dict[str, tuple[str, str]] = {}

    def put(name: str, data: bytes, verdict: str, what: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = (verdict, what)

    for index in range(30):
        put(f"photos/img_{index:02d}.png", png_bytes(index), "registered", "images")
    for index in range(9):
        put(f"photos/jpeg/shot {index}.jpg", jpeg_bytes(index), "registered", "images")
    put("clips/run.mp4", mp4_bytes(), "registered", "videos")
    for instance in range(1, 6):
        put(
            f"scans/series-1/slice_{instance}.dcm",
            dicom_bytes(SERIES, instance),
            "registered",
            "dicom_series",
        )
    put("scans/brain.nii.gz", nifti_bytes(compressed=True), "registered", "nifti")
    put("docs/report.pdf", pdf_bytes(), "registered", "pdfs")
    put("models/net.onnx", b"\x08\x01onnx", "rejected", "unknown_type")
    put("photos/.thumbs.jpg", jpeg_bytes(99), "rejected", "hidden_file")
    put("models/weights.bin", b"\0" * 16, "rejected", "unknown_type")
    assert len(expected) == 50
    return expected


def run_try(
    drop: Path, logs: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`python -m devstack.try_drop DROP --no-serve ARGS` as a person runs it, in a terminal
    80 columns wide, with only these REGISTRATION_* settings (and no Encord key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRATION_", "ENCORD"))}
    env.update({f"REGISTRATION_{name.upper()}": value for name, value in settings.items()})
    env["COLUMNS"] = "80"
    command = [sys.executable, "-m", "devstack.try_drop", str(drop), "--no-serve", *args]
    return subprocess.run(
        [*command, "--log-dir", str(logs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_try_drop_gives_each_of_50_mixed_files_its_verdict(tmp_path: Path) -> None:
    drop = tmp_path / "my-folder"
    expected = make_drop(drop)
    report_path = tmp_path / "report.json"
    # A full batch of 25 images is written at once; the rest by the sweep after 2 s.
    completed = run_try(
        drop,
        tmp_path / "logs",
        "--bucket",
        "try-test",
        "--report",
        str(report_path),
        batch_images="25",
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    report = json.loads(report_path.read_text())
    files = report["files"]
    assert set(files) == set(expected)
    for name, (verdict, what) in expected.items():
        got = files[name]
        assert got["verdict"] == verdict, (name, got)
        if verdict == "registered":
            assert got["key"] == what, (name, got)
            assert got["manifest"].startswith("gs://try-test/encord-manifests/"), (name, got)
        else:
            assert got["reason"] == what, (name, got)
    # The DICOM series is one unit in one manifest; the PNGs filled one batch of 25 and
    # went on into a second.
    series = {files[f"scans/series-1/slice_{i}.dcm"]["manifest"] for i in range(1, 6)}
    assert len(series) == 1
    photos = {files[f"photos/img_{i:02d}.png"]["manifest"] for i in range(30)}
    assert len(photos) == 2
    # One row per manifest, rows only for the files rejected, none wider than the terminal.
    out = completed.stdout
    assert "Manifests under gs://try-test/encord-manifests/" in out
    assert "Files rejected or still pending" in out
    assert "models/net.onnx" in out and "photos/.thumbs.jpg" in out
    assert "photos/img_00.png" not in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "47 registered, 3 rejected" in out
    assert report["status_url"].startswith("http://127.0.0.1:")


def test_try_drop_with_encord_submits_each_manifest_to_the_local_stub_and_shows_its_end(
    tmp_path: Path,
) -> None:
    drop = tmp_path / "drop"
    (drop / "cam").mkdir(parents=True)
    for index in range(3):
        (drop / "cam" / f"img_{index}.png").write_bytes(png_bytes(index))
    completed = run_try(drop, tmp_path / "logs", "--encord", "--all", "--bucket", "try-encord")
    out = completed.stdout
    assert completed.returncode == 0, (out + completed.stderr)[-4000:]
    assert "Encord: the local stub at http://127.0.0.1:" in out
    jobs = out.split("Encord jobs (local stub)", 1)[1]
    [row] = [line for line in jobs.splitlines() if ".json" in line]
    assert "DONE" in row and row.split("│")[4].strip() == "3"  # its 3 files registered
    assert "Every file" in out and out.count("registered │") == 3
