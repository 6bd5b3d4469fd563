"""Start-up cost of a bundle: `load_bundle` (every file hashed) then the scorer's session, or the whole `Scorer`
up to its first answer (the tokenizer's tables are built on first use in some versions, at load in others).

Run by hand; compares checkouts (e.g. an export of main and this tree) in alternating fresh processes and prints
a Markdown table of medians. The imports are made before the clock starts: only the bundle's own work is timed.

    git archive main | tar -x -C /tmp/main && cp sentiment_batch/_token_ids*.so /tmp/main/sentiment_batch/
    python tests/bench/bench_load.py --checkout main=/tmp/main --checkout branch=. --repeats 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import numpy, onnxruntime, pyarrow, tokenizers  # imported before the clock starts
from sentiment_batch import scorer
from sentiment_batch.bundle import load_bundle

path = sys.argv[1] or None
start = time.perf_counter()
bundle = load_bundle(path)
if sys.argv[2] == "session":
    scorer._session(bundle)
else:
    with scorer.Scorer(bundle, threads=1) as loaded:
        loaded.predict(["a wonderful film"])
seconds = time.perf_counter() - start
peak = int([line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1])
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024}))
"""


def measure(checkout: Path, bundle: str, what: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    command = [sys.executable, "-c", CHILD, bundle, what]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True, cwd="/").stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", action="append", required=True, metavar="NAME=PATH", help="a source tree")
    parser.add_argument("--bundle", default="", help="bundle folder (default: each checkout's shipped bundle)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for what in ("session", "scorer"):
            for name, path in checkouts.items():
                runs.setdefault((name, what), []).append(measure(Path(path), args.bundle, what))
    print(f"\nmedian of {args.repeats} alternating runs, bundle: {args.bundle or 'the shipped one'}\n")
    print("| checkout | timed | seconds (median) | min | max | peak RSS MiB (median) |\n|---|---|---:|---:|---:|---:|")
    labels = {"session": "load_bundle + session", "scorer": "load_bundle + Scorer + first predict"}
    for (name, what), values in runs.items():
        seconds = [value["seconds"] for value in values]
        peak = statistics.median(value["peak_mib"] for value in values)
        print(
            f"| {name} | {labels[what]} | {statistics.median(seconds):.4f} | {min(seconds):.4f} | "
            f"{max(seconds):.4f} | {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
