"""Scoring on Apache Spark: the `Scorer` over a DataFrame's Arrow batches, on every executor.

`score` adds the columns the CLI adds (`DataFrame.mapInArrow`, Arrow batches in and out); `sentiment_udf` gives
them as one struct column, for `select` and SQL. The bundle is checked on the driver before any job, shipped with
the job (`SparkContext.addArchive`) unless it is the package's default, and checked again by its hash on the
executors, where each Python worker loads it once and keeps it for the tasks that follow (Spark reuses workers).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from .bundle import Bundle, default_bundle_path, load_bundle, open_bundle_session
from .columns import OutputColumns, check_columns, names_shown
from .errors import UserError, UserTypeError
from .scorer import DEFAULT_BATCH_SIZE, Scorer, positive_int
from .text import writable

ARCHIVE_PREFIX = "sentiment-batch-bundle-"
_TEXT = "text"  # the UDF's one input column, named for `Scorer.score_batches`


@dataclass(frozen=True)
class ShippedBundle:
    """What a task needs to find the driver's bundle and to know it for the same one; it travels with every task.

    Args:
        sha256 (`str`): `Bundle.sha256()` of the driver's bundle.
        archive (`str`, *optional*): the name it was shipped under (`SparkFiles.get`); None for the default bundle
            of the package installed on the executor.
    """

    sha256: str
    archive: str | None = None

    def path(self) -> Path:
        """The bundle folder on this machine."""
        if self.archive is None:
            return default_bundle_path()
        from pyspark import SparkFiles

        return Path(SparkFiles.get(self.archive)).absolute()  # relative to an executor's working folder


def score(
    df: DataFrame,
    *,
    bundle: str | os.PathLike | Bundle | None = None,
    text_column: str = "text",
    column_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    explain: int = 0,
) -> DataFrame:
    """`df` with the columns scoring adds: label, score, prob_<label> per class, evidence (with `explain`) and
    error, as the CLI has them.

    Rows that cannot be scored (null, empty, whitespace-only or non-string text) get nulls and the reason in
    `error`. Lazy, like any transformation; the bundle and the columns are checked at once, on the driver.

    `text_column`, `column_prefix`, `batch_size` and `explain` mean what they mean in `local_engine.score_files`.

    Args:
        df (`pyspark.sql.DataFrame`): the reviews.
        bundle (`str | os.PathLike | Bundle`, *optional*): a bundle folder on the driver (or one `load_bundle`
            checked), shipped to the executors with the job; defaults to the bundle inside the package, which
            every executor with the package has.
    """
    return scored_for(df, bundle, text_column, column_prefix, batch_size, explain)


def scored_for(
    df: DataFrame,
    bundle: str | os.PathLike | Bundle | None,
    text_column: str,
    column_prefix: str,
    batch_size: int,
    explain: int,
    csv: bool = False,
) -> DataFrame:
    """`score`, with the evidence as JSON text when `csv` (the variant formats without nested columns hold)."""
    if not isinstance(df, DataFrame):
        raise UserTypeError(f"df must be a pyspark DataFrame, got {type(df).__name__}")
    shipped, added = _prepare(df.sparkSession, bundle, column_prefix, batch_size, explain)
    _check_columns(df, text_column, added.names)
    function = partial(_score_batches, shipped, text_column, column_prefix, batch_size, explain, csv)
    return df.mapInArrow(function, StructType([*df.schema.fields, *_fields(added.fields(csv))]))


def sentiment_udf(
    bundle: str | os.PathLike | Bundle | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE, explain: int = 0
):
    """A vectorized UDF from a text column to a struct of label, score, prob_<label> per class, evidence (with
    `explain`) and error.

    `df.select("id", sentiment_udf()("review").alias("sentiment"))`, or in SQL after
    `spark.udf.register("sentiment", sentiment_udf())`. Needs an active SparkSession.

    Args:
        bundle (`str | os.PathLike | Bundle`, *optional*): see `score`; defaults to the bundle inside the package.
        batch_size (`int`, *optional*, defaults to 256): reviews per model call.
        explain (`int`, *optional*, defaults to 0): phrases of evidence per review (see `score`); 0 for none.
    """
    shipped, added = _prepare(SparkSession.active(), bundle, "", batch_size, explain)
    return _udf(shipped, StructType(_fields(added.fields())), batch_size, explain)


def _udf(
    shipped: ShippedBundle, return_type: StructType, batch_size: int, explain: int = 0, *, arrow: bool | None = None
):
    """An Arrow UDF where pyspark has them (4.1 and later), else a pandas one; `arrow` forces the choice."""
    from pyspark.sql import functions

    if arrow is None:
        arrow = hasattr(functions, "arrow_udf")
    if arrow:

        def sentiment(texts: Iterator[pa.Array]) -> Iterator[pa.Array]:
            return _score_arrays(shipped, batch_size, explain, texts)

        return functions.arrow_udf(sentiment, return_type)

    def sentiment(texts: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        return _score_series(shipped, batch_size, explain, texts)

    return functions.pandas_udf(sentiment, return_type)


def _prepare(
    spark: SparkSession, bundle: str | os.PathLike | None, prefix: str, batch_size: int, explain: int
) -> tuple[ShippedBundle, OutputColumns]:
    """Check and ship the bundle, and name the added columns: every refusal comes before any job."""
    shipped, loaded = _check_and_ship(spark, bundle)
    added = OutputColumns.of(loaded.labels, prefix, explain)
    positive_int("batch_size", batch_size)
    open_bundle_session(loaded)  # a graph onnxruntime cannot load is refused here, not on a worker
    if explain:
        open_bundle_session(loaded, explain=True)
    return shipped, added


def _check_and_ship(spark: SparkSession, bundle: str | os.PathLike | Bundle | None) -> tuple[ShippedBundle, Bundle]:
    if isinstance(bundle, Bundle):  # already checked by `load_bundle`
        return _ship(spark, bundle), bundle
    if bundle is not None and not isinstance(bundle, (str, os.PathLike)):
        raise UserTypeError(f"bundle must be a str, Path or Bundle, got {type(bundle).__name__}")
    loaded = load_bundle(bundle)  # a missing, incomplete or corrupt bundle is a one-line UserError
    return _ship(spark, loaded), loaded


def _fields(fields: list[pa.Field]) -> list[StructField]:
    """Spark fields of the added Arrow fields (float32 is FloatType)."""
    from pyspark.sql.pandas.types import from_arrow_type

    return [StructField(field.name, from_arrow_type(field.type), nullable=True) for field in fields]


def _check_columns(df: DataFrame, text_column: str, added: list[str]) -> None:
    check_columns(df.columns, text_column, added)
    if df.sparkSession.conf.get("spark.sql.caseSensitive", "false").lower() != "true":
        existing = {name.lower() for name in df.columns}
        clashes = [name for name in added if name.lower() in existing]
        if clashes:
            raise UserError(
                f"the input already has column(s) {names_shown(clashes)} (Spark ignores the case of names); "
                "give the added columns a prefix"
            )


_SHIPPED: set[tuple[str, str]] = set()  # (application id, bundle hash) already added to that SparkContext
_SHIP_LOCK = threading.Lock()


def _ship(spark: SparkSession, bundle: Bundle) -> ShippedBundle:
    """Ship a bundle with the session's jobs as a zip archive named by its hash, once per application."""
    sha256 = bundle.sha256()
    if bundle.path.resolve() == default_bundle_path().resolve():
        return ShippedBundle(sha256)
    context = spark.sparkContext
    name = f"{ARCHIVE_PREFIX}{sha256[:32]}.zip"
    with _SHIP_LOCK:
        if (context.applicationId, sha256) not in _SHIPPED:
            context.addArchive(str(_archive(bundle, name)))
            _SHIPPED.add((context.applicationId, sha256))
    return ShippedBundle(sha256, name)


def _archive(bundle: Bundle, name: str) -> Path:
    """A zip of the bundle's files in a temporary folder that lives as long as this process: executors fetch it
    from the driver when their first task starts."""
    folder = Path(tempfile.mkdtemp(prefix="sentiment-batch-ship-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / name
    # Stored, not deflated: the weights barely compress and every executor unpacks the archive.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member in bundle.files:
            archive.write(member, member.name)
    return path


_SCORERS: dict[tuple[str, int, int], Scorer] = {}  # per Python worker, which Spark reuses across tasks
_SCORERS_LOCK = threading.Lock()


def worker_scorer(shipped: ShippedBundle, batch_size: int = DEFAULT_BATCH_SIZE) -> Scorer:
    """The Python worker's scorer for a shipped bundle, loaded and checked against the driver's hash once.

    It gets `spark.task.cpus` threads, so as many tasks as cores never oversubscribe them.

    Args:
        shipped (`ShippedBundle`): from the driver.
        batch_size (`int`, *optional*, defaults to 256): reviews per model call.
    """
    from pyspark import TaskContext

    context = TaskContext.get()
    threads = max(int(context.cpus()), 1) if context is not None else 1
    key = (shipped.sha256, threads, batch_size)
    with _SCORERS_LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = _load_checked(shipped, threads, batch_size)
        return _SCORERS[key]


def _load_checked(shipped: ShippedBundle, threads: int, batch_size: int) -> Scorer:
    path = shipped.path()
    bundle = load_bundle(path)
    found = bundle.sha256()
    if found != shipped.sha256:
        raise UserError(
            f"the bundle at {path} is not the driver's (SHA-256 {found[:12]}…, expected {shipped.sha256[:12]}…); "
            "install the same sentiment-batch version on every machine, or pass the bundle"
        )
    return Scorer(bundle, threads=threads, batch_size=batch_size)


def _score_batches(
    shipped: ShippedBundle,
    text_column: str,
    prefix: str,
    batch_size: int,
    explain: int,
    csv: bool,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """`score`'s function for `mapInArrow`: one partition's batches, scored in order."""
    scorer = worker_scorer(shipped, batch_size)
    added = scorer.output_columns(prefix, explain)
    for scored in scorer.score_batches(batches, text_column, prefix, explain):
        scored = writable(scored, text_column, added.error)
        yield added.json_evidence(scored) if csv else scored


def _score_arrays(
    shipped: ShippedBundle, batch_size: int, explain: int, arrays: Iterator[pa.Array]
) -> Iterator[pa.Array]:
    """The Arrow UDF: text arrays in, struct arrays of the added columns out."""
    scorer = worker_scorer(shipped, batch_size)
    names = scorer.output_names(explain=explain)
    batches = (pa.RecordBatch.from_arrays([array], [_TEXT]) for array in arrays)
    for scored in scorer.score_batches(batches, _TEXT, explain=explain):
        yield pa.StructArray.from_arrays([scored.column(name) for name in names], names=names)


def _score_series(
    shipped: ShippedBundle, batch_size: int, explain: int, series: Iterator[pd.Series]
) -> Iterator[pd.DataFrame]:
    """The pandas UDF, for pyspark before 4.1: text Series in, DataFrames of the added columns out."""
    scorer = worker_scorer(shipped, batch_size)
    for texts in series:
        columns = scorer.score_values(texts.tolist(), explain=explain)
        yield pd.DataFrame({name: column.to_pandas() for name, column in columns.items()})
