"""The language check: other languages named with their code, English never, short texts never."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from behaviour_cases import CAPABILITIES
from language_cases import ENGLISH_SHORT, OTHER
from sentiment_batch import Scorer, language
from sentiment_batch.bundle import load_bundle
from sentiment_batch.cli import main as cli_main
from sentiment_batch.preprocessing import encode, load_tokenizer

ENGLISH = [text for cases in CAPABILITIES.values() for text, _ in cases] + ENGLISH_SHORT
FOREIGN = [(code, text) for code, texts in OTHER.items() for text in texts]


@pytest.fixture(scope="module")
def shipped_tokenizer():
    bundle = load_bundle(None)
    return load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)


def shares(tokenizer, texts):
    ids, offsets = encode(tokenizer, pa.array(texts, pa.large_string()))
    return language.unknown_word_shares(ids, offsets, *language.word_ids(tokenizer))


def test_reviews_in_other_languages_get_their_code():
    assert len(OTHER) >= 12
    found = language.other_languages([text for _, text in FOREIGN], {"en"})
    right = sum(code == expected for (expected, _), code in zip(FOREIGN, found, strict=True))
    assert right >= 0.95 * len(FOREIGN), [
        (expected, code) for (expected, _), code in zip(FOREIGN, found, strict=True) if code != expected
    ]


def test_english_and_short_texts_are_never_flagged():
    assert language.other_languages(ENGLISH, {"en"}) == [None] * len(ENGLISH)
    # A French bundle's check flags English, but never a text too short to tell.
    found = language.other_languages(ENGLISH_SHORT + ["The room was clean and the staff were friendly."], {"fr"})
    assert found[-1] == "en"
    too_short = [code for text, code in zip(ENGLISH_SHORT, found, strict=False) if not language.confident(text, 1.0)]
    assert len(too_short) >= 20 and set(too_short) == {None}


def test_only_the_rows_asked_for_are_identified_and_arrow_columns_are_read_as_they_are():
    texts = pa.array(["Das Zimmer war sauber und das Frühstück sehr lecker.", "Il cibo era ottimo ma lento."] * 2)
    assert language.other_languages(texts, {"en"}, rows=np.array([True, False, False, True])) == [
        "de",
        None,
        None,
        "it",
    ]
    assert language.other_languages(texts, {"en", "de", "it"}) == [None] * 4
    assert language.other_languages([], {"en"}) == []


def test_the_vocabulary_knows_most_words_of_english_and_few_of_other_languages(shipped_tokenizer):
    english = shares(shipped_tokenizer, [text for text in ENGLISH if any(c.isalpha() for c in text)])
    foreign = shares(shipped_tokenizer, [text for _, text in FOREIGN])
    assert np.mean(english < language.UNKNOWN_SHARE) > 0.95
    assert foreign.min() >= language.UNKNOWN_SHARE


def test_unknown_word_shares_count_words_not_punctuation():
    words = np.array([False, True, True, False, True])  # id 3 is punctuation, 1 the unknown word
    ids = np.array([2, 1, 3, 3, 1, 3, 1])
    offsets = np.array([0, 2, 2, 4, 7])  # [2, 1], an empty review, [3, 3], [1, 3, 1], an empty review
    shares = language.unknown_word_shares(ids, offsets, 1, words)
    np.testing.assert_allclose(shares, [0.5, 0.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(language.unknown_word_shares(ids, offsets, None, words), [0.0] * 5)


def test_short_texts_need_a_surer_identification_and_the_shortest_none():
    assert not language.confident("Gracias!!", 1.0)
    assert not language.confident("10/10 A+", 1.0)
    assert language.confident("Très bon hôtel", 0.95) and not language.confident("Très bon hôtel", 0.8)
    assert language.confident("Das Zimmer war sehr sauber", 0.6)
    assert language.confident("快递很慢，客服态度也不好。", 0.6)  # eleven letters, two "words"


@pytest.fixture(scope="module")
def shipped():
    with Scorer.from_bundle(threads=2) as scorer:
        yield scorer


def test_the_scorer_does_not_score_rows_in_another_language_and_scores_their_neighbours(shipped):
    assert shipped.languages == ("en",)
    texts = [text for _, text in FOREIGN] + ENGLISH
    results = shipped.predict(texts, explain=2)
    right = sum(result["error"] == f"not English ({code})" for (code, _), result in zip(FOREIGN, results, strict=False))
    assert right >= 0.95 * len(FOREIGN)
    for result in results[: len(FOREIGN)]:
        if result["error"]:
            assert result["label"] is result["probabilities"] is result["evidence"] is None
    assert [result["error"] for result in results[len(FOREIGN) :]] == [None] * len(ENGLISH)


def test_languages_none_scores_every_row_and_a_set_adds_its_languages(shipped):
    spanish = [text for code, text in FOREIGN if code == "es"]
    french = [text for code, text in FOREIGN if code == "fr"]
    with Scorer.from_bundle(threads=1, languages=None) as anything:
        assert [result["error"] for result in anything.predict(spanish + french)] == [None] * 8
    with Scorer.from_bundle(threads=1, languages={"en", "es"}) as both:
        errors = [result["error"] for result in both.predict(spanish + french)]
    assert errors == [None] * 4 + ["not English or Spanish (fr)"] * 4
    with pytest.raises(TypeError, match="languages must be a collection"):
        Scorer.from_bundle(languages="en")
    with pytest.raises(ValueError, match="ISO 639-1"):
        Scorer.from_bundle(languages={"English"})


def test_score_refuses_other_languages_unless_told_to_score_every_row(tmp_path, capsys):
    pq.write_table(pa.table({"text": ["Great movie, loved it", OTHER["de"][0], "ok"]}), tmp_path / "in.parquet")
    for extra, expected in (([], [None, "not English (de)", None]), (["--any-language"], [None, None, None])):
        output = tmp_path / f"out{len(extra)}.parquet"
        argv = ["score", str(tmp_path / "in.parquet"), "--output", str(output), "--no-progress", *extra]
        assert cli_main(argv) == 0, capsys.readouterr().err
        assert pq.read_table(output).column("error").to_pylist() == expected


@pytest.mark.parametrize("languages", [None, [], ["English"], "en", [1]])
def test_a_bundle_must_name_the_languages_it_reads(bundle_copy, languages):
    import json

    from sentiment_batch.errors import UserError

    manifest = json.loads((bundle_copy / "bundle.json").read_text())
    assert manifest["languages"] == ["en"]  # export wrote the model's languages
    if languages is None:
        del manifest["languages"]
    else:
        manifest["languages"] = languages
    (bundle_copy / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="languages"):
        load_bundle(bundle_copy)
