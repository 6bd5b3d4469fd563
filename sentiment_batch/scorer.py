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

from .bundle import EVIDENCE, INPUT_NAMES, PROBABILITIES, ROWS, Bundle, load_bundle, open_bundle_session
from .errors import UserError, UserTypeError, first_line, shown
from .explain import EVIDENCE_TYPE, evidence
from .io import encodable, undecodable_cells
from .preprocessing import encode, encode_with_spans, load_tokenizer

DEFAULT_BATCH_SIZE = 256  # [tokens, dim] intermediates stay in cache and memory stays small
INVALID_UTF8 = "invalid UTF-8"
# A text the tokenizer leaves no token of (only `<br />` and white space): nothing for the model to read.
NO_WORDS = "no words to score"
CLOSED = "this Scorer is closed; create another one"
EXPLAINED = (PROBABILITIES, EVIDENCE, ROWS)  # what the explain graph gives the scorer


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


def added_fields(labels: Sequence[str], prefix: str = "", explain: int = 0) -> list[pa.Field]:
    """The columns scoring adds, named and typed: label, score, prob_<label> per class, evidence (when
    explaining), error (always last).

    Args:
        labels (`Sequence[str]`): class names in logit order.
        prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
        explain (`int`, *optional*, defaults to 0): phrases of evidence per review; 0 adds no evidence column.
    """
    if not isinstance(prefix, str):
        raise UserTypeError(f"prefix must be a str, got {type(prefix).__name__}")
    explain = check_explain(explain)
    probabilities = [pa.field(f"{prefix}prob_{label}", pa.float32()) for label in labels]
    evidence = [pa.field(f"{prefix}evidence", EVIDENCE_TYPE)] if explain else []
    return [
        pa.field(f"{prefix}label", pa.string()),
        pa.field(f"{prefix}score", pa.float32()),
        *probabilities,
        *evidence,
        pa.field(f"{prefix}error", pa.string()),
    ]


def check_explain(explain: object) -> int:
    """`explain` as an int: the most phrases of evidence per review, 0 for none."""
    if isinstance(explain, bool) or not isinstance(explain, numbers.Integral):
        raise UserTypeError(f"explain must be an int (phrases per review, 0 for none), got {type(explain).__name__}")
    if explain < 0:
        raise UserError(f"explain must be at least 0 (phrases per review), got {explain}")
    return int(explain)


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
    explain: int = 0


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
        self._explain_session = None  # opened at the first call that explains
        self._explain_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sentiment-batch")
        self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)  # alive until closed
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
            if self._finalizer.detach() is None:
                return
        self._pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # An error or a signal ends the run: batches not started yet are dropped, not scored first.
        self._stop(cancel=exc_type is not None)

    def output_names(self, prefix: str = "", explain: int = 0) -> list[str]:
        """Names of the columns scoring adds: label, score, prob_<label> per class, evidence (when explaining),
        error.

        Args:
            prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
            explain (`int`, *optional*, defaults to 0): phrases of evidence per review; 0 for no evidence column.
        """
        return [field.name for field in added_fields(self.labels, prefix, explain)]

    def probabilities(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        """Class probabilities (float32 `[len(texts), num_labels]`) of non-blank texts, in model batches.

        Args:
            texts (`Sequence[str] | pa.Array`): non-blank strings, or an Arrow string column of them.
        """
        pending = self._start(_texts(texts))
        if pending.ok.all():
            probs, wordless, _ = self._collect(pending.futures, len(pending.ok))
            if not wordless.any():
                return probs
            pending.errors[int(np.flatnonzero(wordless)[0])] = NO_WORDS
        row = next(row for row, error in enumerate(pending.errors) if error is not None)
        raise UserError(f"texts[{row}] cannot be scored: {pending.errors[row]}")

    def _submit(self, texts: pa.Array, explain: int) -> list[Future]:
        # Every model batch goes to the pool at once; both stages release the GIL, so all threads stay busy.
        starts = range(0, len(texts), self.batch_size)
        with self._lock:
            if not self._finalizer.alive:
                raise UserError(CLOSED)
            return [self._pool.submit(self._score, texts[start : start + self.batch_size], explain) for start in starts]

    def _collect(
        self, futures: list[Future], count: int, explain: int = 0
    ) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
        """Probabilities of every text sent, which texts had no token to score, and their evidence when
        explaining."""
        probs = np.empty((count, len(self.labels)), dtype=np.float32)
        wordless = np.empty(count, dtype=bool)
        evidence = [pa.array([], EVIDENCE_TYPE)]
        for index, future in enumerate(futures):
            start = index * self.batch_size
            try:
                probs[start : start + self.batch_size], wordless[start : start + self.batch_size], phrases = (
                    future.result()
                )
            except CancelledError:  # another thread closed the scorer on its way out of an error
                raise UserError(CLOSED) from None
            evidence.append(phrases)
        return probs, wordless, pa.concat_arrays(evidence) if explain else None

    def _score(self, texts: pa.Array, explain: int) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
        """One model batch: its probabilities, which texts had no token, and when explaining each review's
        `explain` heaviest phrases."""
        if not explain:
            input_ids, offsets = encode(self._tokenizer, texts)
            probs = self._run(self._session, self.bundle.model_path, (input_ids, offsets), len(texts))[0]
            return probs, np.diff(offsets, append=len(input_ids)) == 0, None
        encoded = encode_with_spans(self._tokenizer, texts)
        graph = self.bundle.explain_path
        probs, shares, rows = self._run(self._explainer(), graph, encoded[:2], len(texts), EXPLAINED)
        wordless = np.diff(encoded.offsets, append=len(encoded.ids)) == 0
        return (
            probs,
            wordless,
            evidence(texts, shares, rows, encoded, explain),
        )

    def _run(self, session, path: Path, inputs: tuple, count: int, outputs: tuple = (PROBABILITIES,)) -> list:
        """The graph's outputs for one batch of `count` texts, the probabilities (first) checked for their shape."""
        try:
            results = session.run(list(outputs), dict(zip(INPUT_NAMES, inputs, strict=True)))
        except Exception as error:  # onnxruntime's errors are untyped; a graph that loads may still fail to run
            raise UserError(f"onnxruntime cannot run {shown(path)}: {first_line(error)}") from error
        if results[0].shape != (count, len(self.labels)):
            raise UserError(
                f"{shown(path)} gave probabilities of shape {results[0].shape} for {count} texts and "
                f"{len(self.labels)} labels"
            )
        return results

    def _explainer(self):
        """The explain graph's session, opened at the first call that explains."""
        with self._explain_lock:
            if self._explain_session is None:
                self._explain_session = _session(self.bundle, explain=True)
        return self._explain_session

    def _start(self, values: Sequence[object] | pa.Array | pa.ChunkedArray, explain: int = 0) -> _Pending:
        """Check the cells of one column and send its scorable texts to the pool."""
        if explain:
            self._explainer()  # opened here, before any work: open_bundle_session refuses a bundle without one
        column = _string_column(values) if isinstance(values, (pa.Array, pa.ChunkedArray)) else None
        if column is not None:
            errors, ok = text_errors(column)
            texts = column if ok.all() else column.filter(pa.array(ok))
        else:
            values = values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else values
            errors, ok, texts = python_text_errors(values)
        return _Pending(errors, ok, self._submit(texts, explain), explain)

    def _finish(self, pending: _Pending, prefix: str) -> dict[str, pa.Array]:
        """The added columns of a column started with `_start`, once its model batches are done."""
        ok, count = pending.ok, len(pending.ok)
        probs = np.zeros((count, len(self.labels)), dtype=np.float32)
        rows = np.flatnonzero(ok)
        probs[rows], wordless, evidence = self._collect(pending.futures, len(rows), pending.explain)
        for row in rows[wordless].tolist():
            pending.errors[row], ok[row] = NO_WORDS, False
        best = probs.argmax(axis=1)
        missing = ~ok
        fields = added_fields(self.labels, prefix, pending.explain)
        label, score, *prob_fields, error = fields
        if evidence is not None:  # one list per text sent; rows not scored get none
            prob_fields.pop()
            sent = np.full(count, -1, dtype=np.int64)
            sent[rows] = np.arange(len(rows))
            evidence = evidence.take(pa.array(sent, mask=missing))
        columns = [
            pa.array(np.asarray(self.labels, dtype=object)[best], type=label.type, mask=missing),
            pa.array(probs[np.arange(count), best], type=score.type, mask=missing),
            *(pa.array(probs[:, index], type=field.type, mask=missing) for index, field in enumerate(prob_fields)),
            *([evidence] if evidence is not None else []),
            pa.array(pending.errors, type=error.type),
        ]
        return {field.name: column for field, column in zip(fields, columns, strict=True)}

    def score_values(
        self, values: Sequence[object] | pa.Array | pa.ChunkedArray, prefix: str = "", explain: int = 0
    ) -> dict:
        """The added columns for one column of values; unscorable rows get nulls and a reason in `error`.

        Args:
            values (`Sequence[object] | pa.Array | pa.ChunkedArray`): the text column's cells, any type; an
                Arrow string column is scored without converting its texts to Python.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence`, each review's `explain` heaviest phrases
                (`sentiment_batch.explain`); 0 for none.
        """
        self.output_names(prefix, explain)  # a bad prefix or explain is refused before any work
        return self._finish(self._start(_texts(values), explain), prefix)

    def predict(self, texts: Iterable[object] | pa.Array | pa.ChunkedArray, explain: int = 0) -> list[dict]:
        """One dict per text: `label`, `score`, `probabilities` ({label: p}) and `error` (None when scored).

        With `explain=K`, each dict also has `evidence`: at most K `{"phrase", "weight"}` entries, heaviest first,
        where `phrase` is a word, bigram or trigram exactly as it stands in the text and `weight` is its share of
        the chosen label's logit margin over the others (positive pushes toward the label); None when not scored.

        Args:
            texts (`Iterable[object] | pa.Array | pa.ChunkedArray`): the reviews (a list, any iterable, a
                pandas Series or an Arrow string array); None, blank or non-string ones get an `error`.
            explain (`int`, *optional*, defaults to 0): phrases of evidence per review; 0 for none.
        """
        columns = {name: column.to_pylist() for name, column in self.score_values(texts, "", explain).items()}
        results = []
        for row, error in enumerate(columns["error"]):
            probabilities = None if error else {label: columns[f"prob_{label}"][row] for label in self.labels}
            result = {"label": columns["label"][row], "score": columns["score"][row], "probabilities": probabilities}
            if explain:
                result["evidence"] = columns["evidence"][row]
            results.append({**result, "error": error})
        return results

    def score_dataframe(
        self, df: pd.DataFrame, text_column: str = "text", prefix: str = "", explain: int = 0
    ) -> pd.DataFrame:
        """A copy of `df`, rows and index unchanged, with the added columns.

        Args:
            df (`pd.DataFrame`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence` (see `predict`); 0 for none.
        """
        if not isinstance(df, pd.DataFrame):
            raise UserTypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        check_columns(list(df.columns), text_column, self.output_names(prefix, explain))
        columns = self.score_values(df[text_column].tolist(), prefix, explain)
        added = {name: column.to_pandas().set_axis(df.index) for name, column in columns.items()}
        return df.assign(**added)

    def score_batch(
        self, batch: pa.RecordBatch, text_column: str = "text", prefix: str = "", explain: int = 0
    ) -> pa.RecordBatch:
        """`batch` with the added columns appended.

        Args:
            batch (`pa.RecordBatch`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence` (see `predict`); 0 for none.
        """
        return next(self.score_batches([batch], text_column, prefix, explain))

    def score_batches(
        self, batches: Iterable[pa.RecordBatch], text_column: str = "text", prefix: str = "", explain: int = 0
    ) -> Iterator[pa.RecordBatch]:
        """Score a stream of record batches lazily, one out per one in, in order.

        The next batch is read and sent to the pool while the current one is being scored.

        Args:
            batches (`Iterable[pa.RecordBatch]`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence` (see `predict`); 0 for none.
        """
        added = self.output_names(prefix, explain)
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
            current = (batch, self._start(batch.column(text_column), explain))
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


def _session(bundle: Bundle, explain: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread per call: the Scorer runs whole batches side by side instead, so tokenization and
    # the model share every core and no intra-op pool spins while a batch is being tokenized.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return open_bundle_session(bundle, options, explain=explain)


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
