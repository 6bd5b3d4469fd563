"""Tokenization speed: the runtime's `encode` (pyarrow + the compiled loops) against `tokenizers`' `encode_batch`.

Run by hand; prints a Markdown table. Each figure is the median of `--repeats` runs, each in a fresh process (the
tokenizers library sizes its thread pool from RAYON_NUM_THREADS once), the methods alternating:

    python tests/bench/bench_tokenize.py --repeats 5

- `sentiment_batch encode`: `preprocessing.encode` on batches of `--batch-size` reviews, `--threads` batches at
  once (the Scorer's way: the compiled loops release the GIL);
- `tokenizers encode_batch`: `Tokenizer.encode_batch` on the same batches, one at a time, on a pool of
  `--threads` (RAYON_NUM_THREADS); `+ flat ids` adds turning its encodings into the flat int64 ids and offsets the
  graph takes, which is what the runtime does when the compiled loops are not built.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import IMDB_TAR, load_reviews  # noqa: E402  (this folder is not a package)

METHODS = ("sentiment_batch encode", "tokenizers encode_batch", "tokenizers encode_batch + flat ids")


def child(args: argparse.Namespace) -> None:
    """One timed pass of one method over every review; prints the seconds as JSON."""
    from sentiment_batch import preprocessing
    from sentiment_batch.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(args.bundle or default_bundle_path())
    tokenizer = preprocessing.load_tokenizer(bundle.tokenizer_path, bundle.manifest.vocab_size)
    texts, _ = load_reviews(args.imdb)
    batches = [texts[start : start + args.batch_size] for start in range(0, len(texts), args.batch_size)]
    if args.method == METHODS[0]:
        assert preprocessing.FastEncoder.of(tokenizer) is not None, "the compiled loops are not built"
        encode = preprocessing.encode
    elif args.method == METHODS[1]:

        def encode(tokenizer, batch):
            return tokenizer.encode_batch(batch, add_special_tokens=False)

    else:
        preprocessing._token_ids = None  # the runtime's path without the compiled loops
        encode = preprocessing.encode
    encode(tokenizer, batches[0])  # warm-up: first-met characters, thread pools
    start = time.perf_counter()
    threads = args.threads[0]
    if args.method == METHODS[0] and threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda batch: encode(tokenizer, batch), batches))
    else:
        for batch in batches:
            encode(tokenizer, batch)
    print(json.dumps({"seconds": time.perf_counter() - start, "reviews": len(texts)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle whose tokenizer to use (default: shipped)")
    parser.add_argument("--batch-size", type=int, default=256, help="reviews per call (the Scorer's default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        child(args)
        return
    results: dict[tuple[str, int], list[float]] = {}
    reviews = 0
    for _ in range(args.repeats):
        for threads in args.threads:
            for method in METHODS:
                command = [sys.executable, __file__, "--method", method, "--imdb", str(args.imdb)]
                command += ["--batch-size", str(args.batch_size), "--threads", str(threads)]
                command += ["--bundle", str(args.bundle)] if args.bundle else []
                env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}
                out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
                run = json.loads(out.strip().splitlines()[-1])
                reviews = run["reviews"]
                results.setdefault((method, threads), []).append(run["seconds"])
    print(f"\n{reviews:,} IMDb reviews, batches of {args.batch_size}, median of {args.repeats} runs\n")
    print("| method | threads | seconds | reviews/s | vs encode_batch |\n|---|---:|---:|---:|---:|")
    for threads in args.threads:
        reference = statistics.median(results[METHODS[1], threads])
        for method in METHODS:
            seconds = statistics.median(results[method, threads])
            print(f"| {method} | {threads} | {seconds:.2f} | {reviews / seconds:,.0f} | {reference / seconds:.2f}× |")


if __name__ == "__main__":
    main()
