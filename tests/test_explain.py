"""Evidence: the phrases that decided each score, in the API, the CLI and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import VARIED_TEXTS, phrase_problem
from sentiment_batch import Scorer
from sentiment_batch.cli import main as cli_main
from sentiment_batch.errors import UserError
from sentiment_batch.explain import EVIDENCE_TYPE, evidence_json, top_phrases

TEXTS = [
    "A wonderful, moving film.<br /><br />The acting is superb and I loved every minute!",
    "Terrible. Terrible plot, wooden acting, terrible ending.",
    "Ein großartiger Film … café ﬁne 😀",
    "great",
    "   ",
    None,
    *VARIED_TEXTS,
]
MIXED = "The food was amazing but the service was painfully slow. Slow, slow, slow."


@pytest.fixture(scope="module")
def scorer(tiny_bundle):
    with Scorer.from_bundle(tiny_bundle, threads=2, batch_size=3) as scorer:
        yield scorer


def test_phrases_are_whole_words_holding_every_share_read_as_them():
    # "not bad. 10/10": tokens not, bad, ., 10, /, 10; n-gram sizes 1 and 2; -1 where no n-gram is in the bag.
    column = pa.array(["not bad. 10/10"], pa.large_string())
    spans = np.array([[0, 3], [4, 7], [7, 8], [9, 11], [11, 12], [12, 14]])
    rows = np.array([[1, 11], [2, 12], [3, 13], [4, 14], [5, 15], [-1, -1]])
    shares = np.array([[-2.0, 1.5], [-1.0, 0.25], [0.125, 0.5], [0.5, 0.25], [0.25, 0.5], [9.0, 9.0]], np.float32)
    review, start, end, weight = top_phrases(shares, rows, spans, np.array([0]), 2, column)
    phrases = [column[0].as_py()[a:b] for a, b in zip(start.tolist(), end.tolist(), strict=True)]
    # "bad" holds bad, "bad ." and "." (punctuation goes to the word before); "10/10" holds every n-gram of its
    # tokens and ". 10"; nothing is a fragment like "10/" or ".".
    # Two for the label and two against, by absolute weight; a tie goes to the first to occur.
    expected = [("not", -2.0), ("10/10", 2.0), ("not bad", 1.5), ("bad", -0.625)]
    assert list(zip(phrases, weight.tolist(), strict=True)) == expected and review.tolist() == [0] * 4
    _, _, _, everything = top_phrases(shares, rows, spans, np.array([0]), 10, column)
    assert sorted(everything.tolist()) == [-2.0, -0.625, 1.5, 2.0] and everything.sum() == shares[:5].sum()
    assert top_phrases(shares, rows, spans, np.array([0]), 1, column)[3].tolist() == [-2.0, 2.0]


def test_a_mixed_review_shows_phrases_on_both_sides():
    with Scorer.from_bundle(threads=1) as shipped:
        [result] = shipped.predict([MIXED], explain=3)
    assert result["label"] == "negative"
    phrases = {entry["phrase"]: entry["weight"] for entry in result["evidence"]}
    assert phrases["slow"] > 0 and phrases["amazing"] < 0
    assert [abs(w) for w in phrases.values()] == sorted((abs(w) for w in phrases.values()), reverse=True)
    assert sum(w > 0 for w in phrases.values()) <= 3 and sum(w < 0 for w in phrases.values()) <= 3


def test_every_piece_of_evidence_is_whole_words_of_the_review_ranked_by_weight(scorer):
    results = scorer.predict(TEXTS, explain=3)
    plain = scorer.predict(TEXTS)
    for text, result, without in zip(TEXTS, results, plain, strict=True):
        # Explaining changes no answer, to the last bit.
        assert {key: result[key] for key in without} == without
        if result["error"]:
            assert result["evidence"] is None
            continue
        evidence = result["evidence"]
        assert len(evidence) <= 6 and [phrase_problem(text, entry["phrase"]) for entry in evidence] == [None] * len(
            evidence
        )
        assert len({entry["phrase"].lower() for entry in evidence}) == len(evidence)
        weights = [abs(entry["weight"]) for entry in evidence]
        assert weights == sorted(weights, reverse=True)
    assert all("evidence" not in result for result in plain)
    assert [entry["phrase"] for entry in results[3]["evidence"]] == ["great"]


def test_the_phrases_are_the_reviews_distinct_runs_of_words(scorer):
    evidence = scorer.predict(["Good film, good acting"], explain=100)[0]["evidence"]
    # Tokens: good film , good acting. The comma goes to "film"; "good" twice is one phrase, as first written.
    assert sorted(entry["phrase"] for entry in evidence) == sorted(
        ["Good", "film", "acting", "Good film", "film, good", "good acting"]
    )


def test_any_k_is_capped_at_the_phrases_a_review_has(scorer):
    everything = scorer.predict(TEXTS, explain=1000)
    assert scorer.predict(TEXTS, explain=10**9) == everything
    assert scorer.predict(TEXTS[:2], explain=2**70) == everything[:2]


def test_the_weights_add_up_to_the_margin_less_the_bias_no_word_carries(tiny_model_dir, tiny_bundle):
    import torch

    from sentiment_batch.export.scoring_module import ScoringModule
    from sentiment_batch.preprocessing import encode, load_tokenizer
    from sentiment_batch.train import SentimentBagForSequenceClassification

    texts = [TEXTS[0], TEXTS[1], MIXED, "great"]
    with Scorer.from_bundle(tiny_bundle) as tiny:
        results = tiny.predict(texts, explain=10**6)
    module = ScoringModule(SentimentBagForSequenceClassification.from_pretrained(tiny_model_dir).eval())
    ids, offsets = encode(load_tokenizer(tiny_bundle), texts)
    pooled = module.pool(torch.from_numpy(ids), torch.from_numpy(offsets)).detach().requires_grad_()
    logits = module.head(pooled)
    for row, result in enumerate(results):
        label = tiny.labels.index(result["label"])
        margin = logits[row, label] - torch.cat([logits[row, :label], logits[row, label + 1 :]]).mean()
        (gradient,) = torch.autograd.grad(margin, pooled, retain_graph=True)
        bias = float((margin - gradient[row] @ pooled[row]).detach())  # this linear piece's margin at no words
        probabilities = np.log([result["probabilities"][name] for name in tiny.labels])
        documented = probabilities[label] - np.delete(probabilities, label).mean()  # the margin, from the output
        assert sum(entry["weight"] for entry in result["evidence"]) + bias == pytest.approx(documented, abs=2e-4)


def test_explain_is_checked_like_the_other_options(scorer):
    with pytest.raises(TypeError, match="explain must be an int"):
        scorer.predict(["great"], explain=2.5)
    with pytest.raises(ValueError, match="explain must be at least 0"):
        scorer.predict(["great"], explain=-1)
    assert scorer.output_names(explain=2) == ["label", "score", "prob_negative", "prob_positive", "evidence", "error"]


def test_dataframes_and_arrow_batches_get_an_evidence_column(scorer):
    import pandas as pd

    df = pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}, index=range(10, 10 + len(TEXTS)))
    expected = [result["evidence"] for result in scorer.predict(TEXTS, explain=2)]
    scored = scorer.score_dataframe(df, explain=2)
    assert list(scored.columns[-2:]) == ["evidence", "error"] and list(scored.index) == list(df.index)
    assert [None if value is None else list(value) for value in scored["evidence"]] == expected
    batch = pa.RecordBatch.from_pandas(df[["id", "text"]], preserve_index=False)
    [arrow] = list(scorer.score_batches([batch], explain=2))
    assert arrow.schema.field("evidence").type == EVIDENCE_TYPE
    assert arrow.column("evidence").to_pylist() == expected


def test_evidence_as_json_text_keeps_each_weight_as_float32_prints_it():
    column = pa.array([[{"phrase": "great", "weight": 0.1}], None, []], EVIDENCE_TYPE)
    assert evidence_json(column).to_pylist() == ['[{"phrase": "great", "weight": 0.1}]', None, "[]"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_score_explain_writes_evidence_in_each_format(tmp_path, capsys, tiny_bundle, fmt):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": range(len(TEXTS)), "text": TEXTS}), source)
    output = tmp_path / f"out.{fmt}"
    code = cli_main(["score", str(source), "--bundle", str(tiny_bundle), "--output", str(output), "--explain", "3"])
    assert code == 0, capsys.readouterr().err
    with Scorer.from_bundle(tiny_bundle) as scorer:
        expected = [result["evidence"] for result in scorer.predict(TEXTS, explain=3)]
    if fmt == "parquet":
        table = pq.read_table(output)
        assert table.schema.field("evidence").type == pa.list_(
            pa.struct([("phrase", pa.string()), ("weight", pa.float32())])
        )
        assert table.column("evidence").to_pylist() == expected
        assert table.column_names[-1] == "error"
    else:
        import pandas as pd

        cells = pd.read_csv(output, keep_default_na=False)["evidence"].tolist()
        parsed = [json.loads(cell) if cell else None for cell in cells]
        assert [None if entries is None else [e["phrase"] for e in entries] for entries in parsed] == [
            None if entries is None else [e["phrase"] for e in entries] for entries in expected
        ]


def test_a_bundle_without_an_explain_graph_is_refused_in_one_line(tmp_path, capsys, bundle_copy):
    manifest = json.loads((bundle_copy / "bundle.json").read_text())
    (bundle_copy / manifest.pop("explain_file")).unlink()
    del manifest["explain_sha256"]
    (bundle_copy / "bundle.json").write_text(json.dumps(manifest))
    with Scorer.from_bundle(bundle_copy) as scorer:
        assert scorer.predict(["great"])[0]["label"] in ("negative", "positive")  # scoring alone still works
        with pytest.raises(UserError, match="has no explain graph"):
            scorer.predict(["great"], explain=1)
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["great"]}), source)
    code = cli_main(["score", str(source), "--bundle", str(bundle_copy), "--output", str(tmp_path / "o.parquet")])
    assert code == 0
    argv = ["score", str(source), "--bundle", str(bundle_copy), "--output", str(tmp_path / "x.parquet")]
    code = cli_main([*argv, "--explain", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "has no explain graph" in err[-1] and not (tmp_path / "x.parquet").exists()


PIECES = ["ab", "Cd", "10", "é", "x2", ".", "'", "/", ",", "-", "😀", "..."]


def random_batch(generator, sizes: int):
    """Reviews of random words, punctuation and emoji, touching or apart, with ties in their shares and repeats in
    their rows, and no n-gram past its review's end, as the explain graph gives."""
    texts, spans, offsets = [], [], []
    for _ in range(int(generator.integers(1, 30))):
        offsets.append(len(spans))
        text = ""
        for piece in generator.choice(PIECES, int(generator.integers(0, 40))):
            text += " " if text and generator.random() < 0.5 else ""
            start = len(text.encode())
            text += piece
            spans.append([start, len(text.encode())])
        texts.append(text)
    tokens = len(spans)
    lengths = np.diff(offsets, append=tokens)
    rows = generator.integers(0, 30, (tokens, sizes)).astype(np.int64)
    rows[generator.random((tokens, sizes)) < 0.2] = -1
    ends = np.repeat(np.array(offsets) + lengths, lengths)
    rows[np.arange(tokens)[:, None] + np.arange(sizes) >= ends[:, None]] = -1
    shares = generator.integers(-5, 6, (tokens, sizes)).astype(np.float32) / 4
    spans = np.array(spans, np.int64).reshape(-1, 2)
    return shares, rows, spans, np.array(offsets, np.int64), pa.array(texts, pa.large_string())


def test_the_compiled_grouping_gives_the_python_phrases_weights_and_order(monkeypatch):
    from sentiment_batch import explain

    pytest.importorskip("sentiment_batch._top_phrases", reason="the C extension was not built (no C compiler)")
    generator = np.random.default_rng(0)
    for trial in range(60):
        shares, rows, spans, offsets, column = random_batch(generator, sizes=int(generator.integers(1, 4)))
        k = int(generator.integers(1, 8))
        compiled = explain.top_phrases(shares, rows, spans, offsets, k, column)
        with monkeypatch.context() as patch:
            patch.setattr(explain, "_top_phrases", None)
            reference = explain.top_phrases(shares, rows, spans, offsets, k, column)
        for got, expected in zip(compiled, reference, strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial}")


def test_the_compiled_grouping_refuses_inconsistent_buffers():
    compiled = pytest.importorskip("sentiment_batch._top_phrases", reason="the C extension was not built")
    shares, rows, spans = np.zeros(6, np.float32), np.zeros(6, np.int64), np.array([0, 1, 2, 3, 4, 5], np.int64)
    text, bases = b"abcdef", np.array([0, 3, 6], np.int64)
    out = (np.zeros(6, np.int64), np.zeros(6, np.int64), np.zeros(6, np.int64), np.zeros(6, np.float32))
    with pytest.raises(ValueError, match="offsets"):
        compiled.top_phrases(shares, rows, 2, np.array([0, 4], np.int64), 3, 1, spans, text, bases, *out)
    with pytest.raises(ValueError, match="rows"):
        compiled.top_phrases(shares, rows[:4], 2, np.array([0, 1], np.int64), 3, 1, spans, text, bases, *out)
    with pytest.raises(ValueError, match="spans"):
        compiled.top_phrases(shares, rows, 2, np.array([0, 1], np.int64), 3, 1, spans[:4], text, bases, *out)
    with pytest.raises(ValueError, match="weight"):
        compiled.top_phrases(
            shares, rows, 2, np.array([0, 1], np.int64), 3, 1, spans, text, bases, *out[:3], out[3][:1]
        )
