"""The local scoring engine: CSV/Parquet files in, one scored file out, streamed in chunks on this machine's cores."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
from tqdm import tqdm

from .bundle import Bundle, load_bundle
from .columns import OutputColumns, check_columns
from .console import BestEffort
from .errors import UserError, shown
from .io import (
    CHUNK_ROWS,
    AtomicWriter,
    Source,
    Summary,
    conform,
    expand_inputs,
    file_format,
    open_source,
    unified_schema,
)
from .publish import check_output_path
from .scorer import BUNDLE_LANGUAGES, DEFAULT_BATCH_SIZE, Scorer
from .text import writable


def score_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    bundle: str | os.PathLike | Bundle | None = None,
    text_column: str = "text",
    column_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    encoding: str | None = None,
    explain: int = 0,
    any_language: bool = False,
) -> Summary:
    """Score CSV/Parquet files into one output file, which appears complete or not at all; its parameters are
    the ones every engine shares (the Spark engine's `score_files` refers here).

    Everything that can be checked without the model is checked first: the inputs (their columns and types),
    the bundle (every file hashed), and that the output can be created (its temporary file is); only then is the
    model loaded. The output holds every input column, its type widened only where no value changes.

    Args:
        inputs (`Sequence[str | os.PathLike]`): CSV or Parquet files or globs, read in order.
        output (`str | os.PathLike`): the output file; `.csv` or `.parquet` picks its format.
        bundle (`str | os.PathLike | Bundle`, *optional*): the bundle folder, or one `load_bundle` checked;
            defaults to the bundle shipped with the package.
        text_column (`str`, *optional*, defaults to "text"): the column holding the review text.
        column_prefix (`str`, *optional*, defaults to ""): put before every added column's name.
        batch_size (`int`, *optional*, defaults to 256): reviews per model call.
        threads (`int`, *optional*): model batches scored at once; defaults to the CPU count.
        overwrite (`bool`, *optional*, defaults to False): replace an existing output.
        progress (`bool`, *optional*, defaults to True): draw a progress bar on stderr.
        encoding (`str`, *optional*): the encoding of the CSV inputs; UTF-8 by default.
        explain (`int`, *optional*, defaults to 0): add an `evidence` column, each review's `explain` heaviest
            phrases (a list of structs in Parquet, a JSON array in CSV); 0 for none.
        any_language (`bool`, *optional*, defaults to False): score every row; by default a row confidently in
            another language than the bundle's gets the error `not English (xx)` (see `Scorer`).
    """
    output = Path(output)
    fmt = file_format(output, "output")
    paths = expand_inputs([os.fspath(path) for path in inputs])
    check_output_path(output, paths, overwrite)
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    added = OutputColumns.of(loaded.labels, column_prefix, explain)
    sources = open_sources(paths, text_column, added.names, encoding)
    inputs_schema = unified_schema(sources)
    writer = AtomicWriter(output, pa.schema([*inputs_schema, *added.fields(csv=fmt == "csv")]), overwrite=overwrite)
    languages = None if any_language else BUNDLE_LANGUAGES
    with writer, Scorer(loaded, threads=threads, batch_size=batch_size, languages=languages) as scorer:
        columns = Columns(text_column, column_prefix, explain)
        summary = stream(scorer, sources, inputs_schema, writer, columns, progress)
    summary.output = str(output)
    return summary


def open_sources(
    paths: Sequence[Path], text_column: str, added: Sequence[str], encoding: str | None = None
) -> list[Source]:
    """Open every input before writing anything; all must have the text column and the same column names.

    Args:
        paths (`Sequence[Path]`): the input files.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring adds, which must not exist already.
        encoding (`str`, *optional*): the encoding of the CSV inputs; UTF-8 by default.
    """
    sources = [open_source(path, encoding) for path in paths]
    first = sources[0]
    for source in sources:
        check_columns(source.schema.names, text_column, added, where=shown(source.path))
        if source.schema.names != first.schema.names:
            raise UserError(
                f"{shown(source.path)} has columns {source.schema.names}, but {shown(first.path)} has "
                f"{first.schema.names}; all inputs must have the same columns"
            )
    return sources


class Columns(NamedTuple):
    """Which column holds the text, and what to add: the added columns' prefix and phrases of evidence."""

    text: str
    prefix: str
    explain: int


def stream(
    scorer: Scorer,
    sources: Sequence[Source],
    inputs_schema: pa.Schema,
    writer: AtomicWriter,
    columns: Columns,
    progress: bool,
) -> Summary:
    """Stream every source through the scorer into the writer, chunk by chunk, in order.

    Args:
        scorer (`Scorer`): the loaded bundle.
        sources (`Sequence[Source]`): opened inputs.
        inputs_schema (`pa.Schema`): the inputs' columns as the output has them (`unified_schema`).
        writer (`AtomicWriter`): the open output; its schema says how evidence is written (nested, or JSON text).
        columns (`Columns`): the text column and the columns to add.
        progress (`bool`): draw a progress bar on stderr.
    """
    counts = [source.num_rows for source in sources]
    total = None if None in counts else sum(counts)
    added = scorer.output_columns(columns.prefix, columns.explain)
    summary, start = Summary(files=len(sources)), time.perf_counter()
    # Best effort: a closed or broken stderr drops the bar, never the run.
    bar = tqdm(total=total, unit=" rows", unit_scale=True, disable=not progress, file=BestEffort(sys.stderr))
    with bar:
        for source in sources:
            chunks = source.batches(CHUNK_ROWS, columns.text)
            batches = (conform(batch, inputs_schema, source.path) for batch in chunks)
            for scored in scorer.score_batches(batches, *columns):
                writer.write(added.as_written(writable(scored, columns.text, added.error), writer.schema))
                summary.rows += scored.num_rows
                # the error column is null exactly where the row was scored
                summary.errors += scored.num_rows - scored.column(added.error).null_count
                bar.update(scored.num_rows)
    summary.seconds = time.perf_counter() - start
    return summary
