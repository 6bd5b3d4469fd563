"""Where negation fails (issue #32): the suite's negation cases by whether the negated word is inside the shipped
negation scope, and a variant of the bundle whose negation cues weigh nothing themselves.

A case's negated word is its last word from the suite's adjective and verb lists; it is in scope when a negation
cue (`train.tokenization.NEGATION_CUES`) comes at most `--window` tokens before it with no scope end
(`SCOPE_END`: punctuation) between, as the shipped graph reads it (`modeling.negation_scope`). `--window 99` shows
what a scope running to the clause's end would cover. With `--output`, also writes `cues-zeroed`: the cues' own
rows of the table set to zero (their bigrams and the negated words' rows kept); measure it with
`bench_behaviour.py` and `bench_domains.py`.

    python tests/bench/bench_negation.py --bundle shipped=sentiment_batch/default_bundle \
        --bundle 0.2.0=/tmp/bundle-0.2.0/sentiment_batch/default_bundle --output /tmp/negation
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from bench_behaviour import positive_scores
from bench_identity import negated_row, write_variant, zeroing

from sentiment_batch import Scorer
from sentiment_batch.bundle import load_bundle
from sentiment_batch.preprocessing import load_tokenizer
from sentiment_batch.train.tokenization import NEGATION_CUES, SCOPE_END

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from behaviour_suite import ADJECTIVES, POSITIVE, VERB_PHRASES, VERBS, failed, generate  # noqa: E402

POLAR_WORDS = {word for words in [*ADJECTIVES.values(), *VERBS.values()] for word in words} | {
    phrase.split()[0] for phrases in VERB_PHRASES.values() for phrase in phrases
}


def in_scope(tokens: list[str], window: int) -> bool:
    """Whether the last polar word of a tokenized text follows a cue within `window` tokens, no scope end between;
    a polar word the vocabulary lacks (`[UNK]`) stands in for it."""
    found = [index for index, token in enumerate(tokens) if token in POLAR_WORDS]
    found = found or [index for index, token in enumerate(tokens) if token == "[UNK]"]
    for before in reversed(tokens[max(found[-1] - window, 0) : found[-1]]):
        if before in NEGATION_CUES:
            return True
        if SCOPE_END.fullmatch(before):
            return False
    return False


def flipping(vocab_size: int, factor: float):
    """An edit of the table that sets every word's row inside a negation scope to `factor` times its own row."""

    def edit(table: np.ndarray) -> None:
        ids = np.arange(vocab_size, dtype=np.int64)
        table[negated_row(ids, vocab_size)] = np.asarray(table[ids], np.float32) * factor

    return edit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", action="append", required=True, metavar="NAME=PATH", help="a bundle to score")
    parser.add_argument("--window", type=int, default=3, help="tokens a negation scope covers")
    parser.add_argument("--output", type=Path, default=None, help="write the cues-zeroed variant of the first bundle")
    args = parser.parse_args()
    bundles = [(name, path) for name, _, path in (item.partition("=") for item in args.bundle)]
    cases = [case for case in generate() if case.capability == "negation"]
    tokenizer = load_tokenizer(bundles[0][1])
    tokens = [
        encoding.tokens for encoding in tokenizer.encode_batch([case.text for case in cases], add_special_tokens=False)
    ]
    scope = np.array([in_scope(row, args.window) for row in tokens])
    positive = np.array([case.expected == POSITIVE for case in cases])
    wrong = {}
    for name, path in bundles:
        with Scorer.from_bundle(path, languages=None) as scorer:  # every case is English
            scores = positive_scores(scorer, [case.text for case in cases])
        wrong[name] = np.array([failed(case, score) for case, score in zip(cases, scores, strict=True)])
    print(f"window {args.window}\n\n| negated word | negated | cases | " + " | ".join(wrong) + " |")
    print("|---|---|---:|" + "---:|" * len(wrong))
    for where, inside in (("in scope", scope), ("out of scope", ~scope)):
        for what, kind in (("a negative (expect positive)", positive), ("a positive (expect negative)", ~positive)):
            rows = inside & kind
            print(
                f"| {where} | {what} | {rows.sum()} | "
                + " | ".join(f"{flags[rows].mean():.1%}" for flags in wrong.values())
                + " |"
            )
    if args.output:
        bundle = load_bundle(bundles[0][1])
        vocab = json.loads(bundle.tokenizer_path.read_text(encoding="utf-8"))["model"]["vocab"]
        cues = np.array([vocab[cue] for cue in NEGATION_CUES if cue in vocab], dtype=np.int64)
        write_variant(bundle, args.output / "cues-zeroed", zeroing(cues))
        vocab_size = len(vocab)
        for name, factor in (("flipped", -1.0), ("half-flipped", -0.5)):
            write_variant(bundle, args.output / name, flipping(vocab_size, factor))
        print(f"\nwrote cues-zeroed ({len(cues)} cue rows zeroed), flipped and half-flipped into {args.output}")


if __name__ == "__main__":
    main()
