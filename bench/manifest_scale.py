"""How long and how much memory a 500,000-item images manifest takes to build and serialise.

Target (issue): at most 2 s and 512 MB peak on the 2-core machine.

    .venv/bin/python -m bench.manifest_scale            # 500,000 items, 3 runs
    .venv/bin/python -m bench.manifest_scale 100000     # another size

Method. Each run is a fresh subprocess, so one run's freed-but-kept heap cannot hide the
next run's peak. The subprocess imports the module and generates the StorageObjects first;
those are the caller's data (read back from Firestore in production), not the cost of the
manifest. Then it reads resource.getrusage(RUSAGE_SELF).ru_maxrss, runs build_manifest and
render_json under time.perf_counter, and reads ru_maxrss again. The peak reported is the
rise of the process's resident-set high-water mark over that baseline: everything the
build and the serialisation allocated at their worst moment, including the JSON bytes, as
the kernel saw it (not just Python allocations, as tracemalloc would). Both figures are the
median of 3 runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3
BUCKET = "bench-bucket"


def make_objects(items: int) -> list[Any]:
    """StorageObjects named the way camera uploads are: site-a/cam 1/frame_000123.jpg."""
    from registration.domain.model import StorageObject

    objects = []
    for index in range(items):
        site = "abcd"[index % 4]
        camera = 1 + (index // 4) % 8
        metadata = {"camera": f"cam {camera}"} if index % 100 == 0 else {}
        objects.append(
            StorageObject(
                bucket=BUCKET,
                name=f"site-{site}/cam {camera}/frame_{index:06d}.jpg",
                generation=1_700_000_000_000_000 + index,
                size=180_000 + index % 50_000,
                content_type="image/jpeg",
                custom_metadata=metadata,
            )
        )
    return objects


def _child(items: int) -> dict[str, float]:
    """One measured run; meant for a fresh interpreter (see the module docstring)."""
    import resource
    import time

    from registration.domain.model import ManifestKey
    from registration.manifest.build import build_manifest
    from registration.manifest.render import render_json

    objects = make_objects(items)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    manifest = build_manifest(ManifestKey.IMAGES, objects, name="bench")
    data = render_json(manifest)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if len(manifest) != items or not data.endswith(b',"skip_duplicate_urls":true}'):
        raise RuntimeError("the benchmark built the wrong manifest")
    return {
        "seconds": seconds,
        "peak_mb": (peak_kb - baseline_kb) / 1024,
        "inputs_mb": baseline_kb / 1024,
        "json_mb": len(data) / 1024 / 1024,
    }


def run_samples(items: int = 500_000, runs: int = RUNS) -> list[dict[str, float]]:
    samples = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-m", "bench.manifest_scale", "--child", str(items)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return samples


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    return {
        "manifest_500k_seconds": statistics.median(s["seconds"] for s in samples),
        "manifest_500k_peak_mb": statistics.median(s["peak_mb"] for s in samples),
    }


def measure_manifest_500k(items: int = 500_000) -> dict[str, float]:
    """Median seconds and peak MB over 3 fresh-process runs of build_manifest + render_json."""
    return summarise(run_samples(items))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(_child(int(argv[1]))))
        return
    items = int(argv[0]) if argv else 500_000
    samples = run_samples(items)
    for sample in samples:
        print(
            f"run: {sample['seconds']:.3f} s, +{sample['peak_mb']:.1f} MB peak "
            f"(inputs already resident: {sample['inputs_mb']:.1f} MB; "
            f"JSON {sample['json_mb']:.1f} MB)",
            file=sys.stderr,
        )
    print(json.dumps(summarise(samples)))


if __name__ == "__main__":
    main(sys.argv[1:])
