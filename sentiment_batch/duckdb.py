"""Scoring from DuckDB SQL: `sentiment(text)` as a vectorized Arrow function of a connection.

After `register(con)`, `SELECT sentiment(review) FROM 'reviews/*.parquet'` gives, per row, the struct the Spark SQL
function gives (`sentiment_batch.spark.sentiment_udf`): label, score, prob_<label> per class and error. DuckDB
hands the function whole column chunks as Arrow arrays, which the connection's one `Scorer` scores on its own
threads. Needs the duckdb extra (`pip install 'sentiment-batch[duckdb]'`).
"""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa

from .bundle import Bundle, load_bundle
from .errors import UserTypeError
from .scorer import DEFAULT_BATCH_SIZE, Scorer

# DuckDB's names of the Arrow types of the added columns.
_SQL_TYPES = {pa.string(): "VARCHAR", pa.float32(): "FLOAT"}


def register(
    con: duckdb.DuckDBPyConnection,
    name: str = "sentiment",
    bundle: str | os.PathLike | Bundle | None = None,
    *,
    threads: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Scorer:
    """Add the SQL function `name(text)` to a connection: a struct of label, score, prob_<label> and error.

    The bundle is loaded once, here, and serves every call on the connection. A NULL, blank or non-text review
    gets NULL label, score and probabilities and the reason in `error`, as in every other way of scoring.

    Args:
        con (`duckdb.DuckDBPyConnection`): the connection, e.g. `duckdb.connect()`.
        name (`str`, *optional*, defaults to "sentiment"): the function's SQL name.
        bundle (`str | os.PathLike | Bundle`, *optional*): the bundle folder, or one `load_bundle` checked;
            defaults to the bundle shipped with the package.
        threads (`int`, *optional*): model batches scored at once within a call; defaults to the CPU count.
        batch_size (`int`, *optional*, defaults to 256): reviews per model call.

    Returns:
        `Scorer`: the connection's scorer, to close once the connection is done with (garbage collection does).
    """
    if not isinstance(con, duckdb.DuckDBPyConnection):
        raise UserTypeError(f"con must be a DuckDB connection (duckdb.connect()), got {type(con).__name__}")
    if not isinstance(name, str):
        raise UserTypeError(f"name must be a str, got {type(name).__name__}")
    scorer = Scorer(
        bundle if isinstance(bundle, Bundle) else load_bundle(bundle), threads=threads, batch_size=batch_size
    )
    fields = scorer.output_columns().fields()

    def sentiment(texts: pa.ChunkedArray) -> pa.StructArray:
        columns = scorer.score_values(texts)
        return pa.StructArray.from_arrays([columns[field.name] for field in fields], fields=fields)

    struct = duckdb.struct_type({field.name: duckdb.type(_SQL_TYPES[field.type]) for field in fields})
    con.create_function(
        name,
        sentiment,
        [duckdb.type("VARCHAR")],
        struct,
        type="arrow",
        null_handling="special",  # NULL reviews reach the scorer, which says why they have no label
        side_effects=False,
    )
    return scorer
