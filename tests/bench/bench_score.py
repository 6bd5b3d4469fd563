"""Benchmark `sentiment-batch score` against fastText and PyTorch eager; run by hand, prints a Markdown table."""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
IMDB_TAR = REPO.parent / "shared" / "imdb" / "aclImdb_train.tar.gz"
SAMPLE_CSV = REPO / "sample_data" / "reviews.csv"
REVIEW_MEMBER = re.compile(r"aclImdb/train/(pos|neg)/\d+_\d+\.txt$")
# Wraps one measured command so RUSAGE_CHILDREN is that command's peak RSS alone.
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)
logger = logging.getLogger("bench_score")


def load_reviews(imdb_tar: Path) -> tuple[list[str], list[int] | None]:
    """IMDb training reviews with labels (1 = pos) from the tarball, else sample_data's texts without labels.

    Args:
        imdb_tar (`Path`): aclImdb_train.tar.gz.
    """
    if not imdb_tar.is_file():
        import pandas as pd

        logger.warning("%s not found: using %s, without labels (no fastText row)", imdb_tar, SAMPLE_CSV)
        texts = pd.read_csv(SAMPLE_CSV, keep_default_na=False)["text"]
        return [text for text in texts if text.strip()], None
    texts, labels = [], []
    with tarfile.open(imdb_tar) as archive:
        for member in archive:
            match = REVIEW_MEMBER.search(member.name)
            if match:
                texts.append(archive.extractfile(member).read().decode("utf-8"))
                labels.append(int(match.group(1) == "pos"))
    return texts, labels


def make_parquet(texts: list[str], rows: int, path: Path) -> None:
    """`rows` reviews sampled with replacement from `texts`, with an id column.

    Args:
        texts (`list[str]`): the review pool.
        rows (`int`): how many rows to write.
        path (`Path`): the Parquet file.
    """
    rng = random.Random(0)
    sample = [texts[rng.randrange(len(texts))] for _ in range(rows)]
    pq.write_table(pa.table({"id": range(rows), "text": sample}), path, row_group_size=65_536)


def measure(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of a command run in its own process.

    Args:
        command (`list[str]`): the command line.
    """
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{result.stderr[-2000:]}")
    peak_kb = int(result.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024, result.stdout


def child_fasttext(args: argparse.Namespace) -> None:
    """Train fastText on the labelled reviews, then time `predict` alone on the Parquet's texts."""
    import fasttext

    texts, labels = load_reviews(args.imdb)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        for text, label in zip(texts, labels, strict=True):
            handle.write(f"__label__{label} {' '.join(text.split())}\n")
    model = fasttext.train_supervised(handle.name, epoch=5, wordNgrams=2, thread=args.threads, verbose=0)
    Path(handle.name).unlink()
    column = pq.read_table(args.parquet, columns=["text"]).column("text").to_pylist()
    start = time.perf_counter()
    model.predict([" ".join(text.split()) for text in column])  # fastText rejects newlines
    print(json.dumps({"seconds": time.perf_counter() - start}))


def child_torch(args: argparse.Namespace) -> None:
    """Time the PyTorch model in eager mode on the Parquet's texts, through the shared preprocessing."""
    import torch
    from transformers import AutoModelForSequenceClassification

    import sentiment_batch.train  # noqa: F401  (registers the Auto classes)
    from sentiment_batch.preprocessing import encode, load_tokenizer

    torch.set_num_threads(args.threads)
    model = AutoModelForSequenceClassification.from_pretrained(args.model_dir).eval()
    tokenizer = load_tokenizer(args.model_dir)
    column = pq.read_table(args.parquet, columns=["text"]).column("text").to_pylist()
    start = time.perf_counter()
    with torch.inference_mode():
        for begin in range(0, len(column), 2048):
            input_ids, offsets = encode(tokenizer, column[begin : begin + 2048])
            model(torch.from_numpy(input_ids), torch.from_numpy(offsets)).logits.softmax(-1)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def run_all(args: argparse.Namespace, work: Path) -> list[tuple[str, int, float, float, float]]:
    """Every benchmark row: (name, rows, seconds, rows/s, peak RSS MiB)."""
    texts, labels = load_reviews(args.imdb)
    parquet = work / "reviews.parquet"
    make_parquet(texts, args.rows, parquet)
    script, common = str(Path(__file__).resolve()), ["--parquet", str(parquet), "--threads", str(args.threads)]
    score = [sys.executable, "-m", "sentiment_batch.cli", "score", str(parquet), "--output", str(work / "out.parquet")]
    score += ["--threads", str(args.threads), "--no-progress"]
    score += ["--bundle", str(args.bundle)] if args.bundle else []
    seconds, peak, _ = measure(score)
    rows = [("sentiment-batch score (ONNX, end to end)", args.rows, seconds, args.rows / seconds, peak)]
    children = [("fastText predict", labels is not None, "fasttext"), ("PyTorch eager", bool(args.model_dir), "torch")]
    for name, wanted, child in children:
        if wanted:
            extra = ["--model", str(args.model_dir)] if child == "torch" else []
            _, peak, stdout = measure([sys.executable, script, "--child", child, *common, *extra])
            seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
            rows.append((f"{name} (timed part only)", args.rows, seconds, args.rows / seconds, peak))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=250_000, help="reviews to score")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle folder (default: the bundle shipped with the package)"
    )
    parser.add_argument(
        "--model", dest="model_dir", type=Path, default=None, help="trained model folder, for the PyTorch row"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    parser.add_argument("--child", choices=["fasttext", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.child:
        {"fasttext": child_fasttext, "torch": child_torch}[args.child](args)
        return
    with tempfile.TemporaryDirectory() as work:
        rows = run_all(args, Path(work))
    print(f"\n{args.rows:,} reviews, {args.threads} threads\n")
    print("| method | rows | seconds | rows/s | peak RSS (MiB) |\n|---|---:|---:|---:|---:|")
    for name, count, seconds, rate, peak in rows:
        print(f"| {name} | {count:,} | {seconds:.2f} | {rate:,.0f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
