"""`sentiment_batch.duckdb.register`: `SELECT sentiment(review)` in DuckDB answers as `Scorer.predict` does."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import REVIEWS, sample_reviews
from sentiment_batch import Scorer
from sentiment_batch.duckdb import register
from sentiment_batch.errors import UserTypeError


def as_predicted(struct: dict, labels) -> dict:
    """A row of the SQL function's struct in the shape of `Scorer.predict`'s dicts."""
    probabilities = None if struct["error"] else {label: struct[f"prob_{label}"] for label in labels}
    return {
        "label": struct["label"],
        "score": struct["score"],
        "probabilities": probabilities,
        "error": struct["error"],
    }


def test_sql_function_answers_as_predict_on_1000_reviews_nulls_and_blanks_included(tmp_path):
    texts = sample_reviews(1000)
    assert None in texts and "" in texts and any(text is not None and text.isspace() for text in texts)
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "review": texts}), path, row_group_size=300)
    con = duckdb.connect()
    with register(con) as scorer:
        rows = con.sql(f"SELECT id, sentiment(review) AS s FROM '{path}' ORDER BY id").fetchall()
        expected = scorer.predict(texts)
    assert [row_id for row_id, _ in rows] == list(range(len(texts)))
    assert [as_predicted(struct, scorer.labels) for _, struct in rows] == expected
    assert {answer["error"] for answer in expected} >= {None, "null text", "empty text", "whitespace-only text"}


def test_the_function_returns_the_struct_of_the_added_columns_of_any_bundle(tiny_bundle):
    con = duckdb.connect()
    register(con, "mood", tiny_bundle)
    [kind] = con.sql("SELECT mood('great') AS s").types
    with Scorer.from_bundle(tiny_bundle) as scorer:
        names = scorer.output_names()
        [expected] = scorer.predict([REVIEWS[0][0]])
    # The Spark SQL function's struct: label and error as text, score and each probability as float32.
    assert [(name, str(child)) for name, child in kind.children] == [(name, sql_type(name)) for name in names]
    [(struct,)] = con.execute("SELECT mood(?)", [REVIEWS[0][0]]).fetchall()
    assert list(struct) == names and as_predicted(struct, scorer.labels) == expected


def sql_type(name: str) -> str:
    return "VARCHAR" if name in ("label", "error") else "FLOAT"


def test_register_refuses_what_is_not_a_connection():
    with pytest.raises(UserTypeError, match="con must be a DuckDB connection"):
        register("duckdb.connect()")
