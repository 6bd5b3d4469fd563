"""The thread-safe `Scorer`: texts, DataFrames or Arrow batches in, label and class probabilities out."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa

from .bundle import Bundle, load_bundle
from .errors import UserError
from .preprocessing import encode, load_tokenizer

DEFAULT_BATCH_SIZE = 256  # [tokens, dim] intermediates stay in cache and memory stays small
INPUT_NAMES = ("input_ids", "offsets")
PROBABILITIES = "probabilities"


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

    Only cells that are null, empty or start with a byte other than printable ASCII are read into Python
    (they may be blank); the rest start with a visible character and are scorable as they are.

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
    errors: list[str | None] = [None] * count
    for row in np.flatnonzero(~ok).tolist():
        errors[row] = row_error(column[row].as_py())
        ok[row] = errors[row] is None
    return errors, ok


def open_session(path: str | Path, options: ort.SessionOptions | None = None) -> ort.InferenceSession:
    """An onnxruntime session on the CPU; a graph it cannot load is a one-line `UserError`.

    Args:
        path (`str | Path`): the ONNX file.
        options (`ort.SessionOptions | None`): session options; onnxruntime's defaults when None.
    """
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises untyped errors for graphs it cannot load
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"onnxruntime {ort.__version__} cannot load {path}: {message}") from error


def _session(bundle: Bundle) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread per call: the Scorer runs whole batches side by side instead, so tokenization and
    # the model share every core and no intra-op pool spins while a batch is being tokenized.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = open_session(bundle.model_path, options)
    inputs = tuple(node.name for node in session.get_inputs())
    outputs = {node.name for node in session.get_outputs()}
    if inputs != INPUT_NAMES or PROBABILITIES not in outputs:
        raise UserError(
            f"{bundle.model_path}: expected inputs {INPUT_NAMES} and a {PROBABILITIES} output, got {inputs}"
        )
    return session


class Scorer:
    """Scores reviews with one bundle; safe to share between threads (ONNX session and tokenizer are read-only)."""

    def __init__(self, bundle: Bundle, *, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        """Load the model and tokenizer of a validated bundle.

        Args:
            bundle (`Bundle`): from `load_bundle`.
            threads (`int | None`): batches tokenized and scored at once, one thread each; None: the CPU count.
            batch_size (`int`): reviews per model call.
        """
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise UserError(f"threads must be at least 1, got {threads}")
        self.bundle = bundle
        self.labels = bundle.labels
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self._session = _session(bundle)
        self._tokenizer = load_tokenizer(bundle.tokenizer_path)

    @classmethod
    def from_bundle(
        cls, path: str | Path | None = None, *, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Scorer:
        """Validate a bundle folder and load it.

        Args:
            path (`str | Path | None`): the bundle folder; None for the default `sample_data/bundle/`.
            threads (`int | None`): batches scored at once (see `Scorer`); also caps the Rust tokenizer's
                thread pool if it is not started yet and RAYON_NUM_THREADS is unset.
            batch_size (`int`): reviews per model call.
        """
        if threads:
            os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
        return cls(load_bundle(path), threads=threads, batch_size=batch_size)

    def output_names(self, prefix: str = "") -> list[str]:
        """Names of the columns scoring adds: label, score, prob_<label> per class, error.

        Args:
            prefix (`str`): put before every added name, to avoid clashes with input columns.
        """
        return [f"{prefix}{name}" for name in ("label", "score", *(f"prob_{label}" for label in self.labels), "error")]

    def probabilities(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        """Class probabilities (float32 `[len(texts), num_labels]`) of valid texts, in model batches.

        Batches are tokenized and scored in `threads` threads at once, a few ahead of the one being
        collected; both stages release the GIL, so every core is busy whatever their relative cost.

        Args:
            texts (`Sequence[str] | pa.Array`): non-blank strings, or an Arrow column of them.
        """
        result = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if len(starts) <= 1 or self.threads == 1:
            for start in starts:
                result[start : start + self.batch_size] = self._score(texts[start : start + self.batch_size])
            return result
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            pending: deque = deque()
            for start in starts:
                pending.append((start, pool.submit(self._score, texts[start : start + self.batch_size])))
                # Bounded look-ahead keeps memory flat however many texts come in.
                if len(pending) >= 2 * self.threads:
                    done, future = pending.popleft()
                    result[done : done + self.batch_size] = future.result()
            for done, future in pending:
                result[done : done + self.batch_size] = future.result()
        return result

    def _score(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        input_ids, offsets = encode(self._tokenizer, texts)
        return self._session.run([PROBABILITIES], {"input_ids": input_ids, "offsets": offsets})[0]

    def score_values(self, values: Sequence[object] | pa.Array, prefix: str = "") -> dict[str, pa.Array]:
        """The added columns for one column of values; unscorable rows get nulls and a reason in `error`.

        Args:
            values (`Sequence[object] | pa.Array`): the text column's cells, any type; an Arrow string
                column is scored without converting its texts to Python.
            prefix (`str`): see `output_names`.
        """
        if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            texts = values.cast(pa.large_string())
            errors, ok = text_errors(texts)
            texts = texts if ok.all() else texts.filter(pa.array(ok))
        else:
            values = values.to_pylist() if isinstance(values, pa.Array) else values
            errors = [row_error(value) for value in values]
            ok = np.fromiter((error is None for error in errors), dtype=bool, count=len(errors))
            texts = [values[index] for index in np.flatnonzero(ok)]
        probs = np.zeros((len(values), len(self.labels)), dtype=np.float32)
        if len(texts):
            probs[ok] = self.probabilities(texts)
        best = probs.argmax(axis=1)
        missing = ~ok
        columns = [
            pa.array(np.asarray(self.labels, dtype=object)[best], type=pa.string(), mask=missing),
            pa.array(probs[np.arange(len(values)), best], mask=missing),
            *(pa.array(probs[:, index], mask=missing) for index in range(len(self.labels))),
            pa.array(errors, type=pa.string()),
        ]
        return dict(zip(self.output_names(prefix), columns, strict=True))

    def predict(self, texts: Sequence[object]) -> list[dict]:
        """One dict per text: `label`, `score`, `probabilities` ({label: p}) and `error` (None when scored).

        Args:
            texts (`Sequence[object]`): the reviews; None, blank or non-string ones get an `error`.
        """
        columns = self.score_values(list(texts))
        label, score, *probs, error = (column.to_pylist() for column in columns.values())
        return [
            {
                "label": label[row],
                "score": score[row],
                "probabilities": None
                if error[row]
                else {name: prob[row] for name, prob in zip(self.labels, probs, strict=True)},
                "error": error[row],
            }
            for row in range(len(texts))
        ]

    def score_dataframe(self, df: pd.DataFrame, text_column: str = "text", prefix: str = "") -> pd.DataFrame:
        """A copy of `df`, rows and index unchanged, with the added columns.

        Args:
            df (`pd.DataFrame`): the reviews.
            text_column (`str`): the column holding the text.
            prefix (`str`): see `output_names`.
        """
        check_columns(list(df.columns), text_column, self.output_names(prefix))
        columns = self.score_values(df[text_column].tolist(), prefix)
        added = {name: column.to_pandas().set_axis(df.index) for name, column in columns.items()}
        return df.assign(**added)

    def score_batch(self, batch: pa.RecordBatch, text_column: str = "text", prefix: str = "") -> pa.RecordBatch:
        """`batch` with the added columns appended.

        Args:
            batch (`pa.RecordBatch`): the reviews.
            text_column (`str`): the column holding the text.
            prefix (`str`): see `output_names`.
        """
        check_columns(batch.schema.names, text_column, self.output_names(prefix))
        columns = self.score_values(batch.column(text_column), prefix)
        return pa.RecordBatch.from_arrays(
            [*batch.columns, *columns.values()], names=[*batch.schema.names, *columns.keys()]
        )

    def score_batches(
        self, batches: Iterable[pa.RecordBatch], text_column: str = "text", prefix: str = ""
    ) -> Iterator[pa.RecordBatch]:
        """Score a stream of record batches lazily, one out per one in.

        Args:
            batches (`Iterable[pa.RecordBatch]`): the reviews.
            text_column (`str`): the column holding the text.
            prefix (`str`): see `output_names`.
        """
        with ThreadPoolExecutor(max_workers=1) as ahead:
            pending = None
            for batch in batches:
                scoring = ahead.submit(self.score_batch, batch, text_column, prefix)
                if pending is not None:
                    yield pending.result()
                pending = scoring
            if pending is not None:
                yield pending.result()


def check_columns(columns: Sequence[str], text_column: str, added: Sequence[str], where: str = "the input") -> None:
    """Raise a one-line `UserError` when the text column is absent or an added column already exists.

    Args:
        columns (`Sequence[str]`): the input's column names.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring will add.
        where (`str`): names the input in the message.
    """
    if text_column not in columns:
        raise UserError(
            f"{where} has no column {text_column!r}; its columns are {list(columns)} (choose one with --text-column)"
        )
    clashes = [name for name in added if name in columns]
    if clashes:
        raise UserError(f"{where} already has column(s) {clashes}; add a prefix to the new ones (--column-prefix)")
