"""Where scoring time goes, per bundle: tokenizing against running the graph, and the graph's heaviest nodes.

One thread, batches of 256 IMDb reviews, the bundles alternating over `--repeats` rounds (each bundle's tokenizer
warmed up first, so the character cache is full); prints each stage's median thread CPU seconds. With `--nodes`,
one more run per bundle under onnxruntime's profiler gives the kernel time of its heaviest nodes and op types.

    python tests/bench/bench_stages.py --bundle 0.2.0=/tmp/bundle-0.2.0/sentiment_batch/default_bundle \
        --bundle shipped=sentiment_batch/default_bundle --nodes 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import onnxruntime as ort
import pyarrow as pa
from bench_score import IMDB_TAR, load_reviews

from sentiment_batch.bundle import load_bundle, open_bundle_session
from sentiment_batch.preprocessing import encode, load_tokenizer

BATCH = 256


def session(bundle, profile_prefix: str | None = None) -> ort.InferenceSession:
    """A one-thread session, as the Scorer opens it, profiled when `profile_prefix` is given."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    return open_bundle_session(bundle, options)


def stage_seconds(tokenizer, graph, batches: list[pa.Array]) -> tuple[float, float]:
    """Thread CPU seconds of tokenizing every batch, then of running the graph on them."""
    start = time.thread_time()
    encoded = [encode(tokenizer, batch) for batch in batches]
    tokenized = time.thread_time()
    for ids, offsets in encoded:
        graph.run(["probabilities"], {"input_ids": ids, "offsets": offsets})
    return tokenized - start, time.thread_time() - tokenized


def node_times(profile: Path) -> tuple[Counter, Counter]:
    """Kernel microseconds by node and by op type from an onnxruntime profile."""
    by_node, by_op = Counter(), Counter()
    for event in json.loads(profile.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_node[event["name"].removesuffix("_kernel_time")] += event["dur"]
            by_op[event["args"]["op_name"]] += event["dur"]
    return by_node, by_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", action="append", required=True, metavar="NAME=PATH", help="a bundle to time")
    parser.add_argument("--reviews", type=int, default=12_800)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=0, help="also profile the graph and show its heaviest nodes")
    parser.add_argument("--imdb", type=Path, default=IMDB_TAR, help="aclImdb_train.tar.gz")
    args = parser.parse_args()
    column = pa.array(load_reviews(args.imdb)[0][: args.reviews], pa.large_string())
    batches = [column.slice(start, BATCH) for start in range(0, len(column), BATCH)]
    setups = {}
    for name, _, path in (item.partition("=") for item in args.bundle):
        bundle = load_bundle(path)
        tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)
        stage_seconds(tokenizer, session(bundle), batches[:4])
        [encode(tokenizer, batch) for batch in batches]  # every character met once
        setups[name] = (bundle, tokenizer, session(bundle))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
    for round_ in range(args.repeats):
        for name in list(setups) if round_ % 2 == 0 else list(setups)[::-1]:
            times[name].append(stage_seconds(*setups[name][1:], batches))
    print(f"{len(column):,} reviews, one thread, median of {args.repeats}\n")
    print("| bundle | tokenize s | graph s | graph share |\n|---|---:|---:|---:|")
    for name, runs in times.items():
        tokenize, graph = (statistics.median(run[k] for run in runs) for k in (0, 1))
        print(f"| {name} | {tokenize:.3f} | {graph:.3f} | {graph / (tokenize + graph):.0%} |")
    if args.nodes:
        with tempfile.TemporaryDirectory() as work:
            for name, (bundle, tokenizer, _) in setups.items():
                profiled = session(bundle, str(Path(work) / "profile"))
                stage_seconds(tokenizer, profiled, batches)
                by_node, by_op = node_times(Path(profiled.end_profiling()))
                total = sum(by_node.values())
                print(f"\n{name}: graph kernels {total / 1e6:.3f} s\n\n| node or op | s | share |\n|---|---:|---:|")
                for label, counter in (("node", by_node), ("op", by_op)):
                    for key, micros in counter.most_common(args.nodes):
                        print(f"| {label} `{key}` | {micros / 1e6:.3f} | {micros / total:.1%} |")


if __name__ == "__main__":
    main()
