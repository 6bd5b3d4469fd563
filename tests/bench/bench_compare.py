"""Compare `sentiment-batch score` variants (bundles, options) in one run: alternating whole-process runs.

Each variant is `NAME=ARGS`, the extra arguments of `score` (a bundle, an option); the variants run in turn,
`--repeats` rounds, on the same Parquet file of IMDb reviews, so a slow phase of the machine hits them alike.
Prints each variant's median wall and CPU seconds (user + system, which other processes disturb less than the
wall clock), rows/s and the ratio of its speed to the first variant's.

    python tests/bench/bench_compare.py --rows 250000 --repeats 5 \
        old="--bundle /tmp/old" new="--bundle sentiment_batch/default_bundle"
"""

from __future__ import annotations

import argparse
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_score import IMDB_TAR, load_reviews, make_parquet


def run_once(parquet: Path, output: Path, arguments: list[str], threads: int) -> tuple[float, float]:
    """Wall and CPU seconds of one whole `score` process."""
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(parquet), "--output", str(output)]
    command += ["--overwrite", "--no-progress", "--threads", str(threads), *arguments]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", metavar="NAME=ARGS", help="a name and the extra arguments of score")
    parser.add_argument("--rows", type=int, default=250_000, help="reviews to score")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of alternating runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    args = parser.parse_args()
    variants = [(name, shlex.split(rest)) for name, _, rest in (item.partition("=") for item in args.variants)]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    with tempfile.TemporaryDirectory() as work:
        parquet, output = Path(work) / "reviews.parquet", Path(work) / f"out.{args.output_format}"
        make_parquet(load_reviews(args.imdb)[0], args.rows, parquet)
        for round_ in range(args.repeats):
            order = variants if round_ % 2 == 0 else variants[::-1]
            for name, arguments in order:
                times[name].append(run_once(parquet, output, arguments, args.threads))
                print(f"round {round_}: {name} wall {times[name][-1][0]:.2f} s, cpu {times[name][-1][1]:.2f} s")
    first = statistics.median(wall for wall, _ in times[variants[0][0]])
    print(f"\n{args.rows:,} reviews, {args.threads} threads, {args.repeats} rounds (median)\n")
    print("| variant | wall s | CPU s | rows/s | speed vs first |\n|---|---:|---:|---:|---:|")
    for name, _ in variants:
        wall = statistics.median(w for w, _ in times[name])
        cpu = statistics.median(c for _, c in times[name])
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {args.rows / wall:,.0f} | {first / wall:.3f} |")


if __name__ == "__main__":
    main()
