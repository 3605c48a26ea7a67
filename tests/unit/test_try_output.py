"""What `make try` prints (devstack/try_drop.py): one row per manifest, rows only for files
rejected or pending unless every file is asked for, and no cell folded onto a second line."""

from __future__ import annotations

import io

from rich.console import Console

from devstack.try_drop import ManifestSummary, Verdict, manifest_summaries, print_verdicts

LONG = "site-a/" + "very-long-folder-name/" * 6 + "cam 1"
MANIFEST = f"gs://b/encord-manifests/{LONG}/images/000001-20261205T071500Z-1a2b3c4d.json"


def results(count: int = 500) -> list[Verdict]:
    found = [
        Verdict(f"{LONG}/frame_{i:04d}.jpg", "registered", MANIFEST, "images") for i in range(count)
    ]
    found.append(Verdict(f"{LONG}/model.onnx", "rejected", reason="unknown_type"))
    found.append(Verdict(f"{LONG}/late.jpg", "pending"))
    return found


def printed(every_file: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=80, highlight=False, color_system=None)
    print_verdicts(console, results(), bucket="b", every_file=every_file)
    return out.getvalue()


def test_a_manifest_is_one_row_with_its_folder_type_name_and_count() -> None:
    [summary] = manifest_summaries(results())
    assert summary == ManifestSummary(MANIFEST, "images", 500)
    assert summary.parts("b", "encord-manifests/") == (
        LONG,
        "000001-20261205T071500Z-1a2b3c4d.json",
    )


def test_only_rejected_and_pending_files_get_rows_and_no_line_is_wider_than_80() -> None:
    text = printed(every_file=False)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "frame_0000" not in text and "model.onnx" in text and "late.jpg" in text
    assert "1 pending, 500 registered, 1 rejected" in text
    assert len(lines) < 30  # a drop of 500 files is a screenful, not 1,500 lines


def test_every_file_gets_a_row_when_asked_still_one_line_each() -> None:
    text = printed(every_file=True)
    assert "Every file" in text
    rows = [line for line in text.splitlines() if "frame_" in line]
    assert len(rows) == 500
    assert max(len(line) for line in text.splitlines()) <= 80
