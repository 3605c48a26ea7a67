"""Profile on_storage_event under the bench load with py-spy (optional; not part of make bench).

    pip install py-spy==0.4.3          # anywhere; it is one binary
    .venv/bin/python -m bench.profile --py-spy "$(command -v py-spy)" [--mode gil|active|wall]

Starts the local stack and main.py's on_storage_event (REGISTRATION_BATCH_IMAGES=100), puts
py-spy on the functions-framework worker, sends the bench load (2,000 events, 8 folders,
16 senders), then prints where the samples fell: per function, inclusive ("total", the
time a call to it was on the stack) and exclusive ("self"). --mode gil (the default)
samples only the thread holding the GIL, i.e. where Python spends CPU; --mode wall samples
every thread, waiting ones included, i.e. where requests spend their time.
The raw collapsed stacks are kept for flame graphs (e.g. speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import launcher, load
from bench.__main__ import SETTINGS, storage_client
from devstack.stack import ROOT, local_stack

LOG_DIR = ROOT / ".cache" / "bench-profile"
_LINE = re.compile(r":\d+\)$")
MODES = {"gil": ["--gil"], "active": [], "wall": ["--idle"]}


def worker_pid(arbiter: int) -> int:
    """functions-framework runs gunicorn: the arbiter forks the one worker that serves."""
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    return int(children[0]) if children else arbiter


def summarise(collapsed: Path, top: int) -> str:
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        # "func (file.py:123)" -> "func (file.py)": a function's lines count as one.
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        for frame in set(frames):
            total[frame] += count
        own[frames[-1]] += count
    if not samples:
        return "no samples"

    def table(counter: Counter[str], title: str) -> list[str]:
        rows = [f"{title} (of {samples} samples):"]
        for frame, count in counter.most_common(top):
            rows.append(f"  {100 * count / samples:5.1f}%  {frame[:150]}")
        return rows

    ours = Counter({f: c for f, c in total.items() if "registration/" in f or "(main.py)" in f})
    return "\n".join(
        table(ours, "Inclusive, registration/ and main.py")
        + table(total, "Inclusive, all")
        + table(own, "Self")
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--py-spy", default="py-spy", help="path of the py-spy binary")
    parser.add_argument(
        "--mode",
        choices=sorted(MODES),
        default="gil",
        help="gil: only the thread holding the GIL (Python CPU time); active: threads not "
        "idle; wall: every thread, waiting ones included",
    )
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--source", default="main.py")
    args = parser.parse_args(argv)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    out = LOG_DIR / f"on_storage_event-{args.mode}.collapsed"
    with local_stack(LOG_DIR) as stack:
        client = storage_client(stack)
        env = stack.env(SETTINGS)
        function = launcher.serve(args.source, "on_storage_event", env, stack.log_dir)
        try:
            client.create_bucket("profile-warmup")
            client.create_bucket("profile")
            load.send(function.url, load.make_events("profile-warmup", 300))
            argv_spy = [args.py_spy, "record", "--pid", str(worker_pid(function.popen.pid))]
            argv_spy += ["--rate", str(args.rate), "--format", "raw", "-o", str(out)]
            argv_spy += ["--nonblocking", *MODES[args.mode]]
            spy = subprocess.Popen(argv_spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.5)  # py-spy attaches
            result = load.send(function.url, load.make_events("profile"))
            spy.send_signal(signal.SIGINT)
            _, err = spy.communicate(timeout=60)
        finally:
            function.stop()
    print(f"load: {result.line()}")
    if not out.exists():
        print(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
        return 1
    print(summarise(out, args.top))
    print(f"collapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
