"""Benchmark `sentiment-batch score` by input format: the new readers on Parquet against a baseline install in the
same run (alternating), JSON Lines, CSV.gz and stdin rows/s, and peak RSS from 25k to 1M rows. Run by hand, prints
a Markdown table; the files it builds go to a scratch folder, never into the project.

    python tests/bench/bench_formats.py --baseline /work/wt/base-venv/bin/sentiment-batch --rows 250000
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO.parent / "shared" / "reviews" / "reviews.parquet"
# Wraps one measured command so RUSAGE_CHILDREN is that command's peak RSS alone.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1]) if sys.argv[1] "
    "else None).returncode; print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "file=sys.stderr); sys.exit(code)"
)


def reviews(rows: int, source: Path) -> pa.Table:
    """`rows` reviews drawn in a fixed order (with repeats past the file's end), with an id column."""
    texts = pq.read_table(source, columns=["text", "source"])
    indices = pa.array([row % texts.num_rows for row in range(rows)])
    table = texts.take(indices)
    return table.add_column(0, "id", pa.array(range(rows), pa.int64()))


def write_formats(table: pa.Table, folder: Path, name: str) -> dict[str, Path]:
    """The table as Parquet, JSON Lines and gzipped CSV."""
    paths = {kind: folder / f"{name}.{kind}" for kind in ("parquet", "jsonl", "csv.gz")}
    pq.write_table(table, paths["parquet"])
    with paths["jsonl"].open("w", encoding="utf-8") as handle:
        for batch in table.to_batches(50_000):
            handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist()))
    with gzip.open(paths["csv.gz"], "wb", compresslevel=1) as handle:
        pacsv.write_csv(table, handle)
    return paths


def run(command: list[str], stdin: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and the closing line of one command."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(stdin or ""), *command], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    lines = result.stderr.strip().splitlines()
    rss = next(int(line.split()[1]) for line in lines if line.startswith("PEAK_RSS_KB")) // 1024
    return seconds, rss, next(line for line in reversed(lines) if line.startswith("scored"))


def score(binary: str, inputs: list[str], output: Path, *extra: str) -> list[str]:
    return [binary, "score", *inputs, "--output", str(output), "--overwrite", "--no-progress", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the baseline's sentiment-batch console script")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--rss-rows", type=int, nargs="+", default=[25_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each tree on Parquet")
    parser.add_argument("--reviews", type=Path, default=REVIEWS)
    args = parser.parse_args()
    new = str(Path(sys.executable).with_name("sentiment-batch"))
    folder = Path(tempfile.mkdtemp(prefix="bench_formats."))
    try:
        paths = write_formats(reviews(args.rows, args.reviews), folder, "reviews")
        out = folder / "out.parquet"
        rows = [("series", "tree", "input", "seconds", "rows/s", "peak RSS MB")]
        parquet = {"baseline": [], "new": []}
        for _ in range(args.repeats):
            for tree, binary in (("baseline", args.baseline), ("new", new)):
                seconds, rss, _ = run(score(binary, [str(paths["parquet"])], out))
                parquet[tree].append(seconds)
                rows.append(
                    (
                        "parquet",
                        tree,
                        f"{args.rows:,} rows .parquet",
                        f"{seconds:.1f}",
                        f"{args.rows / seconds:,.0f}",
                        rss,
                    )
                )
        for kind in ("jsonl", "csv.gz"):
            seconds, rss, _ = run(score(new, [str(paths[kind])], out))
            rows.append(
                (kind, "new", f"{args.rows:,} rows .{kind}", f"{seconds:.1f}", f"{args.rows / seconds:,.0f}", rss)
            )
        plain = folder / "reviews.csv"
        with gzip.open(paths["csv.gz"], "rb") as source, plain.open("wb") as target:
            shutil.copyfileobj(source, target)
        seconds, rss, _ = run(score(new, ["-", "--input-format", "csv"], out), stdin=plain)
        rows.append(
            ("stdin", "new", f"{args.rows:,} rows CSV on stdin", f"{seconds:.1f}", f"{args.rows / seconds:,.0f}", rss)
        )
        for count in args.rss_rows:
            pq.write_table(reviews(count, args.reviews), folder / "rss.parquet")
            seconds, rss, _ = run(score(new, [str(folder / "rss.parquet")], out))
            rows.append(("rss", "new", f"{count:,} rows .parquet", f"{seconds:.1f}", f"{count / seconds:,.0f}", rss))
        best = {tree: min(times) for tree, times in parquet.items()}
        print("\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows))
        print(f"\nParquet, best of {args.repeats}: new / baseline speed = {best['baseline'] / best['new']:.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
