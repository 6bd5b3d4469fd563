"""Benchmark DuckDB's `SELECT sentiment(text)` against `sentiment-batch score` on one Parquet file; run by hand.

Both read the same file and write every input column plus the scores to Parquet, each in its own process (start
and bundle load included), in alternating rounds. Prints a Markdown table and writes it to `--output`.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO.parent / "shared" / "reviews" / "reviews.parquet"
DUCKDB_SCRIPT = """
import sys, duckdb
from sentiment_batch.duckdb import register
con = duckdb.connect()
register(con)
con.execute(f"COPY (SELECT *, sentiment(text) AS sentiment FROM '{sys.argv[1]}') TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def make_input(reviews: Path, rows: int, path: Path) -> None:
    """The first `rows` reviews of `reviews` (their text and source), repeated if it has fewer.

    Args:
        reviews (`Path`): `shared/reviews/reviews.parquet`.
        rows (`int`): reviews to write.
        path (`Path`): the Parquet file.
    """
    table = pq.read_table(reviews, columns=["text", "source"])
    picked = pc.modulo(pa.array(range(rows), pa.int64()), table.num_rows)
    pq.write_table(table.take(picked), path, row_group_size=65_536)


def timed(command: list[str]) -> float:
    """Wall seconds of a command run in its own process."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def commands(source: Path, folder: Path) -> dict[str, list[str]]:
    """The two measured command lines: the CLI's `score` and DuckDB's COPY over `sentiment(text)`."""
    cli = Path(sys.executable).with_name("sentiment-batch")
    score = [str(cli), "score", str(source), "--output", str(folder / "score.parquet"), "--no-progress", "--overwrite"]
    duck = [sys.executable, "-c", DUCKDB_SCRIPT, str(source), str(folder / "duckdb.parquet")]
    return {"sentiment-batch score": score, "duckdb SELECT sentiment(text)": duck}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=Path, default=REVIEWS, help="shared/reviews/reviews.parquet")
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "tests" / "bench" / "results" / "duckdb.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-duckdb-") as tmp:
        folder = Path(tmp)
        source = folder / "reviews.parquet"
        make_input(args.reviews, args.rows, source)
        lines = commands(source, folder)
        seconds = {name: [] for name in lines}
        for _ in range(args.rounds):
            for name, command in lines.items():
                seconds[name].append(timed(command))
        scored = pq.read_table(folder / "duckdb.parquet", columns=["sentiment"]).num_rows
    assert scored == args.rows
    best = {name: min(times) for name, times in seconds.items()}
    baseline = best["sentiment-batch score"]
    table = [
        f"{args.rows:,} reviews (the first rows of `shared/reviews/reviews.parquet`), Parquet in and out, "
        f"{args.rounds} alternating rounds, best of each; {platform.python_version()}, {platform.machine()}.",
        "",
        "| command | seconds (each round) | rows/s (best) | × score |",
        "|---|---|---:|---:|",
    ]
    for name, times in seconds.items():
        rate = args.rows / best[name]
        rounds = ", ".join(f"{value:.2f}" for value in times)
        table.append(f"| {name} | {rounds} | {rate:,.0f} | {baseline / best[name]:.2f} |")
    text = "\n".join(table)
    print(text)
    args.output.write_text(
        "# DuckDB: `SELECT sentiment(text)` beside `sentiment-batch score`\n\n"
        f"`python tests/bench/bench_duckdb.py {' '.join(sys.argv[1:])}` (both through the editable install, in their "
        "own processes, start and "
        "bundle load included; DuckDB writes `COPY (SELECT *, sentiment(text) AS sentiment FROM ...) TO "
        "'out.parquet'`).\n\n" + text + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
