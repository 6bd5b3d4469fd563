"""What wider negation scopes would buy the shipped bundle's own rows (issue #32), without retraining or exporting.

The negation window is part of the exported graph, so this scores outside it: `train.modeling.ngram_columns`
builds each review's rows with the window asked for (the cues and scope ends are the graph's own roles table), the
bundle's table gives the rows, and its head (the graph's two Gemm layers and temperature, read from the ONNX file)
gives the probabilities. Window 3 reproduces the graph (the largest probability difference is printed), so the
other windows differ from the bundle in the scope alone. `--but-ends-scope` also ends a scope at "but"; `--flip`
sets every word's scoped row to minus its own row first (as `bench_negation.py`'s `flipped`).

Prints the suite's failure rates per capability and the validation accuracy per window.

    python tests/bench/bench_scope.py --windows 3 6 99 --dataset /work/shared/imdb/aclImdb_train.tar.gz \
        /work/shared/reviews/reviews.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from bench_behaviour import failures
from bench_identity import HASH_MULTIPLIER, NUM_BUCKETS, table_location
from bench_negation import flipping
from onnx import numpy_helper

from sentiment_batch.bundle import load_bundle, open_bundle_session
from sentiment_batch.preprocessing import encode, load_tokenizer
from sentiment_batch.train.configuration import SentimentBagConfig
from sentiment_batch.train.modeling import ngram_columns

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from behaviour_suite import CAPABILITIES, POSITIVE, generate  # noqa: E402

BATCH = 4096


def graph_parts(graph: onnx.ModelProto, vocab_size: int) -> tuple[np.ndarray, list, float]:
    """The graph's negation roles per word (1 cue, 2 scope end), its head's Gemm weights and biases, and its
    calibration temperature."""
    weights = {
        tensor.name: numpy_helper.to_array(tensor) for tensor in graph.graph.initializer if not tensor.external_data
    }
    roles = np.zeros(vocab_size, dtype=np.int64)
    for node in (node for node in graph.graph.node if node.op_type == "ScatterND"):  # one per role, into zeros
        roles[weights[node.input[1]].reshape(-1)] = weights[node.input[2]]
    layers = [(weights[node.input[1]], weights[node.input[2]]) for node in graph.graph.node if node.op_type == "Gemm"]
    temperature = next(node for node in graph.graph.node if node.output[0] == "logits").input[1]
    return roles, layers, float(weights[temperature])


class OutsideScorer:
    """The bundle's rows and head, with the bag built by `ngram_columns` for any negation window."""

    def __init__(self, bundle, flip: bool = False):
        offset, shape = table_location(bundle.model_path)
        table = np.fromfile(bundle.data_path, np.float16, shape[0] * shape[1], offset=offset).reshape(shape)
        table = table.astype(np.float32)
        self.vocab_size = shape[0] - NUM_BUCKETS
        if flip:
            flipping(self.vocab_size, -1.0)(table)
        self.table = torch.from_numpy(table)
        graph = onnx.load(str(bundle.model_path), load_external_data=False)
        self.roles, self.layers, self.temperature = graph_parts(graph, self.vocab_size)
        self.tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)

    def config(self, window: int, extra_ends: list[int]) -> SentimentBagConfig:
        ends = sorted({*np.flatnonzero(self.roles == 2).tolist(), *extra_ends})
        return SentimentBagConfig(
            vocab_size=self.vocab_size, ngram_size=2, num_buckets=NUM_BUCKETS, ngram_hash_multiplier=HASH_MULTIPLIER,
            distinct_ngrams=True, negation_window=window, negation_cue_ids=np.flatnonzero(self.roles == 1).tolist(),
            scope_end_ids=ends,
        )  # fmt: skip

    def positive(self, texts: list[str], config: SentimentBagConfig) -> np.ndarray:
        """P(positive) of every text."""
        return np.concatenate([self._batch(texts[k : k + BATCH], config) for k in range(0, len(texts), BATCH)])

    def _batch(self, texts: list[str], config: SentimentBagConfig) -> np.ndarray:
        ids, offsets = (torch.from_numpy(array) for array in encode(self.tokenizer, texts))
        columns, weights, bags = ngram_columns(ids, offsets, config)
        sums = torch.zeros(len(texts), self.table.shape[1])
        for rows in columns:
            sums.index_add_(0, bags, self.table[rows])
        counts = torch.zeros(len(texts)).index_add_(0, bags, sum(weights))
        hidden = (sums / counts.clamp(min=1).sqrt().unsqueeze(1)).numpy()
        (w1, b1), (w2, b2) = self.layers
        logits = (np.maximum(hidden @ w1.T + b1, 0) @ w2.T + b2) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return probabilities[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="the bundle folder; defaults to the shipped one")
    parser.add_argument("--windows", type=int, nargs="+", default=[3, 99])
    parser.add_argument("--but-ends-scope", action="store_true", help='"but" also ends a negation scope')
    parser.add_argument("--flip", action="store_true", help="scoped rows set to minus the word's row first")
    parser.add_argument("--dataset", nargs="+", required=True, help="the datasets, as given to train")
    args = parser.parse_args()
    from sentiment_batch.train.splits import load_splits

    bundle = load_bundle(args.bundle)
    scorer = OutsideScorer(bundle, args.flip)
    vocab = json.loads(bundle.tokenizer_path.read_text(encoding="utf-8"))["model"]["vocab"]
    extra_ends = [vocab["but"]] if args.but_ends_scope else []
    cases = generate()
    texts = [case.text for case in cases]
    paired = [index for index, case in enumerate(cases) if case.variant is not None]
    ids, offsets = encode(scorer.tokenizer, texts)
    graph = open_bundle_session(bundle).run(["probabilities"], {"input_ids": ids, "offsets": offsets})[0][:, 1]
    if not args.flip:
        gap = np.abs(scorer.positive(texts, scorer.config(3, [])) - graph).max()
        print(f"window 3 against the graph: largest P(positive) difference {gap:.1e} on the suite's texts\n")
    validation = load_splits(args.dataset)["validation"]
    names = validation.features["label"].names
    sources = np.array(validation["source"])
    labels = np.array([names[label] == POSITIVE for label in validation["label"]])
    print(f"| window | {' | '.join(CAPABILITIES)} | all | mean accuracy over sources | IMDb |")
    print("|---:|" + "---:|" * (len(CAPABILITIES) + 3))
    for window in args.windows:
        config = scorer.config(window, extra_ends)
        variant_scores = np.full(len(cases), np.nan)
        variant_scores[paired] = scorer.positive([cases[index].variant for index in paired], config)
        wrong = failures(cases, scorer.positive(texts, config), variant_scores)
        rates = [wrong[[case.capability == capability for case in cases]].mean() for capability in CAPABILITIES]
        right = (scorer.positive(list(validation["text"]), config) >= 0.5) == labels
        accuracy = np.mean([right[sources == source].mean() for source in np.unique(sources)])
        cells = " | ".join(f"{value:.1%}" for value in [*rates, wrong.mean()])
        print(f"| {window} | {cells} | {accuracy:.2%} | {right[sources == 'imdb'].mean():.2%} |")


if __name__ == "__main__":
    main()
