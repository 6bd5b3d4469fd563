"""`sentiment-batch score`: score CSV/Parquet files of reviews with an ONNX bundle, streaming in chunks."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from .bundle import load_bundle
from .errors import UserError
from .io import CHUNK_ROWS, AtomicWriter, Source, conform, expand_inputs, file_format, open_source
from .publish import check_output
from .scorer import DEFAULT_BATCH_SIZE, Scorer, added_fields, check_columns

logger = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a run did, for the closing line."""

    rows: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self, files: int, output: str | Path) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (
            f"scored {self.rows} rows from {files} file(s) into {output}: "
            f"{self.errors} errors, {self.seconds:.2f} s, {rate:,.0f} rows/s"
        )


def build_parser() -> argparse.ArgumentParser:
    """The `score` subcommand's arguments."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch score",
        description="Add label, score, prob_<label> and error columns to every row of CSV/Parquet review files. "
        "The output appears complete or not at all; an existing output is only replaced with --overwrite. "
        "With --engine spark, INPUT may be any path or URI Spark reads and OUTPUT is a folder.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="CSV or Parquet files or globs, read in order")
    # A string, not a Path, so a URI's "//" survives for the Spark engine.
    parser.add_argument("--output", required=True, help="output file; .csv or .parquet picks the format")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle folder (default: the bundle shipped with the package)"
    )
    # Accepted for the bundle, as before 0.2; hidden, since --model names a trained model folder in the other commands.
    parser.add_argument("--model", dest="legacy_bundle", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--text-column", default="text", help="column holding the review text (default: text)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="reviews per model call")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="batches tokenized and scored at once, one CPU thread each (default: the CPU count)",
    )
    parser.add_argument("--column-prefix", default="", help="prefix for the added columns, if names clash")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    spark = parser.add_argument_group("Spark", "score as a Spark job (pip install 'sentiment-batch[spark]')")
    spark.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this process (default); spark: a Spark job writing a folder of part files and _SUCCESS",
    )
    spark.add_argument("--master", default=None, help="Spark master URL (default: spark-submit's, else local[*])")
    spark.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting; may be repeated"
    )
    return parser


def open_sources(paths: Sequence[Path], text_column: str, added: Sequence[str]) -> list[Source]:
    """Open every input before writing anything; all must have the text column and the same column names.

    Args:
        paths (`Sequence[Path]`): the input files.
        text_column (`str`): the column holding the text.
        added (`Sequence[str]`): the names scoring adds, which must not exist already.
    """
    sources = [open_source(path) for path in paths]
    first = sources[0]
    for source in sources:
        check_columns(source.schema.names, text_column, added, where=str(source.path))
        if source.schema.names != first.schema.names:
            raise UserError(
                f"{source.path} has columns {source.schema.names}, but {first.path} has {first.schema.names}; "
                "all inputs must have the same columns"
            )
    return sources


def check_output_path(output: Path, inputs: Sequence[Path], overwrite: bool, *, folder: bool = False) -> None:
    """Fail early on an output with an unknown extension, a missing folder, that exists, or that is also an input.

    Args:
        output (`Path`): the output file (or, for the Spark engine, folder).
        inputs (`Sequence[Path]`): the input paths.
        overwrite (`bool`): whether an existing output may be replaced.
        folder (`bool`, *optional*, defaults to False): whether the output is a folder of part files.
    """
    file_format(output, "output")
    if not output.parent.is_dir():
        raise UserError(f"output folder {output.parent} does not exist")
    if any(output.resolve() == path.resolve() for path in inputs):
        raise UserError(f"output {output} is also an input; write to another {'folder' if folder else 'file'}")
    check_output(output, overwrite=overwrite, folder=folder)


def score_files(scorer: Scorer, sources: Sequence[Source], writer: AtomicWriter, args: argparse.Namespace) -> Summary:
    """Stream every source through the scorer into the writer, chunk by chunk, in order.

    Args:
        scorer (`Scorer`): the loaded bundle.
        sources (`Sequence[Source]`): opened inputs.
        writer (`AtomicWriter`): the open output.
        args (`argparse.Namespace`): parsed options (text_column, column_prefix, no_progress).
    """
    counts = [source.num_rows for source in sources]
    total = None if None in counts else sum(counts)
    summary, start = Summary(), time.perf_counter()
    with tqdm(total=total, unit=" rows", unit_scale=True, disable=args.no_progress, file=sys.stderr) as progress:
        for source in sources:
            batches = (conform(batch, sources[0].schema, source.path) for batch in source.batches(CHUNK_ROWS))
            for scored in scorer.score_batches(batches, args.text_column, args.column_prefix):
                writer.write(scored)
                summary.rows += scored.num_rows
                # the error column is the last one and null exactly where the row was scored
                summary.errors += scored.num_rows - scored.column(scored.num_columns - 1).null_count
                progress.update(scored.num_rows)
    summary.seconds = time.perf_counter() - start
    return summary


def output_schema(labels: Sequence[str], input_schema: pa.Schema, prefix: str) -> pa.Schema:
    """The input's fields followed by the ones scoring adds.

    Args:
        labels (`Sequence[str]`): the bundle's labels.
        input_schema (`pa.Schema`): the first input's schema.
        prefix (`str`): prefix of the added names.
    """
    return pa.schema([*input_schema, *added_fields(labels, prefix)])


def main(argv: list[str] | None = None) -> int:
    """Run `sentiment-batch score`; bad input raises `UserError`, which the dispatcher reports and exits 2.

    Everything that can be checked without the model is checked first: the inputs, the bundle (every file
    hashed), and that the output can be created (its temporary file is); only then is the model loaded.

    Args:
        argv (`list[str]`, *optional*): the arguments after `score`; defaults to `sys.argv[2:]`.
    """
    args = build_parser().parse_args(sys.argv[2:] if argv is None else argv)
    if args.legacy_bundle is not None:
        logger.warning("--model is now --bundle in score; --model will go in a later release")
        args.bundle = args.bundle or args.legacy_bundle
    if args.engine == "spark":
        from .spark_cli import run  # pyspark loads only here

        return run(args)
    if args.master is not None or args.conf:
        raise UserError("--master and --conf are for --engine spark")
    args.output = Path(args.output)
    paths = expand_inputs(args.inputs)
    check_output_path(args.output, paths, args.overwrite)
    bundle = load_bundle(args.bundle)
    added = [field.name for field in added_fields(bundle.labels, args.column_prefix)]
    sources = open_sources(paths, args.text_column, added)
    schema = output_schema(bundle.labels, sources[0].schema, args.column_prefix)
    if args.threads is not None:
        # The Rust tokenizer's own pool (texts the fast path hands over) gets no more threads than asked for.
        os.environ.setdefault("RAYON_NUM_THREADS", str(max(args.threads, 1)))
    writer = AtomicWriter(args.output, schema, overwrite=args.overwrite)
    with writer, Scorer(bundle, threads=args.threads, batch_size=args.batch_size) as scorer:
        summary = score_files(scorer, sources, writer, args)
    print(summary.line(len(sources), args.output), file=sys.stderr)
    return 0
