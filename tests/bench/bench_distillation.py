"""Hand-run: the default `train` (distilled) against the plain recipe (`--unlabeled none`), paired, on three splits.

    python tests/bench/bench_distillation.py run --out tests/bench/results/distillation [--reps 2]
    python tests/bench/bench_distillation.py summarize --out tests/bench/results/distillation

Each run is the real CLI on the movie-grouped validation split of one seed (42, 1, 2), with training seeds
split + 1000·rep; both recipes see the same split and training seed. A line per run goes to runs.jsonl: the
validation accuracy, the teachers' figures, the whole process's wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMDB_TAR = REPO.parent / "shared" / "imdb" / "aclImdb_train.tar.gz"
SPLITS = (42, 1, 2)
RECIPES = {"plain": ["--unlabeled", "none"], "distilled": []}
# Runs one command so that RUSAGE_CHILDREN is that command's peak RSS alone.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def train_once(dataset: str, work: Path, recipe: str, split: int, seed: int) -> dict:
    output = work / f"{recipe}-{split}-{seed}"
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "sentiment_batch.cli", "train", "--dataset", dataset, "--output", str(output)]
    command += ["--report_to", "none", "--validation_seed", str(split), "--seed", str(seed), *RECIPES[recipe]]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{recipe} {split} {seed} failed:\n{result.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    metrics = json.loads((output / "all_results.json").read_text())
    shutil.rmtree(output)
    keep = ("eval_accuracy", "eval_f1", "teachers", "unlabeled_reviews", "teacher_eval_accuracy")
    figures = {name: metrics[name] for name in (*keep, "teacher_ensemble_eval_accuracy") if name in metrics}
    return {"recipe": recipe, "split": split, "seed": seed, **figures, "wall_s": round(wall, 1), "peak_mib": peak >> 10}


def run(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "work"
    with (args.out / "runs.jsonl").open("a") as log:
        for rep in range(args.first_rep, args.first_rep + args.reps):
            for split in SPLITS:
                for recipe in args.recipes:
                    line = train_once(args.dataset, work, recipe, split, split + 1000 * rep)
                    print(json.dumps(line), flush=True)
                    log.write(json.dumps(line) + "\n")
                    log.flush()
    shutil.rmtree(work, ignore_errors=True)


def summarize(out: Path) -> None:
    """Per recipe: runs, mean accuracy (splits weighted equally), wall time; the paired gain ± one standard error."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    by_key = {(r["recipe"], r["split"], r["seed"]): r for r in runs}
    print("| recipe | runs | validation accuracy | per split | wall s | peak MiB |\n|---|---:|---:|---|---:|---:|")
    for recipe in RECIPES:
        mine = [r for r in runs if r["recipe"] == recipe]
        if not mine:
            continue
        per_split = defaultdict(list)
        for r in mine:
            per_split[r["split"]].append(r["eval_accuracy"])
        means = {split: statistics.mean(values) for split, values in per_split.items()}
        splits = ", ".join(f"{split}: {100 * mean:.2f}%" for split, mean in means.items())
        wall = statistics.mean(r["wall_s"] for r in mine)
        peak = max(r["peak_mib"] for r in mine)
        accuracy = 100 * statistics.mean(means.values())
        print(f"| {recipe} | {len(mine)} | {accuracy:.2f}% | {splits} | {wall:.0f} | {peak} |")
    gains = [
        r["eval_accuracy"] - by_key["plain", r["split"], r["seed"]]["eval_accuracy"]
        for r in runs
        if r["recipe"] == "distilled" and ("plain", r["split"], r["seed"]) in by_key
    ]
    if len(gains) > 1:
        error = statistics.stdev(gains) / math.sqrt(len(gains))
        gain = 100 * statistics.mean(gains)
        print(f"\ndistilled − plain, paired over {len(gains)} runs: {gain:+.2f} ± {100 * error:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "summarize"])
    parser.add_argument("--dataset", default=str(IMDB_TAR), help="aclImdb tarball or folder with train/unsup")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "bench" / "results" / "distillation")
    parser.add_argument("--reps", type=int, default=2, help="training seeds per split")
    parser.add_argument("--first-rep", type=int, default=0)
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args()
    run(args) if args.command == "run" else summarize(args.out)


if __name__ == "__main__":
    main()
