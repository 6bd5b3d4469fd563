"""`sentiment-batch score` of two (or more) source trees on the same reviews, in alternating whole-process runs.

Run by hand; prints a Markdown table of medians. Each tree runs through PYTHONPATH with this interpreter's
packages, so a tree needs its compiled `_token_ids` in place (see bench_load.py for main's):

    python tests/bench/bench_checkouts.py --checkout main=/tmp/main --checkout branch=. --rows 250000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import IMDB_TAR, load_reviews, make_parquet  # noqa: E402  (this folder is not a package)


def run(checkout: Path, parquet: Path, output: Path, threads: int, bundle: str | None) -> float:
    """Wall seconds of one `score` process of `checkout` (Python start-up and imports included)."""
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(parquet), "--output", str(output)]
    command += ["--threads", str(threads), "--no-progress", "--overwrite"]
    command += ["--bundle", bundle] if bundle else []
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd="/")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", action="append", required=True, metavar="NAME=PATH", help="a source tree")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bundle", default=None, help="bundle folder (default: each tree's shipped bundle)")
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    args = parser.parse_args()
    checkouts = {name: Path(path) for name, path in (item.split("=", 1) for item in args.checkout)}
    seconds: dict[str, list[float]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory() as work:
        parquet = Path(work) / "reviews.parquet"
        make_parquet(load_reviews(args.imdb)[0], args.rows, parquet)
        for _ in range(args.repeats):
            for name, path in checkouts.items():
                seconds[name].append(run(path, parquet, Path(work) / "out.parquet", args.threads, args.bundle))
    first = statistics.median(next(iter(seconds.values())))
    print(f"\n{args.rows:,} reviews in Parquet, {args.threads} threads, {args.repeats} alternating runs each\n")
    print("| tree | seconds (median) | min | max | rows/s (median) | vs first |\n|---|---:|---:|---:|---:|---:|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | {args.rows / median:,.0f} | "
            f"{median / first:.3f} |"
        )


if __name__ == "__main__":
    main()
