"""Evidence: the phrases that decided each score, in the API, the CLI and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import VARIED_TEXTS
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


@pytest.fixture(scope="module")
def scorer(tiny_bundle):
    with Scorer.from_bundle(tiny_bundle, threads=2, batch_size=3) as scorer:
        yield scorer


def test_top_phrases_add_up_a_phrases_rows_and_keep_the_heaviest_first():
    # Two reviews: tokens 0-3 and 4-5; n-gram sizes 1 and 2; -1 where no n-gram is in the bag.
    rows = np.array([[7, 20], [8, 21], [7, 22], [9, -1], [7, 23], [9, -1]])
    evidence = np.array([[0.5, 0.1], [-0.2, 0.3], [0.5, 0.05], [0.05, 0.0], [0.4, 0.6], [-0.1, 0.0]], np.float32)
    spans = np.array([[0, 3], [4, 8], [9, 12], [13, 15], [0, 3], [4, 6]])
    review, start, end, weight = top_phrases(evidence, rows, spans, np.array([0, 4]), k=2)
    # Row 7 occurs twice in review 0: one phrase, its two shares added, spanning its first occurrence; a bigram
    # spans both its tokens; the same row in review 1 is another phrase.
    assert review.tolist() == [0, 0, 1, 1]
    assert list(zip(start.tolist(), end.tolist(), strict=True)) == [(0, 3), (4, 12), (0, 6), (0, 3)]
    assert weight.tolist() == pytest.approx([1.0, 0.3, 0.6, 0.4])


def test_every_piece_of_evidence_is_an_exact_substring_ranked_by_weight(scorer):
    results = scorer.predict(TEXTS, explain=3)
    plain = scorer.predict(TEXTS)
    for text, result, without in zip(TEXTS, results, plain, strict=True):
        # Explaining changes no answer, to the last bit.
        assert {key: result[key] for key in without} == without
        if result["error"]:
            assert result["evidence"] is None
            continue
        evidence = result["evidence"]
        assert 1 <= len(evidence) <= 3 or not text.strip()
        assert all(entry["phrase"] and entry["phrase"] in text for entry in evidence)
        weights = [entry["weight"] for entry in evidence]
        assert weights == sorted(weights, reverse=True)
    assert all("evidence" not in result for result in plain)
    assert [entry["phrase"] for entry in results[3]["evidence"]] == ["great"]


def test_the_phrases_are_the_reviews_distinct_words_bigrams_and_trigrams(scorer):
    evidence = scorer.predict(["Good film, good acting"], explain=100)[0]["evidence"]
    # Tokens: good film , good acting. Each n-gram once, as its first occurrence is written.
    assert sorted(entry["phrase"] for entry in evidence) == sorted(
        [
            "Good",
            "film",
            ",",
            "acting",
            "Good film",
            "film,",
            ", good",
            "good acting",
            "Good film,",
            "film, good",
            ", good acting",
        ]
    )


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


def random_batch(generator, sizes: int):
    """Evidence with ties, rows with repeats, and no n-gram past its review's end, as the explain graph gives."""
    lengths = generator.integers(0, 60, int(generator.integers(1, 40)))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tokens = int(lengths.sum())
    rows = generator.integers(0, 30, (tokens, sizes)).astype(np.int64)
    rows[generator.random((tokens, sizes)) < 0.2] = -1
    ends = np.repeat(offsets + lengths, lengths)
    rows[np.arange(tokens)[:, None] + np.arange(sizes) >= ends[:, None]] = -1
    evidence = generator.integers(-5, 6, (tokens, sizes)).astype(np.float32) / 4
    return evidence, rows, np.stack([np.arange(tokens), np.arange(tokens) + 1], axis=1), offsets


def test_the_compiled_grouping_gives_the_numpy_phrases_weights_and_order(monkeypatch):
    from sentiment_batch import explain

    pytest.importorskip("sentiment_batch._top_phrases", reason="the C extension was not built (no C compiler)")
    generator = np.random.default_rng(0)
    for trial in range(40):
        batch = random_batch(generator, sizes=int(generator.integers(1, 4)))
        k = int(generator.integers(1, 8))
        compiled = explain.top_phrases(*batch, k)
        with monkeypatch.context() as patch:
            patch.setattr(explain, "_top_phrases", None)
            reference = explain.top_phrases(*batch, k)
        for got, expected in zip(compiled, reference, strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial}")


def test_the_compiled_grouping_refuses_inconsistent_buffers():
    compiled = pytest.importorskip("sentiment_batch._top_phrases", reason="the C extension was not built")
    evidence, rows = np.zeros(6, np.float32), np.zeros(6, np.int64)
    out = (np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="offsets"):
        compiled.top_phrases(evidence, rows, 2, np.array([0, 4], np.int64), 3, 1, *out)
    with pytest.raises(ValueError, match="rows"):
        compiled.top_phrases(evidence, rows[:4], 2, np.array([0, 1], np.int64), 3, 1, *out)
    with pytest.raises(ValueError, match="weight"):
        compiled.top_phrases(evidence, rows, 2, np.array([0, 1], np.int64), 3, 1, *out[:2], np.zeros(1, np.float32))
