"""The thread-safe `Scorer`: texts, DataFrames or Arrow batches in, label and class probabilities out."""

from __future__ import annotations

import numbers
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .bundle import PROBABILITIES, Bundle, load_bundle, open_bundle_session
from .errors import UserError, UserTypeError, first_line, shown
from .io import encodable, undecodable_cells
from .preprocessing import encode, load_tokenizer

DEFAULT_BATCH_SIZE = 256  # [tokens, dim] intermediates stay in cache and memory stays small
INVALID_UTF8 = "invalid UTF-8"
# A text the tokenizer leaves no token of (only `<br />` and white space): nothing for the model to read.
NO_WORDS = "no words to score"
CLOSED = "this Scorer is closed; create another one"


def row_error(value: object) -> str | None:
    """Why a value cannot be scored, or None when it is a non-blank string.

    Args:
        value (`object`): one cell of the text column.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "null text"
    if not isinstance(value, str):
        return f"non-string text ({type(value).__name__})"
    if not value:
        return "empty text"
    # isspace() allocates nothing, unlike strip(), which matters on long reviews
    if value.isspace():
        return "whitespace-only text"
    return None


def text_errors(column: pa.Array) -> tuple[list[str | None], np.ndarray]:
    """`row_error` of every cell of an Arrow string column, and which cells are scorable.

    Only cells that are null, empty, not UTF-8 or start with a byte other than printable ASCII are read into
    Python (they may be blank); the rest start with a visible character and are scorable as they are.

    Args:
        column (`pa.Array`): a string or large_string column.
    """
    column = column.cast(pa.large_string())
    count = len(column)
    offsets = np.frombuffer(column.buffers()[1], np.int64)[column.offset : column.offset + count + 1]
    data = np.frombuffer(column.buffers()[2] or b"", np.uint8)
    first = np.zeros(count, dtype=np.uint8)
    filled = offsets[1:] > offsets[:-1]
    first[filled] = data[offsets[:-1][filled]]
    ok = (first > 0x20) & (first < 0x7F)
    if column.null_count:
        ok &= column.is_valid().to_numpy(zero_copy_only=False)
    invalid = invalid_utf8(column)
    errors: list[str | None] = [None] * count
    for row in np.flatnonzero(~ok | invalid).tolist():
        errors[row] = INVALID_UTF8 if invalid[row] else row_error(column[row].as_py())
        ok[row] = errors[row] is None
    return errors, ok


def invalid_utf8(column: pa.Array) -> np.ndarray:
    """Which cells of an Arrow string column hold bytes that are not UTF-8 (Parquet and CSV files can).

    Overlong forms, surrogates and truncated sequences all count. Arrow validates the whole column at
    once; only a column that fails is checked cell by cell.

    Args:
        column (`pa.Array`): a string or large_string column.
    """
    try:
        column.validate(full=True)
        return np.zeros(len(column), dtype=bool)
    except pa.ArrowInvalid:
        return undecodable_cells(column)


def python_text_errors(values: Sequence[object]) -> tuple[list[str | None], np.ndarray, pa.Array]:
    """`row_error` of every value of a Python sequence, which values are scorable, and those as an Arrow column.

    Args:
        values (`Sequence[object]`): the cells, of any type.
    """
    errors = [row_error(value) for value in values]
    ok = np.fromiter((error is None for error in errors), dtype=bool, count=len(errors))
    try:
        return errors, ok, pa.array([values[row] for row in np.flatnonzero(ok)], pa.large_string())
    except UnicodeEncodeError:  # a lone surrogate somewhere: find it, the other texts are scored
        pass
    for row in np.flatnonzero(ok).tolist():
        if not encodable(values[row]):
            errors[row], ok[row] = INVALID_UTF8, False
    return errors, ok, pa.array([values[row] for row in np.flatnonzero(ok)], pa.large_string())


def writable(scored: pa.RecordBatch, text_column: str) -> pa.RecordBatch:
    """A scored batch as a file may hold it: each text cell that was not UTF-8 (its row's error says so) decoded
    with U+FFFD for every bad byte sequence, so the output holds text only.

    Args:
        scored (`pa.RecordBatch`): from `Scorer.score_batches`; its last column is the error column.
        text_column (`str`): the text column.
    """
    if not pc.any(pc.equal(scored.column(scored.num_columns - 1), INVALID_UTF8)).as_py():
        return scored
    index = scored.schema.get_field_index(text_column)
    raw = scored.column(index).cast(pa.large_binary()).to_pylist()
    text = [None if value is None else value.decode("utf-8", "replace") for value in raw]
    return scored.set_column(index, scored.schema.field(index), pa.array(text, scored.schema.field(index).type))


def added_fields(labels: Sequence[str], prefix: str = "") -> list[pa.Field]:
    """The columns scoring adds, named and typed: label, score, prob_<label> per class, error.

    Args:
        labels (`Sequence[str]`): class names in logit order.
        prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
    """
    if not isinstance(prefix, str):
        raise UserTypeError(f"prefix must be a str, got {type(prefix).__name__}")
    probabilities = [pa.field(f"{prefix}prob_{label}", pa.float32()) for label in labels]
    return [
        pa.field(f"{prefix}label", pa.string()),
        pa.field(f"{prefix}score", pa.float32()),
        *probabilities,
        pa.field(f"{prefix}error", pa.string()),
    ]


def _positive_int(name: str, value: object, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise UserError(f"{name} must be at least 1, got {value}")
    return int(value)


def _string_column(values: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """An Arrow string column as one large_string array, or None when it holds other types."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return values.cast(pa.large_string())
    return None


@dataclass
class _Pending:
    """One column being scored: its per-row errors, the scorable rows, and the model batches in flight."""

    errors: list[str | None]
    ok: np.ndarray
    futures: list[Future]


class Scorer:
    """Scores reviews with one bundle; safe to share between threads.

    The ONNX session and tokenizer are read-only. Model batches run on the scorer's own thread pool,
    `threads` wide; `close()` (or a `with` block) stops it, as does garbage collection. A call running while
    another thread closes the scorer either finishes or raises `ValueError` ("this Scorer is closed").
    """

    def __init__(self, bundle: Bundle, *, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        """Load the model and tokenizer of a validated bundle.

        Args:
            bundle (`Bundle`): from `load_bundle`.
            threads (`int`, *optional*): model batches tokenized and scored at once, one thread each;
                defaults to the CPU count.
            batch_size (`int`, *optional*, defaults to 256): reviews per model call.
        """
        if not isinstance(bundle, Bundle):
            raise UserTypeError(f"bundle must be a Bundle (from load_bundle), got {type(bundle).__name__}")
        self.batch_size = _positive_int("batch_size", batch_size)
        self.threads = _positive_int("threads", threads, allow_none=True) or os.cpu_count() or 1
        self.bundle = bundle
        self.labels = bundle.labels
        self._tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)
        self._session = _session(bundle)
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sentiment-batch")
        self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)
        self._closed = False
        self._lock = threading.Lock()  # submitting and closing never interleave

    @classmethod
    def from_bundle(
        cls, path: str | Path | None = None, *, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Scorer:
        """Validate a bundle folder and load it.

        Args:
            path (`str | Path`, *optional*): the bundle folder; defaults to the bundle shipped with the package.
            threads (`int`, *optional*): model batches scored at once (see `Scorer`); defaults to the CPU count.
            batch_size (`int`, *optional*, defaults to 256): reviews per model call.
        """
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise UserTypeError(f"path must be a str or Path, got {type(path).__name__}")
        return cls(load_bundle(path), threads=threads, batch_size=batch_size)

    def close(self) -> None:
        """Stop the thread pool once the batches already sent are scored; the scorer cannot score afterwards."""
        self._stop(cancel=False)

    def _stop(self, cancel: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer.detach()
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # An error or a signal ends the run: batches not started yet are dropped, not scored first.
        self._stop(cancel=exc_type is not None)

    def output_names(self, prefix: str = "") -> list[str]:
        """Names of the columns scoring adds: label, score, prob_<label> per class, error.

        Args:
            prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
        """
        return [field.name for field in added_fields(self.labels, prefix)]

    def probabilities(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        """Class probabilities (float32 `[len(texts), num_labels]`) of non-blank texts, in model batches.

        Args:
            texts (`Sequence[str] | pa.Array`): non-blank strings, or an Arrow string column of them.
        """
        pending = self._start(_texts(texts))
        if pending.ok.all():
            probs, wordless = self._collect(pending.futures, len(pending.ok))
            if not wordless.any():
                return probs
            pending.errors[int(np.flatnonzero(wordless)[0])] = NO_WORDS
        row = next(row for row, error in enumerate(pending.errors) if error is not None)
        raise UserError(f"texts[{row}] cannot be scored: {pending.errors[row]}")

    def _submit(self, texts: pa.Array) -> list[Future]:
        # Every model batch goes to the pool at once; both stages release the GIL, so all threads stay busy.
        starts = range(0, len(texts), self.batch_size)
        with self._lock:
            if self._closed:
                raise UserError(CLOSED)
            return [self._pool.submit(self._score, texts[start : start + self.batch_size]) for start in starts]

    def _collect(self, futures: list[Future], count: int) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of every text sent, and which texts had no token to score."""
        probs = np.empty((count, len(self.labels)), dtype=np.float32)
        wordless = np.empty(count, dtype=bool)
        for index, future in enumerate(futures):
            start = index * self.batch_size
            try:
                probs[start : start + self.batch_size], wordless[start : start + self.batch_size] = future.result()
            except CancelledError:  # another thread closed the scorer on its way out of an error
                raise UserError(CLOSED) from None
        return probs, wordless

    def _score(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        input_ids, offsets = encode(self._tokenizer, texts)
        try:
            probs = self._session.run([PROBABILITIES], {"input_ids": input_ids, "offsets": offsets})[0]
        except Exception as error:  # onnxruntime's errors are untyped; a graph that loads may still fail to run
            raise UserError(f"onnxruntime cannot run {shown(self.bundle.model_path)}: {first_line(error)}") from error
        if probs.shape != (len(texts), len(self.labels)):
            raise UserError(
                f"{shown(self.bundle.model_path)} gave probabilities of shape {probs.shape} for {len(texts)} "
                f"texts and {len(self.labels)} labels"
            )
        return probs, np.diff(offsets, append=len(input_ids)) == 0

    def _start(self, values: Sequence[object] | pa.Array | pa.ChunkedArray) -> _Pending:
        """Check the cells of one column and send its scorable texts to the pool."""
        column = _string_column(values) if isinstance(values, (pa.Array, pa.ChunkedArray)) else None
        if column is not None:
            errors, ok = text_errors(column)
            texts = column if ok.all() else column.filter(pa.array(ok))
        else:
            values = values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else values
            errors, ok, texts = python_text_errors(values)
        return _Pending(errors, ok, self._submit(texts))

    def _finish(self, pending: _Pending, prefix: str) -> dict[str, pa.Array]:
        """The added columns of a column started with `_start`, once its model batches are done."""
        ok, count = pending.ok, len(pending.ok)
        probs = np.zeros((count, len(self.labels)), dtype=np.float32)
        rows = np.flatnonzero(ok)
        probs[rows], wordless = self._collect(pending.futures, len(rows))
        for row in rows[wordless].tolist():
            pending.errors[row], ok[row] = NO_WORDS, False
        best = probs.argmax(axis=1)
        missing = ~ok
        fields = added_fields(self.labels, prefix)
        label, score, *prob_fields, error = fields
        columns = [
            pa.array(np.asarray(self.labels, dtype=object)[best], type=label.type, mask=missing),
            pa.array(probs[np.arange(count), best], type=score.type, mask=missing),
            *(pa.array(probs[:, index], type=field.type, mask=missing) for index, field in enumerate(prob_fields)),
            pa.array(pending.errors, type=error.type),
        ]
        return {field.name: column for field, column in zip(fields, columns, strict=True)}

    def score_values(self, values: Sequence[object] | pa.Array | pa.ChunkedArray, prefix: str = "") -> dict:
        """The added columns for one column of values; unscorable rows get nulls and a reason in `error`.

        Args:
            values (`Sequence[object] | pa.Array | pa.ChunkedArray`): the text column's cells, any type; an
                Arrow string column is scored without converting its texts to Python.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
        """
        self.output_names(prefix)  # a bad prefix is refused before any work
        return self._finish(self._start(_texts(values)), prefix)

    def predict(self, texts: Iterable[object] | pa.Array | pa.ChunkedArray) -> list[dict]:
        """One dict per text: `label`, `score`, `probabilities` ({label: p}) and `error` (None when scored).

        Args:
            texts (`Iterable[object] | pa.Array | pa.ChunkedArray`): the reviews (a list, any iterable, a
                pandas Series or an Arrow string array); None, blank or non-string ones get an `error`.
        """
        label, score, *probs, error = (column.to_pylist() for column in self.score_values(texts).values())
        return [
            {
                "label": label[row],
                "score": score[row],
                "probabilities": None
                if error[row]
                else {name: prob[row] for name, prob in zip(self.labels, probs, strict=True)},
                "error": error[row],
            }
            for row in range(len(label))
        ]

    def score_dataframe(self, df: pd.DataFrame, text_column: str = "text", prefix: str = "") -> pd.DataFrame:
        """A copy of `df`, rows and index unchanged, with the added columns.

        Args:
            df (`pd.DataFrame`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
        """
        if not isinstance(df, pd.DataFrame):
            raise UserTypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        check_columns(list(df.columns), text_column, self.output_names(prefix))
        columns = self.score_values(df[text_column].tolist(), prefix)
        added = {name: column.to_pandas().set_axis(df.index) for name, column in columns.items()}
        return df.assign(**added)

    def score_batch(self, batch: pa.RecordBatch, text_column: str = "text", prefix: str = "") -> pa.RecordBatch:
        """`batch` with the added columns appended.

        Args:
            batch (`pa.RecordBatch`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
        """
        return next(self.score_batches([batch], text_column, prefix))

    def score_batches(
        self, batches: Iterable[pa.RecordBatch], text_column: str = "text", prefix: str = ""
    ) -> Iterator[pa.RecordBatch]:
        """Score a stream of record batches lazily, one out per one in, in order.

        The next batch is read and sent to the pool while the current one is being scored.

        Args:
            batches (`Iterable[pa.RecordBatch]`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
        """
        added = self.output_names(prefix)
        if isinstance(batches, (pa.RecordBatch, pa.Table)):
            raise UserTypeError(
                f"batches must be an iterable of RecordBatches, not a {type(batches).__name__}; "
                "use score_batch for one batch, or table.to_batches()"
            )
        previous = None
        for batch in batches:
            if not isinstance(batch, pa.RecordBatch):
                raise UserTypeError(f"batches must hold pyarrow RecordBatches, got {type(batch).__name__}")
            check_columns(batch.schema.names, text_column, added)
            current = (batch, self._start(batch.column(text_column)))
            if previous is not None:
                yield self._with_columns(*previous, prefix)
            previous = current
        if previous is not None:
            yield self._with_columns(*previous, prefix)

    def _with_columns(self, batch: pa.RecordBatch, pending: _Pending, prefix: str) -> pa.RecordBatch:
        columns = self._finish(pending, prefix)
        return pa.RecordBatch.from_arrays(
            [*batch.columns, *columns.values()], names=[*batch.schema.names, *columns.keys()]
        )


def _session(bundle: Bundle) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread per call: the Scorer runs whole batches side by side instead, so tokenization and
    # the model share every core and no intra-op pool spins while a batch is being tokenized.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return open_bundle_session(bundle, options)


def _texts(texts: object) -> Sequence[object] | pa.Array | pa.ChunkedArray:
    """A column of texts as a sequence of cells; a lone string or a table is refused rather than iterated."""
    if isinstance(texts, (str, bytes)):
        raise UserTypeError("texts must be a collection of texts, not a single string; wrap it in a list")
    if isinstance(texts, (pd.DataFrame, pa.Table, pa.RecordBatch, Mapping)):
        raise UserTypeError(
            f"texts must be a column of texts, not a {type(texts).__name__}; "
            "use score_dataframe or score_batches for tables"
        )
    if isinstance(texts, (pa.Array, pa.ChunkedArray, list)):
        return texts
    if isinstance(texts, pd.Series):
        return texts.tolist()
    if not isinstance(texts, Iterable):
        raise UserTypeError(f"texts must be an iterable of texts, got {type(texts).__name__}")
    return list(texts)


def check_columns(columns: Sequence[str], text_column: str, added: Sequence[str], where: str = "the input") -> None:
    """Raise a one-line `UserError` when the text column is absent or an added column already exists.

    Args:
        columns (`Sequence[str]`): the input's column names.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring will add.
        where (`str`): names the input in the message.
    """
    if not isinstance(text_column, str):
        raise UserTypeError(f"text_column must be a str, got {type(text_column).__name__}")
    columns = list(columns)
    if text_column not in columns:
        raise UserError(f"{where} has no column {text_column!r}; its columns are {columns}")
    if columns.count(text_column) > 1:
        raise UserError(f"{where} has {columns.count(text_column)} columns named {text_column!r}; keep one")
    clashes = [name for name in added if name in columns]
    if clashes:
        raise UserError(f"{where} already has column(s) {clashes}; give the added columns a prefix")
