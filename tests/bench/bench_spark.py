"""Benchmark `score --engine spark` (local[2]) against the single-process CLI on the same cores; run by hand.

Scores 25,000 and 250,000 IMDb reviews (and 2,500,000 once with --big) with both engines, alternating them so both
see the same machine load, and prints whole-process times and the marginal throughput, from the difference
between the two sizes so that start-up (the JVM's above all) drops out. --breakdown adds where a Spark task's CPU
time goes, measured in one warm session, and the single-thread tokenizer/onnxruntime split.

    python tests/bench/bench_spark.py --repeats 3 [--big] [--breakdown] [--work /tmp/bench_spark]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import IMDB_TAR, load_reviews, make_parquet  # noqa: E402

SIZES = (25_000, 250_000)
BIG = 2_500_000
logger = logging.getLogger("bench_spark")


def tree_cpu(process: psutil.Process, seen: dict[int, float]) -> None:
    """Record the CPU seconds of a process and its descendants (kept per pid, so exited ones still count)."""
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
            seen[member.pid] = max(seen.get(member.pid, 0.0), times.user + times.system)
        except psutil.Error:
            pass


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (every process of the run, sampled 5 times a second) of a command."""
    seen: dict[int, float] = {}
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        tree_cpu(process, seen)
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:6]} failed:\n{stderr[-2000:]}")
    return seconds, sum(seen.values())


def score_command(engine: str, source: Path, output: Path) -> list[str]:
    command = [sys.executable, "-m", "sentiment_batch.cli", "score", str(source), "--output", str(output)]
    command += ["--overwrite", "--no-progress"]
    if engine == "spark":
        return [*command, "--engine", "spark", "--master", "local[2]"]
    return [*command, "--threads", "2"]


def run_pairs(files: dict[int, Path], work: Path, repeats: int) -> list[dict]:
    """Every (engine, rows, repeat) run, engines alternating and their order swapped on every repeat."""
    runs = []
    for repeat in range(repeats):
        for rows, source in files.items():
            engines = ("spark", "local") if repeat % 2 == 0 else ("local", "spark")
            for engine in engines:
                seconds, cpu = measure(score_command(engine, source, work / f"out-{engine}.parquet"))
                runs.append({"engine": engine, "rows": rows, "repeat": repeat, "seconds": seconds, "cpu": cpu})
                logger.info("%s %s rows, repeat %d: %.1f s, %.1f CPU s", engine, f"{rows:,}", repeat, seconds, cpu)
    return runs


def marginal(runs: list[dict], engine: str, repeat: int) -> float:
    """Rows per second of the 250k run beyond the 25k run of one repeat."""
    seconds = {run["rows"]: run["seconds"] for run in runs if (run["engine"], run["repeat"]) == (engine, repeat)}
    return (SIZES[1] - SIZES[0]) / (seconds[SIZES[1]] - seconds[SIZES[0]])


def report(runs: list[dict], repeats: int) -> None:
    print("\n| engine | rows | whole process, s (median, min–max) | CPU s (median) | rows/s (median) |")
    print("|---|---:|---:|---:|---:|")
    for engine in ("local", "spark"):
        for rows in sorted({run["rows"] for run in runs}):
            chosen = [run for run in runs if run["engine"] == engine and run["rows"] == rows]
            seconds = [run["seconds"] for run in chosen]
            cpu = statistics.median(run["cpu"] for run in chosen)
            spread = f"{min(seconds):.1f}–{max(seconds):.1f}" if len(seconds) > 1 else "one run"
            median = statistics.median(seconds)
            print(f"| {engine} | {rows:,} | {median:.1f} ({spread}) | {cpu:.1f} | {rows / median:,.0f} |")
    pairs = [(marginal(runs, "spark", r), marginal(runs, "local", r)) for r in range(repeats)]
    print("\n| repeat | spark marginal rows/s | local marginal rows/s | spark / local |\n|---:|---:|---:|---:|")
    for repeat, (spark, local) in enumerate(pairs):
        print(f"| {repeat} | {spark:,.0f} | {local:,.0f} | {spark / local:.2f} |")
    ratios = [spark / local for spark, local in pairs]
    print(
        f"\nspark / local marginal throughput: median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}, max {max(ratios):.2f} (target ≥ 0.7)"
    )


def breakdown(source: Path, work: Path) -> None:
    """Where a Spark task's time goes: CPU seconds of the JVM and of the Python workers for the same 250k rows,
    read only, then through Python unchanged, then scored, then scored and written; each run twice, the second
    (warm JIT, warm workers) counted. Then tokenizing vs onnxruntime, one thread, on the same texts."""
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from sentiment_batch.spark import score

    spark = SparkSession.builder.master("local[2]").config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(str(source))
    rows = pq.ParquetFile(source).metadata.num_rows
    variants = {
        "read": lambda: df.write.format("noop").mode("overwrite").save(),
        "read + Arrow to Python and back": lambda: (
            df.mapInArrow(_unchanged, df.schema).write.format("noop").mode("overwrite").save()
        ),
        "read + score": lambda: score(df).write.format("noop").mode("overwrite").save(),
        "read + score + write Parquet": lambda: score(df).write.mode("overwrite").parquet(str(work / "breakdown")),
    }
    me = psutil.Process()
    print(f"\n{rows:,} rows, local[2], warm session\n")
    print("| job | wall s | JVM CPU s | Python workers CPU s | rows per CPU s |\n|---|---:|---:|---:|---:|")
    for name, job in variants.items():
        for _ in range(2):
            before = _spark_cpu(me)
            start = time.perf_counter()
            job()
            seconds = time.perf_counter() - start
            after = _spark_cpu(me)
        jvm, python = (after[key] - before[key] for key in ("jvm", "python"))
        print(f"| {name} | {seconds:.1f} | {jvm:.1f} | {python:.1f} | {rows / (jvm + python):,.0f} |")
    spark.stop()
    _stage_split(source)


def _unchanged(batches):
    yield from batches


def _spark_cpu(me: psutil.Process) -> dict[str, float]:
    """CPU seconds so far of this driver's JVM and of its Python workers (forked by pyspark.daemon, whose
    reaped children count in its own figures)."""
    totals = {"jvm": 0.0, "python": 0.0}
    for process in me.children(recursive=True):
        try:
            times, command = process.cpu_times(), " ".join(process.cmdline())
        except psutil.Error:
            continue
        if command.split(" ")[0].endswith("java"):
            totals["jvm"] += times.user + times.system
        elif "pyspark.daemon" in command:
            totals["python"] += times.user + times.system + times.children_user + times.children_system
    return totals


def _stage_split(source: Path) -> None:
    """Tokenizing and onnxruntime seconds, one thread, on the file's texts in the Scorer's model batches."""
    from sentiment_batch import Scorer
    from sentiment_batch.bundle import PROBABILITIES
    from sentiment_batch.preprocessing import encode

    scorer = Scorer.from_bundle(threads=1)
    column = pq.read_table(source, columns=["text"]).column("text").combine_chunks()
    tokenize = model = 0.0
    for start in range(0, len(column), scorer.batch_size):
        begin = time.process_time()
        input_ids, offsets = encode(scorer._tokenizer, column[start : start + scorer.batch_size])
        middle = time.process_time()
        scorer._session.run([PROBABILITIES], {"input_ids": input_ids, "offsets": offsets})
        tokenize, model = tokenize + middle - begin, model + time.process_time() - middle
    print(f"\none thread, {len(column):,} texts: tokenizing {tokenize:.1f} CPU s, onnxruntime {model:.1f} CPU s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each engine at each size")
    parser.add_argument("--big", action="store_true", help="also score 2,500,000 reviews once with each engine")
    parser.add_argument("--breakdown", action="store_true", help="also measure where a Spark task's time goes")
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    parser.add_argument("--work", type=Path, default=None, help="keep the input files here (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with tempfile.TemporaryDirectory() as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        sizes = (*SIZES, BIG) if args.big else SIZES
        files = {rows: work / f"imdb-{rows}.parquet" for rows in sizes}
        if not all(path.exists() for path in files.values()):
            texts, _ = load_reviews(args.imdb)
            for rows, path in files.items():
                if not path.exists():
                    make_parquet(texts, rows, path)  # row groups of 65,536 rows: Spark splits files by row group
        if args.repeats:  # 0: the breakdown alone
            runs = run_pairs({rows: files[rows] for rows in SIZES}, work, args.repeats)
            if args.big:
                runs += [{**run, "repeat": 0} for run in run_pairs({BIG: files[BIG]}, work, 1)]
            report(runs, args.repeats)
            if args.json:
                args.json.write_text(json.dumps(runs, indent=1))
        if args.breakdown:
            breakdown(files[SIZES[1]], work)


if __name__ == "__main__":
    main()
