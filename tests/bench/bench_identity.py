"""What identity and name words weigh in a bundle, and two variants of it where they weigh nothing (issue #32).

Prints each listed word's standalone effect on the margin (positive minus negative logit of a review of that one
word, less that of an empty bag) and its rank among the whole vocabulary's, then writes two bundles into `--output`:

- `zeroed`: the listed words' own rows, and their rows inside a negation scope, set to zero; their bigrams kept;
- `no-weight`: the listed words (in the vocabulary or not) mapped to the padding id in `tokenizer.json`, and every
  bigram row the padding id hashes to set to zero: the words weigh nothing, alone or in a bigram (other bigrams
  hashed to those rows lose their weight too, which the validation accuracy measures).

The words are the suite's own lists (`behaviour_suite.IDENTITIES`, `NAMES`), so the suite's figures for these
variants are the best a list can do; words outside it keep their weight. Measure the variants with
`bench_behaviour.py` and `bench_domains.py`.

    python tests/bench/bench_identity.py --output /tmp/identity
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from sentiment_batch.bundle import graph_metadata, load_bundle, open_bundle_session, sha256_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from behaviour_suite import IDENTITIES, NAMES  # noqa: E402

# The shipped recipe's hashing (`SentimentBagConfig`'s defaults): rows after the vocabulary are 2**22 buckets.
NUM_BUCKETS = 1 << 22
HASH_MULTIPLIER = 1_000_003
PAD_ID = 0
REFERENCE_WORDS = ["great", "terrible", "good", "bad", "fine", "the", "food", "movie"]


def listed_words() -> list[str]:
    """The identity and name words, lower-cased and split as the tokenizer splits them (no hyphens, no spaces)."""
    phrases = [phrase for words in IDENTITIES.values() for phrase in words] + NAMES
    return sorted({word for phrase in phrases for word in phrase.lower().replace("-", " ").split()})


def table_location(graph: Path) -> tuple[int, tuple[int, int]]:
    """Byte offset of the word table in the weights file, and its shape."""
    model = onnx.load(str(graph), load_external_data=False)
    table = max(model.graph.initializer, key=lambda tensor: int(np.prod(tensor.dims)))
    offset = {entry.key: entry.value for entry in table.external_data}.get("offset", "0")
    return int(offset), tuple(table.dims)


def negated_row(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Row a word reads inside a negation scope (`modeling.ngram_columns`)."""
    return ((ids * HASH_MULTIPLIER + vocab_size) & (NUM_BUCKETS - 1)) + vocab_size


def standalone_margins(bundle, vocab_size: int) -> tuple[np.ndarray, float]:
    """Margin of a one-word review of every vocabulary id, and that of an empty bag (the padding row)."""
    session = open_bundle_session(bundle)
    ids = np.arange(vocab_size, dtype=np.int64)
    logits = session.run(["logits"], {"input_ids": ids, "offsets": ids})[0]
    margins = logits[:, 1] - logits[:, 0]
    return margins, float(margins[PAD_ID])


def write_variant(bundle, folder: Path, edit: Callable[[np.ndarray], None], padded_words: list[str] = ()) -> None:
    """A copy of `bundle` whose table `edit` changes in place and whose `padded_words` map to the padding id, its
    hashes and graph metadata written again so that it loads as any bundle."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(bundle.path, folder)
    manifest = bundle.manifest
    offset, shape = table_location(bundle.model_path)
    table = np.memmap(folder / manifest.data_file, dtype=np.float16, mode="r+", offset=offset, shape=shape)
    edit(table)
    table.flush()
    del table
    if padded_words:
        tokenizer = json.loads((folder / manifest.tokenizer_file).read_text(encoding="utf-8"))
        tokenizer["model"]["vocab"].update(dict.fromkeys(padded_words, PAD_ID))
        (folder / manifest.tokenizer_file).write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    data_sha, tokenizer_sha = sha256_file(folder / manifest.data_file), sha256_file(folder / manifest.tokenizer_file)
    metadata = graph_metadata(manifest.labels, tokenizer_sha, manifest.data_file, data_sha)
    hashes = {}
    for key, name in (("model_sha256", manifest.model_file), ("explain_sha256", manifest.explain_file)):
        if name is None:
            continue
        graph = onnx.load(str(folder / name), load_external_data=False)
        onnx.helper.set_model_props(graph, metadata)
        onnx.save(graph, str(folder / name))
        hashes[key] = sha256_file(folder / name)
    changed = dataclasses.replace(manifest, data_sha256=data_sha, tokenizer_sha256=tokenizer_sha, **hashes)
    changed.write(folder)
    load_bundle(folder)  # every hash checks


def zeroing(rows: np.ndarray) -> Callable[[np.ndarray], None]:
    """An edit of the table that sets `rows` to zero."""

    def edit(table: np.ndarray) -> None:
        table[rows] = 0

    return edit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="the bundle folder; defaults to the shipped one")
    parser.add_argument("--output", type=Path, required=True, help="folder for the two variants")
    parser.add_argument("--top", type=int, default=25, help="listed words to show, by |effect|")
    args = parser.parse_args()
    bundle = load_bundle(args.bundle)
    vocab = json.loads(bundle.tokenizer_path.read_text(encoding="utf-8"))["model"]["vocab"]
    _, (rows, _) = table_location(bundle.model_path)
    vocab_size = rows - NUM_BUCKETS
    margins, empty = standalone_margins(bundle, vocab_size)
    effects = margins - empty
    ranks = np.argsort(np.argsort(-np.abs(effects)))  # 0: the word that moves the margin most
    words = listed_words()
    known = [word for word in words if word in vocab]
    print(f"{len(words)} listed words, {len(known)} in the vocabulary of {vocab_size:,}\n")
    print("| word | effect on the margin | rank by \\|effect\\| |\n|---|---:|---:|")
    shown = sorted(known, key=lambda word: -abs(effects[vocab[word]]))[: args.top]
    for word in [*shown, *REFERENCE_WORDS]:
        print(f"| {word} | {effects[vocab[word]]:+.2f} | {ranks[vocab[word]] + 1:,} |")
    magnitudes = np.abs(effects[[vocab[word] for word in known]])
    print(f"\nmedian |effect|: listed words {np.median(magnitudes):.2f}, vocabulary {np.median(np.abs(effects)):.2f}")
    ids = np.array([vocab[word] for word in known], dtype=np.int64)
    write_variant(bundle, args.output / "zeroed", zeroing(np.concatenate([ids, negated_row(ids, vocab_size)])))
    every = np.arange(vocab_size, dtype=np.int64)
    # (pad, x) hashes to bucket x, (x, pad) to bucket x * multiplier; the padded words' negated row too.
    bigrams = np.concatenate([every, (every * HASH_MULTIPLIER) & (NUM_BUCKETS - 1)]) + vocab_size
    pad_rows = np.concatenate([[PAD_ID], negated_row(np.array([PAD_ID]), vocab_size), bigrams])
    write_variant(bundle, args.output / "no-weight", zeroing(pad_rows), words)
    print(f"\nwrote {args.output / 'zeroed'} and {args.output / 'no-weight'}")


if __name__ == "__main__":
    main()
