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

from .bundle import EVIDENCE, INPUT_NAMES, PROBABILITIES, ROWS, Bundle, load_bundle, open_bundle_session
from .columns import OutputColumns, check_columns
from .errors import UserError, UserTypeError, first_line, shown
from .explain import EVIDENCE_TYPE, evidence_lists, top_phrases
from .preprocessing import encode, encode_with_spans, load_tokenizer
from .text import NO_WORDS, is_text_type, python_text_errors, text_errors

DEFAULT_BATCH_SIZE = 256  # [tokens, dim] intermediates stay in cache and memory stays small
CLOSED = "this Scorer is closed; create another one"
EXPLAINED = (PROBABILITIES, EVIDENCE, ROWS)  # what the explain graph gives the scorer


def positive_int(name: str, value: object, allow_none: bool = False) -> int | None:
    """`value` as an int of at least 1 (None too, with `allow_none`); anything else is a one-line refusal."""
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
    return values.cast(pa.large_string()) if is_text_type(values.type) else None


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
        self.batch_size = positive_int("batch_size", batch_size)
        self.threads = positive_int("threads", threads, allow_none=True) or os.cpu_count() or 1
        self.bundle = bundle
        self.labels = bundle.labels
        # The Rust tokenizer's own pool (texts the fast path hands over) gets no more threads than the scorer.
        os.environ.setdefault("RAYON_NUM_THREADS", str(self.threads))
        self._tokenizer = load_tokenizer(bundle.tokenizer_path, vocab_size=bundle.manifest.vocab_size)
        self._session = _session(bundle)
        self._explain_session = None  # opened at the first call that explains
        self._start_threads()
        _LIVE_SCORERS.add(self)

    def _start_threads(self) -> None:
        """The pool and the locks: made again in a forked child, where the parent's threads do not exist."""
        self._explain_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sentiment-batch")
        self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)  # alive until closed
        self._lock = threading.Lock()  # submitting and closing never interleave

    def _after_fork(self) -> None:
        """In a forked child: new threads, and new sessions (destroying the parent's can crash onnxruntime, so
        they are kept, never used)."""
        open_ = self._finalizer.detach() is not None
        _INHERITED.extend(session for session in (self._session, self._explain_session) if session is not None)
        self._start_threads()
        if not open_:
            self._finalizer.detach()
            return
        self._session = _session(self.bundle)
        self._explain_session = None

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

    def output_columns(self, prefix: str = "", explain: int = 0) -> OutputColumns:
        """The columns scoring adds, by role: label, score, prob_<label> per class, evidence (when explaining),
        error.

        Args:
            prefix (`str`, *optional*, defaults to ""): put before every added name, to avoid clashes.
            explain (`int`, *optional*, defaults to 0): phrases of evidence per review; 0 for no evidence column.
        """
        return OutputColumns.of(self.labels, prefix, explain)

    def output_names(self, prefix: str = "", explain: int = 0) -> list[str]:
        """Names of the columns scoring adds, in order (see `output_columns`)."""
        return self.output_columns(prefix, explain).names

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
        probs, evidence, rows = self._run(self._explainer(), graph, encoded[:2], len(texts), EXPLAINED)
        wordless = np.diff(encoded.offsets, append=len(encoded.ids)) == 0
        return (
            probs,
            wordless,
            evidence_lists(texts, *top_phrases(evidence, rows, encoded.spans, encoded.offsets, explain)),
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
        names = self.output_columns(prefix, pending.explain)
        columns = {
            names.label: pa.array(np.asarray(self.labels, dtype=object)[best], pa.string(), mask=missing),
            names.score: pa.array(probs[np.arange(count), best], pa.float32(), mask=missing),
        }
        for index, name in enumerate(names.probabilities.values()):
            columns[name] = pa.array(probs[:, index], pa.float32(), mask=missing)
        if names.evidence:  # one list per text sent; rows not scored get none
            sent = np.full(count, -1, dtype=np.int64)
            sent[rows] = np.arange(len(rows))
            columns[names.evidence] = evidence.take(pa.array(sent, mask=missing))
        columns[names.error] = pa.array(pending.errors, pa.string())
        return columns

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
        names = self.output_columns("", explain)
        columns = {name: column.to_pylist() for name, column in self.score_values(texts, "", explain).items()}
        results = []
        for row, error in enumerate(columns[names.error]):
            probabilities = {label: columns[name][row] for label, name in names.probabilities.items()}
            result = {
                "label": columns[names.label][row],
                "score": columns[names.score][row],
                "probabilities": None if error else probabilities,
            }
            if names.evidence:
                result["evidence"] = columns[names.evidence][row]
            results.append({**result, "error": error})
        return results

    def score_dataframe(self, df, text_column: str = "text", prefix: str = "", explain: int = 0):
        """A copy of `df`, rows (and a pandas index) unchanged, with the added columns: pandas in, pandas out;
        polars in, polars out.

        Args:
            df (`pd.DataFrame | polars.DataFrame`): the reviews.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence` (see `predict`); 0 for none.
        """
        if _is_polars_frame(df):
            # polars.DataFrame(table) reads an Arrow table: built from the input's own class, polars is never
            # imported here.
            return type(df)(self.score_table(df.to_arrow(), text_column, prefix, explain))
        if not isinstance(df, pd.DataFrame):
            raise UserTypeError(f"df must be a pandas or polars DataFrame, got {type(df).__name__}")
        check_columns(list(df.columns), text_column, self.output_names(prefix, explain))
        columns = self.score_values(df[text_column].tolist(), prefix, explain)
        added = {name: column.to_pandas().set_axis(df.index) for name, column in columns.items()}
        return df.assign(**added)

    def score_table(self, table: pa.Table, text_column: str = "text", prefix: str = "", explain: int = 0) -> pa.Table:
        """`table` with the added columns appended, rows in order.

        Args:
            table (`pa.Table`): the reviews; the text column may be string, large_string or string_view.
            text_column (`str`, *optional*, defaults to "text"): the column holding the text.
            prefix (`str`, *optional*, defaults to ""): see `output_names`.
            explain (`int`, *optional*, defaults to 0): add `evidence` (see `predict`); 0 for none.
        """
        if not isinstance(table, pa.Table):
            raise UserTypeError(f"table must be a pyarrow Table, got {type(table).__name__}")
        check_columns(table.column_names, text_column, self.output_names(prefix, explain))
        for name, column in self.score_values(table.column(text_column), prefix, explain).items():
            table = table.append_column(name, column)
        return table

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


def _is_polars_frame(df: object) -> bool:
    """Whether `df` is a polars DataFrame, told without importing polars."""
    return type(df).__module__.startswith("polars") and type(df).__name__ == "DataFrame"


_LIVE_SCORERS: weakref.WeakSet[Scorer] = weakref.WeakSet()  # every live scorer, made anew in a forked child
_INHERITED: list = []  # a forked child's copies of its parent's sessions


def _after_fork_in_child() -> None:
    for scorer in list(_LIVE_SCORERS):
        scorer._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
