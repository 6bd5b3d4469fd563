"""The Python API: predict, score_dataframe, score_batches, per-row errors, batching and thread safety."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pandas as pd
import polars
import pyarrow as pa
import pytest

from helpers import REVIEWS, VARIED_TEXTS, probabilities
from sentiment_batch import Scorer
from sentiment_batch.bundle import load_bundle
from sentiment_batch.errors import UserError
from sentiment_batch.preprocessing import encode, load_tokenizer
from sentiment_batch.text import row_error, text_errors

TEXTS = [text for text, _ in REVIEWS] + [text for text in VARIED_TEXTS if text.strip()]
MIXED = [TEXTS[0], None, "", "   \n", 42, float("nan"), TEXTS[1], TEXTS[2]]
MIXED_ERRORS = [
    None,
    "null text",
    "empty text",
    "whitespace-only text",
    "non-string text (int)",
    "null text",
    None,
    None,
]


@pytest.fixture(scope="module")
def scorer(tiny_bundle):
    return Scorer.from_bundle(tiny_bundle, threads=1, batch_size=3)


def reference_probabilities(bundle_path, texts):
    """Straight through the shared preprocessing and onnxruntime, one call, no Scorer."""
    session = ort.InferenceSession(str(bundle_path / "model.onnx"), providers=["CPUExecutionProvider"])
    input_ids, offsets = encode(load_tokenizer(bundle_path), texts)
    return session.run(["probabilities"], {"input_ids": input_ids, "offsets": offsets})[0]


def test_row_error_reasons():
    assert [row_error(value) for value in MIXED] == MIXED_ERRORS
    assert row_error(pd.NA) == "null text"


# Blank or not by Python's str.isspace, which counts \x1c-\x1f and \x85 as space but not U+200B.
EDGE_TEXTS = [None, "", " ", "\t\n", "\u3000", "\x1c\x1f", "\x85", "\u200b", " a", "\u00a0x", "é", "x", "~", "\x7f"]


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
def test_text_errors_agree_with_row_error(arrow_type):
    values = EDGE_TEXTS + MIXED[:4] + [TEXTS[3]]
    column = pa.array(["pad", *values], type=arrow_type)[1:]  # a slice: offsets do not start at 0
    errors, ok = text_errors(column)
    expected = [row_error(value) for value in values]
    assert errors == expected
    assert ok.tolist() == [error is None for error in expected]


def test_arrow_columns_score_like_python_lists(scorer):
    values = [TEXTS[0], *EDGE_TEXTS, "good [UNK] film", *TEXTS[1:6]]
    from_list = scorer.score_values(values)
    from_arrow = scorer.score_values(pa.array(values, type=pa.string()))
    assert from_arrow.keys() == from_list.keys()
    for name in from_list:
        assert from_arrow[name].to_pylist() == pytest.approx(from_list[name].to_pylist(), abs=1e-7), name


def test_predict_matches_the_model_and_labels(scorer, tiny_bundle):
    expected = reference_probabilities(tiny_bundle, TEXTS)
    results = scorer.predict(TEXTS)
    assert len(results) == len(TEXTS)
    for result, probs in zip(results, expected, strict=True):
        assert result["error"] is None
        assert result["label"] == scorer.labels[int(np.argmax(probs))]
        assert result["score"] == pytest.approx(float(probs.max()), abs=1e-6)
        assert list(result["probabilities"].values()) == pytest.approx(probs.tolist(), abs=1e-6)


def test_predict_keeps_order_with_bad_rows(scorer):
    results = scorer.predict(MIXED)
    assert [result["error"] for result in results] == MIXED_ERRORS
    assert all(result["label"] is None and result["probabilities"] is None for result in results if result["error"])
    alone = scorer.predict([text for text, error in zip(MIXED, MIXED_ERRORS, strict=True) if error is None])
    assert [result for result in results if result["error"] is None] == alone


def test_batch_size_does_not_change_results(tiny_bundle, scorer):
    whole = Scorer.from_bundle(tiny_bundle, batch_size=1000).predict(TEXTS)
    one_by_one = Scorer.from_bundle(tiny_bundle, batch_size=1).predict(TEXTS)
    for a, b, c in zip(whole, one_by_one, scorer.predict(TEXTS), strict=True):
        assert a["label"] == b["label"] == c["label"]
        assert a["score"] == pytest.approx(b["score"], abs=1e-6) == pytest.approx(c["score"], abs=1e-6)


def test_score_dataframe_keeps_rows_index_and_columns(scorer):
    df = pd.DataFrame({"id": range(len(MIXED)), "text": MIXED, "other": list("abcdefgh")}, index=list("ABCDEFGH"))
    scored = scorer.score_dataframe(df)
    assert list(scored.columns) == ["id", "text", "other", "label", "score", "prob_negative", "prob_positive", "error"]
    assert list(scored.index) == list(df.index)
    pd.testing.assert_frame_equal(scored[df.columns], df)
    assert [None if pd.isna(error) else error for error in scored["error"]] == MIXED_ERRORS
    ok = scored["error"].isna()
    assert scored.loc[~ok, "score"].isna().all() and scored.loc[~ok, "label"].isna().all()
    assert np.allclose(scored.loc[ok, ["prob_negative", "prob_positive"]].sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(scored.loc[ok, "score"], scored.loc[ok, ["prob_negative", "prob_positive"]].max(axis=1))


def test_score_dataframe_errors(scorer):
    with pytest.raises(UserError, match=r"no column 'text'; its columns are \['review', 'id'\]"):
        scorer.score_dataframe(pd.DataFrame({"review": ["x"], "id": [1]}))
    with pytest.raises(UserError, match=r"already has column\(s\) \['label'\]"):
        scorer.score_dataframe(pd.DataFrame({"text": ["x"], "label": [1]}))
    scored = scorer.score_dataframe(pd.DataFrame({"text": ["great"], "label": [1]}), prefix="pred_")
    assert scored["label"].tolist() == [1] and scored["pred_label"].notna().all()


def test_score_batches_matches_dataframe(scorer):
    df = pd.DataFrame({"id": range(len(MIXED)), "text": pd.Series(MIXED[:4] + MIXED[6:] + MIXED[4:6], dtype=object)})
    df["text"] = df["text"].where(df["text"].map(lambda value: isinstance(value, str)), None)
    table = pa.Table.from_pandas(df, preserve_index=False)
    batches = list(scorer.score_batches(table.to_batches(max_chunksize=3), text_column="text"))
    assert [batch.num_rows for batch in batches] == [3, 3, 2]
    streamed = pa.Table.from_batches(batches).to_pandas()
    expected = scorer.score_dataframe(df)
    pd.testing.assert_frame_equal(streamed.drop(columns="text"), expected.drop(columns="text"), check_dtype=False)
    assert streamed["text"].isna().tolist() == expected["text"].isna().tolist()


def test_threads_give_the_same_results_as_sequential(scorer):
    chunks = [TEXTS[i:] + MIXED[: i % len(MIXED)] for i in range(len(TEXTS))] * 3
    sequential = [scorer.predict(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(scorer.predict, chunks))
    assert concurrent == sequential


def test_batches_side_by_side_give_the_sequential_result(tiny_bundle):
    texts = [text for text in TEXTS * 7 if text]  # many batches of 2, more than the look-ahead of 2 per thread
    # Same batches both ways: a review's float32 sums round by its place in the batch's 64-row blocks.
    parallel = Scorer.from_bundle(tiny_bundle, threads=3, batch_size=2)
    sequential = Scorer.from_bundle(tiny_bundle, threads=1, batch_size=2)
    np.testing.assert_array_equal(probabilities(parallel, texts), probabilities(sequential, texts))
    assert parallel.predict(texts) == sequential.predict(texts)


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"threads": 0}, ValueError, "threads must be at least 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"threads": 2.5}, TypeError, "threads must be an int"),
        ({"batch_size": "8"}, TypeError, "batch_size must be an int"),
    ],
)
def test_bad_settings_are_value_and_type_errors(tiny_bundle, settings, error, match):
    with pytest.raises(error, match=match):
        Scorer.from_bundle(tiny_bundle, **settings)


def test_predict_refuses_a_bare_string_and_takes_any_iterable(tiny_bundle):
    import pandas as pd

    scorer = Scorer.from_bundle(tiny_bundle)
    with pytest.raises(TypeError, match="single string"):
        scorer.predict("a wonderful film")
    with pytest.raises(TypeError, match="iterable"):
        scorer.predict(42)
    texts = ["a wonderful film", None, "dull"]
    expected = scorer.predict(texts)
    assert scorer.predict(iter(texts)) == expected
    assert scorer.predict(text for text in texts) == expected
    assert scorer.predict(tuple(texts)) == expected
    assert scorer.predict(pd.Series(texts)) == expected
    assert scorer.predict(pa.array(texts)) == expected
    assert scorer.predict(pa.chunked_array([texts[:1], texts[1:]], pa.large_string())) == expected
    assert scorer.predict([]) == []


def test_scorer_owns_one_thread_pool(tiny_bundle):
    import threading

    def pool_threads():
        return {thread for thread in threading.enumerate() if thread.name.startswith("sentiment-batch")}

    before = pool_threads()
    with Scorer.from_bundle(tiny_bundle, threads=2, batch_size=1) as scorer:
        for _ in range(3):
            scorer.predict(["great", "awful", "fine", "dull"])
        assert len(pool_threads() - before) == 2  # the same two workers served every call
    assert not [thread for thread in pool_threads() - before if thread.is_alive()]  # closed with the block


def test_the_scorer_sizes_the_tokenizer_pool_and_leaves_the_rest_of_the_environment_alone(tiny_bundle, monkeypatch):
    import os

    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    before = dict(os.environ)
    Scorer.from_bundle(tiny_bundle, threads=1)
    assert dict(os.environ) == {**before, "RAYON_NUM_THREADS": "1"}
    Scorer.from_bundle(tiny_bundle, threads=2)  # a value already set, the user's say, is kept
    assert dict(os.environ) == {**before, "RAYON_NUM_THREADS": "1"}


def test_unloadable_model_is_a_user_error(bundle_copy):
    model_path = bundle_copy / "model.onnx"
    # Still ONNX with the right metadata, but an operator onnxruntime does not know.
    model_path.write_bytes(model_path.read_bytes().replace(b"Gather", b"Gxther"))
    with pytest.raises(UserError, match="cannot load") as raised:
        Scorer(load_bundle(bundle_copy, verify_sha256=False))
    assert "\n" not in str(raised.value)


def test_a_graph_that_fails_to_run_is_a_user_error(scorer, monkeypatch):
    class Failing:
        def run(self, *args):
            raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : indices element out of data bounds\nmore")

    monkeypatch.setattr(scorer, "_session", Failing())
    with pytest.raises(UserError, match="cannot run .*out of data bounds$"):
        scorer.predict(["great"])


@pytest.mark.parametrize("content", [b"", b'{"version": "1.0", "model": {', b"\xff\xfe", b"[]"])
def test_unloadable_tokenizer_is_a_user_error(bundle_copy, content):
    (bundle_copy / "tokenizer.json").write_bytes(content)
    with pytest.raises(UserError, match="does not match tokenizer_sha256"):
        load_bundle(bundle_copy)
    with pytest.raises(UserError, match="cannot load the tokenizer") as raised:
        Scorer(load_bundle(bundle_copy, verify_sha256=False))
    assert "\n" not in str(raised.value)


def test_labels_must_match_the_graph_width(bundle_copy):
    from test_bundle import edit_manifest, set_graph_metadata

    from sentiment_batch.bundle import GRAPH_LABELS

    labels = ["negative", "neutral", "positive"]  # manifest and graph metadata forged together
    edit_manifest(bundle_copy, labels=labels)
    set_graph_metadata(bundle_copy, **{GRAPH_LABELS: json.dumps(labels)})
    with pytest.raises(UserError, match="has 2 columns but the bundle has 3 labels"):
        Scorer.from_bundle(bundle_copy)


# Bytes no UTF-8 decoder accepts: a stray continuation byte, an overlong "/", an encoded surrogate, a code point
# past U+10FFFF, a sequence cut short at the end of the text, and 0xFF.
INVALID_UTF8_CELLS = [b"\x80abc", b"\xc0\xaf", b"\xed\xa0\x80 x", b"\xf4\x90\x80\x80", b"great \xe2\x82", b"\xffgood"]


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("bad", INVALID_UTF8_CELLS)
def test_invalid_utf8_is_a_per_row_error_and_neighbours_are_scored(scorer, arrow_type, bad):
    good = [TEXTS[0], None, TEXTS[1], "", TEXTS[2]]
    cells = [text.encode() if isinstance(text, str) else text for text in good]
    cells.insert(2, bad)
    column = pa.array(cells, pa.large_binary() if arrow_type == pa.large_string() else pa.binary()).view(arrow_type)
    scored = scorer.score_values(column)
    assert scored["error"].to_pylist() == [None, "null text", "invalid UTF-8", None, "empty text", None]
    assert scored["label"].to_pylist()[2] is None and scored["score"].to_pylist()[2] is None
    expected = scorer.score_values(good)
    kept = [0, 1, 3, 4, 5]
    for name in expected:
        assert [scored[name].to_pylist()[row] for row in kept] == expected[name].to_pylist(), name


def test_text_errors_of_valid_text_never_decode_cell_by_cell(monkeypatch):
    """Valid columns are checked by one Arrow validation; the per-cell fallback is for invalid ones only."""
    from sentiment_batch import text as scorer_module

    calls = []
    per_cell = scorer_module.undecodable_cells
    monkeypatch.setattr(scorer_module, "undecodable_cells", lambda column: calls.append(column) or per_cell(column))
    valid = pa.array([TEXTS[0], "é" * 10, None, "ok"], pa.large_string())
    assert scorer_module.invalid_utf8(valid).tolist() == [False] * 4
    assert calls == []
    invalid = pa.array([b"ok", b"\xe9", None], pa.large_binary()).view(pa.large_string())
    assert scorer_module.invalid_utf8(invalid).tolist() == [False, True, False]
    assert len(calls) == 1


def test_a_lone_surrogate_is_a_per_row_error(scorer):
    texts = [TEXTS[0], "bad \ud800 half", TEXTS[1], "\udcff", TEXTS[2]]
    results = scorer.predict(texts)
    assert [result["error"] for result in results] == [None, "invalid UTF-8", None, "invalid UTF-8", None]
    assert [results[row] for row in (0, 2, 4)] == scorer.predict([TEXTS[0], TEXTS[1], TEXTS[2]])
    frame = scorer.score_dataframe(pd.DataFrame({"text": pd.Series(texts, dtype=object)}))
    assert frame["error"].fillna("").tolist() == ["", "invalid UTF-8", "", "invalid UTF-8", ""]


def test_duplicate_text_column_is_a_value_error(scorer):
    df = pd.DataFrame([["great", "awful", 1]], columns=["text", "text", "id"])
    with pytest.raises(ValueError, match="has 2 columns named 'text'"):
        scorer.score_dataframe(df)
    batch = pa.RecordBatch.from_arrays([pa.array(["great"]), pa.array(["awful"])], names=["text", "text"])
    with pytest.raises(ValueError, match="has 2 columns named 'text'"):
        scorer.score_batch(batch)
    other = pd.DataFrame([["great", 1, 2]], columns=["text", "id", "id"])  # repeated names elsewhere are kept
    assert list(scorer.score_dataframe(other).columns[:3]) == ["text", "id", "id"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: s.predict(pd.DataFrame({"text": ["great"]})), TypeError, "not a DataFrame.*score_dataframe"),
        (lambda s: s.predict({"great": 1}), TypeError, "not a dict"),
        (lambda s: s.predict(pa.table({"text": ["great"]})), TypeError, "not a Table"),
        (lambda s: s.predict(None), TypeError, "iterable"),
        (lambda s: s.score_values("great"), TypeError, "single string"),
        (lambda s: s.score_values(["great"], prefix=3), TypeError, "prefix must be a str"),
        (lambda s: list(s.score_batches(pa.record_batch({"text": ["a"]}))), TypeError, "use score_batch"),
        (lambda s: list(s.score_batches([{"text": "a"}])), TypeError, "RecordBatches"),
        (lambda s: s.score_batch(pa.table({"text": ["a"]})), TypeError, "RecordBatches"),
        (lambda s: s.score_dataframe([["great"]]), TypeError, "pandas or polars DataFrame, got list"),
        (lambda s: s.score_dataframe(pd.DataFrame({"text": ["a"]}), text_column=0), TypeError, "text_column"),
    ],
)
def test_misuse_is_a_clear_type_or_value_error(scorer, call, error, match):
    with pytest.raises(error, match=match):
        call(scorer)


def test_a_closed_scorer_says_so(tiny_bundle):
    scorer = Scorer.from_bundle(tiny_bundle, threads=1)
    scorer.close()
    with pytest.raises(ValueError, match="closed"):
        scorer.predict(["great"])
    scorer.close()  # closing twice is fine


def test_score_values_takes_a_series_by_position(scorer):
    series = pd.Series(["great", None, "awful"], index=[10, 0, 5])
    assert scorer.score_values(series)["error"].to_pylist() == [None, "null text", None]


@pytest.mark.parametrize("text", ["<br /><br />", "<br/> \u3000 <br>", "\u2028<br>\u00a0"])
def test_a_review_with_no_words_left_gets_an_error(scorer, text):
    from sentiment_batch.preprocessing import encode_ids

    assert encode_ids(scorer._tokenizer, [text]) == [[]]  # zero tokens once <br> and white space are gone
    results = scorer.predict([TEXTS[0], text, "!!!"])  # a punctuation run is a token: it is scored
    assert [result["error"] for result in results] == [None, "no words to score", None]
    assert results[1]["label"] is None and results[1]["probabilities"] is None
    assert results[0] == scorer.predict([TEXTS[0]])[0]
    column = scorer.score_values(pa.array([text, TEXTS[1]], pa.large_string()))
    assert column["error"].to_pylist() == ["no words to score", None]


def test_close_from_another_thread_during_predict_finishes_the_call_or_says_closed(tiny_bundle):
    import threading

    texts = TEXTS * 8
    for attempt in range(15):
        scorer = Scorer.from_bundle(tiny_bundle, threads=2, batch_size=1)
        expected = scorer.predict(texts[:3])
        outcome = []

        def predict(scorer=scorer, outcome=outcome):
            try:
                outcome.append(scorer.predict(texts))
            except ValueError as error:
                outcome.append(error)

        worker = threading.Thread(target=predict)
        worker.start()
        threading.Event().wait(attempt * 0.002)
        scorer.close()
        worker.join()
        [result] = outcome
        if isinstance(result, ValueError):
            assert str(result) == "this Scorer is closed; create another one"
        else:
            assert result[:3] == expected and len(result) == len(texts)


def test_a_scorer_closed_by_an_error_elsewhere_says_closed_to_the_call_it_cut_short(tiny_bundle, monkeypatch):
    import threading

    scorer = Scorer.from_bundle(tiny_bundle, threads=1, batch_size=1)
    started, release = threading.Event(), threading.Event()
    original = scorer._score

    def slow(texts, explain):
        started.set()
        release.wait(30)
        return original(texts, explain)

    monkeypatch.setattr(scorer, "_score", slow)
    outcome = []

    def predict():
        try:
            outcome.append(scorer.predict(["great", "awful", "fine"]))
        except ValueError as error:
            outcome.append(error)

    worker = threading.Thread(target=predict)
    worker.start()
    started.wait(30)  # the first batch runs, the two others wait in the pool
    closer = threading.Thread(target=scorer.__exit__, args=(RuntimeError, RuntimeError("elsewhere"), None))
    closer.start()
    threading.Event().wait(0.2)
    release.set()
    closer.join()
    worker.join()
    assert [str(error) for error in outcome] == ["this Scorer is closed; create another one"]


def test_text_cells_that_are_not_utf8_are_written_as_text(scorer):
    from sentiment_batch.text import writable

    cells = pa.array([b"good", b"caf\xe9 ok", None, b"\xc0\xaf"], pa.binary()).view(pa.string())
    scored = scorer.score_batch(pa.record_batch({"id": [1, 2, 3, 4], "text": cells}))
    fixed = writable(scored, "text", "error")
    fixed.validate(full=True)
    assert fixed.column("text").to_pylist() == ["good", "caf\ufffd ok", None, "\ufffd\ufffd"]
    assert fixed.schema == scored.schema and fixed.columns[2:] == scored.columns[2:]
    assert fixed.column("error").to_pylist() == [None, "invalid UTF-8", "null text", "invalid UTF-8"]
    valid = scorer.score_batch(pa.record_batch({"text": ["good"]}))
    assert writable(valid, "text", "error") is valid


def test_a_polars_frame_is_scored_into_a_polars_frame_as_pandas_is(scorer):
    frame = polars.DataFrame({"id": range(len(MIXED) - 2), "text": [text for text in MIXED if not is_number(text)]})
    scored = scorer.score_dataframe(frame)
    assert isinstance(scored, polars.DataFrame) and scored.columns == ["id", "text", *scorer.output_names()]
    assert scored.schema["score"] == polars.Float32 and scored["id"].to_list() == frame["id"].to_list()
    expected = scorer.score_dataframe(frame.to_pandas())
    pd.testing.assert_frame_equal(scored.to_pandas(), expected, check_dtype=False)


def is_number(value) -> bool:
    return isinstance(value, (int, float))


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_an_arrow_table_is_scored_into_a_table_in_order(scorer, text_type):
    texts = [text for text in MIXED if not is_number(text)]
    table = pa.Table.from_batches(
        pa.table({"id": range(len(texts)), "text": pa.array(texts, text_type)}).to_batches(max_chunksize=2)
    )
    scored = scorer.score_table(table)
    assert isinstance(scored, pa.Table) and scored.column_names == ["id", "text", *scorer.output_names()]
    assert scored.select(["id", "text"]).equals(table)
    [batch] = scorer.score_batches([pa.record_batch({"text": pa.array(texts, pa.string())})])
    assert scored.drop_columns(["id", "text"]).equals(pa.Table.from_batches([batch]).drop_columns(["text"]))
    with pytest.raises(TypeError, match="table must be a pyarrow Table, got RecordBatch"):
        scorer.score_table(batch)


def test_a_scorer_used_in_a_forked_child_answers_as_in_the_parent(tiny_bundle, tmp_path):
    import os
    import pickle
    import time

    scorer = Scorer.from_bundle(tiny_bundle, threads=2, batch_size=2)
    expected = scorer.predict(TEXTS, explain=2)  # the pool's threads and both sessions exist before the fork
    answers = tmp_path / "child.pickle"
    pid = os.fork()
    if pid == 0:  # the child scores, writes its answers and leaves at once, running none of pytest's exit code
        code = 1
        try:
            answers.write_bytes(pickle.dumps(scorer.predict(TEXTS, explain=2)))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if status[0] == 0:  # still running: it hangs
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish scoring within 60 s")
    assert os.waitstatus_to_exitcode(status[1]) == 0
    assert pickle.loads(answers.read_bytes()) == expected
    assert scorer.predict(TEXTS, explain=2) == expected  # the parent's scorer is untouched
    scorer.close()
