"""The local scoring engine: files in every format of `formats` in, one scored file (or stdout) out, streamed in
chunks on this machine's cores."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from .bundle import Bundle, load_bundle
from .columns import OutputColumns, check_columns, kept_columns
from .errors import shown
from .formats import STDIO, Formats
from .progress import Progress
from .publish import check_output_path
from .readers import CHUNK_ROWS, InputFile, ReadOptions, Source, conform, discover, open_source, unified_schema
from .scorer import BUNDLE_LANGUAGES, DEFAULT_BATCH_SIZE, Scorer
from .summary import RunFailed, Summary, bundle_record, check_error_rate
from .text import writable
from .writers import OutputWriter, output_format, provenance


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
    formats: Formats | None = None,
    keep_columns: Sequence[str] | None = None,
    max_error_rate: float | None = None,
    any_language: bool = False,
) -> Summary:
    """Score files into one output file (or stdout), which appears complete or not at all; its parameters are
    the ones every engine shares (the Spark engine's `score_files` refers here).

    Everything that can be checked without the model is checked first: the inputs (their columns and types),
    the bundle (every file hashed), and that the output can be created (its temporary file is); only then is the
    model loaded. The output holds every input column (or those kept), its type widened only where no value
    changes. A run that scores no row of at least one, or more than `max_error_rate` of its rows, raises
    `RunFailed` (its summary attached) and publishes nothing.

    Args:
        inputs (`Sequence[str | os.PathLike]`): files, globs, folders (hive partitions become columns) or `-` for
            stdin, read in order.
        output (`str | os.PathLike`): the output file, or `-` for stdout; its extension picks its format.
        bundle (`str | os.PathLike | Bundle`, *optional*): the bundle folder, or one `load_bundle` checked;
            defaults to the bundle shipped with the package.
        text_column (`str`, *optional*, defaults to "text"): the column holding the review text.
        column_prefix (`str`, *optional*, defaults to ""): put before every added column's name.
        batch_size (`int`, *optional*, defaults to 256): reviews per model call.
        threads (`int`, *optional*): model batches scored at once; defaults to the CPU count.
        overwrite (`bool`, *optional*, defaults to False): replace an existing output.
        progress (`bool`, *optional*, defaults to True): show progress on stderr.
        encoding (`str`, *optional*): the encoding of the CSV inputs; UTF-8 by default.
        explain (`int`, *optional*, defaults to 0): add an `evidence` column, each review's `explain` heaviest
            phrases (a list of structs in Parquet, Arrow and JSON, a JSON array in CSV); 0 for none.
        formats (`Formats`, *optional*): input and output formats and the delimiter, where names do not say them.
        keep_columns (`Sequence[str]`, *optional*): the input columns the output keeps, in this order; all by
            default.
        max_error_rate (`float`, *optional*): the largest share (0 to 1) of rows that may be unscorable.
        any_language (`bool`, *optional*, defaults to False): score every row; by default a row confidently in
            another language than the bundle's gets the error `not English (xx)` (see `Scorer`).
    """
    formats = formats or Formats()
    options = ReadOptions(formats.input_format, encoding, formats.delimiter)
    max_error_rate = check_error_rate(max_error_rate)
    output = os.fspath(output)
    fmt = output_format(output, formats.output_format)
    files = discover([os.fspath(path) for path in inputs], options)
    if output != STDIO:
        check_output_path(Path(output), [file.path for file in files if file.path is not None], overwrite)
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    added = OutputColumns.of(loaded.labels, column_prefix, explain)
    sources = open_sources(files, text_column, added.names, options)
    inputs_schema = unified_schema(sources)
    kept = list(range(len(inputs_schema)))  # by position: input names may repeat
    if keep_columns is not None:
        kept = [inputs_schema.get_field_index(name) for name in kept_columns(inputs_schema.names, keep_columns)]
    fields = added.fields(csv=fmt.kind in ("csv", "tsv"))  # no nested CSV columns: the evidence goes as JSON
    schema = pa.schema([*(inputs_schema.field(index) for index in kept), *fields], metadata=inputs_schema.metadata)
    metadata = None
    if not fmt.is_text:
        metadata = provenance(loaded.manifest.model_sha256, loaded.labels, text_column, explain)
    writer = OutputWriter(output, schema, fmt, overwrite=overwrite, delimiter=formats.delimiter, metadata=metadata)
    summary = Summary(inputs=[file.name for file in files], output=output, bundle=bundle_record(loaded))
    languages = None if any_language else BUNDLE_LANGUAGES
    with writer, Scorer(loaded, threads=threads, batch_size=batch_size, languages=languages) as scorer:
        columns = Columns(text_column, column_prefix, explain)
        selected = [*kept, *range(len(inputs_schema), len(inputs_schema) + len(fields))]
        stream(scorer, sources, inputs_schema, Output(writer, selected), columns, progress, summary)
        failure = summary.failure(max_error_rate)
        if failure is not None:
            raise RunFailed(f"{failure}; nothing was published", summary)
    return summary


def open_sources(
    files: Sequence[InputFile], text_column: str, added: Sequence[str], options: ReadOptions | None = None
) -> list[Source]:
    """Open every input before writing anything; each must have the text column and none of the added columns.

    Args:
        files (`Sequence[InputFile]`): the inputs, from `readers.discover`.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring adds, which must not exist already.
        options (`ReadOptions`, *optional*): how text inputs are read.
    """
    sources = [open_source(file, options) for file in files]
    for source in sources:
        check_columns(source.schema.names, text_column, added, where=shown(source.file.name))
    return sources


class Columns(NamedTuple):
    """Which column holds the text, and what to add: the added columns' prefix and phrases of evidence."""

    text: str
    prefix: str
    explain: int


class Output(NamedTuple):
    """The open output, and which columns of a scored batch it takes (kept inputs, then every added column)."""

    writer: OutputWriter
    columns: list[int]


def stream(
    scorer: Scorer,
    sources: Sequence[Source],
    inputs_schema: pa.Schema,
    output: Output,
    columns: Columns,
    progress: bool,
    summary: Summary,
) -> Summary:
    """Stream every source through the scorer into the writer, chunk by chunk, in order, counting into `summary`.

    Args:
        scorer (`Scorer`): the loaded bundle.
        sources (`Sequence[Source]`): opened inputs.
        inputs_schema (`pa.Schema`): the inputs' columns as the output has them (`unified_schema`).
        output (`Output`): the open output; its schema says how evidence is written (nested, or JSON text).
        columns (`Columns`): the text column and the columns to add.
        progress (`bool`): show progress on stderr.
        summary (`Summary`): counts rows, errors by reason and labels.
    """
    counts = [source.num_rows for source in sources]
    total = None if None in counts else sum(counts)
    start = time.perf_counter()
    added = scorer.output_columns(columns.prefix, columns.explain)
    with Progress(total, progress) as bar:
        for source in sources:
            chunks = source.batches(CHUNK_ROWS, columns.text)
            batches = (conform(batch, inputs_schema, source) for batch in chunks)
            for scored in scorer.score_batches(batches, *columns):
                summary.count(scored.column(added.label), scored.column(added.error))
                kept = writable(scored, columns.text, added.error).select(output.columns)
                output.writer.write(added.as_written(kept, output.writer.schema))
                bar.update(scored.num_rows)
    summary.seconds = time.perf_counter() - start
    return summary
