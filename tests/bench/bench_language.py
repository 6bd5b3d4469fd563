"""The language check on real English reviews and on the project's own cases; and the identifiers it was chosen
among.

    python tests/bench/bench_language.py --imdb ../shared/imdb/aclImdb_train.tar.gz \
        --reviews ../shared/reviews/reviews.parquet --rows 100000
    python tests/bench/bench_language.py --compare   # needs py3langid and pycld2 installed beside it

The first prints how many rows of each English corpus are flagged (with row ids and a short excerpt of each, to
see whether they are indeed not English) and how many of `tests/language_cases.py` get their code. The second
compares fastText's `lid.176.ftz`, py3langid and pycld2 on the cases' accuracy, English false alarms and speed.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from behaviour_cases import CAPABILITIES  # noqa: E402
from language_cases import ENGLISH_SHORT, OTHER  # noqa: E402
from sentiment_batch import language  # noqa: E402
from sentiment_batch.bundle import load_bundle  # noqa: E402
from sentiment_batch.preprocessing import encode, load_tokenizer  # noqa: E402

ENGLISH = [text for cases in CAPABILITIES.values() for text, _ in cases] + ENGLISH_SHORT
FOREIGN = [(code, text) for code, texts in OTHER.items() for text in texts]


def imdb_reviews(path: Path) -> list[tuple[str, str]]:
    """(member name, text) of every review of aclImdb's train/ (pos, neg, unsup)."""
    with tarfile.open(path) as archive:
        return [
            (member.name, archive.extractfile(member).read().decode("utf-8"))
            for member in archive
            if member.isfile()
            and "/train/" in member.name
            and member.name.endswith(".txt")
            and "urls_" not in member.name
        ]


def flagged(tokenizer, texts: list[str], batch: int = 2048) -> list[str | None]:
    """The scorer's check: the unknown-word gate, then the identifier on the rows it lets through."""
    unknown_id, words = language.word_ids(tokenizer)
    found: list[str | None] = []
    for start in range(0, len(texts), batch):
        chunk = pa.array(texts[start : start + batch], pa.large_string())
        ids, offsets = encode(tokenizer, chunk)
        rows = language.unknown_word_shares(ids, offsets, unknown_id, words) >= language.UNKNOWN_SHARE
        found += language.other_languages(chunk, {"en"}, rows)
    return found


def report(name: str, ids: list[str], texts: list[str], codes: list[str | None]) -> None:
    hits = [(row_id, text, code) for row_id, text, code in zip(ids, texts, codes, strict=True) if code]
    print(f"{name}: {len(hits)} of {len(texts)} flagged ({len(hits) / len(texts):.4%})")
    for row_id, text, code in hits[:40]:
        print(f"  {row_id}\t{code}\t{' '.join(text.split())[:60]!r}")


def real_data(args: argparse.Namespace) -> None:
    bundle = load_bundle(None)
    tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)
    found = flagged(tokenizer, [text for _, text in FOREIGN])
    right = sum(code == expected for (expected, _), code in zip(FOREIGN, found, strict=True))
    misses = [(expected, code) for (expected, _), code in zip(FOREIGN, found, strict=True) if code != expected]
    print(f"other languages ({len(OTHER)}): {right} of {len(FOREIGN)} get their code ({right / len(FOREIGN):.1%})")
    print(f"  misses: {misses}")
    print(f"short English cases flagged: {sum(map(bool, flagged(tokenizer, ENGLISH)))} of {len(ENGLISH)}")
    start = time.perf_counter()
    imdb = imdb_reviews(args.imdb)
    report(
        "IMDb train (pos, neg, unsup)",
        [n for n, _ in imdb],
        [t for _, t in imdb],
        flagged(tokenizer, [t for _, t in imdb]),
    )
    table = pq.read_table(args.reviews, columns=["text", "source"])
    picked = np.sort(np.random.default_rng(0).choice(table.num_rows, min(args.rows, table.num_rows), replace=False))
    texts = table.column("text").take(picked).to_pylist()
    report(
        f"reviews.parquet (random {len(picked)} rows, seed 0)",
        [f"row {r}" for r in picked],
        texts,
        flagged(tokenizer, texts),
    )
    print(f"({time.perf_counter() - start:.0f} s)")


def fasttext_lid():
    language.identify(["warm up"])
    return lambda text: language.identify([text])[0]


def py3langid_lid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return identifier.classify


def cld2_lid():
    import pycld2

    def identify(text):
        reliable, _, details = pycld2.detect("".join(c for c in text if c.isprintable()))
        code = {"iw": "he"}.get(details[0][1], details[0][1])
        return (code if reliable else "un"), details[0][2] / 100

    return identify


def compare(args: argparse.Namespace) -> None:
    imdb = [text for _, text in imdb_reviews(args.imdb)[:2000]]
    for name, make in {"fastText lid.176.ftz": fasttext_lid, "py3langid": py3langid_lid, "pycld2": cld2_lid}.items():
        identify = make()
        for threshold in (0.5, 0.8):
            right = sum(
                code == expected and p >= threshold for expected, text in FOREIGN for code, p in [identify(text)]
            )
            english = sum(code != "en" and p >= threshold for text in ENGLISH for code, p in [identify(text)])
            print(f"{name}, p >= {threshold}: {right}/{len(FOREIGN)} right, {english}/{len(ENGLISH)} English flagged")
        start = time.perf_counter()
        for text in imdb:
            identify(text[: language.PREFIX])
        print(
            f"{name}: {len(imdb) / (time.perf_counter() - start):,.0f} IMDb reviews/s (first {language.PREFIX} chars)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=Path("../shared/imdb/aclImdb_train.tar.gz"))
    parser.add_argument("--reviews", type=Path, default=Path("../shared/reviews/reviews.parquet"))
    parser.add_argument("--rows", type=int, default=100_000, help="rows of reviews.parquet, drawn at random")
    parser.add_argument("--compare", action="store_true", help="compare the candidate identifiers instead")
    args = parser.parse_args()
    compare(args) if args.compare else real_data(args)


if __name__ == "__main__":
    main()
