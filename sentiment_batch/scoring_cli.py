"""`sentiment-batch score`: parse the options and hand them to the local or the Spark engine."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from . import local_engine, spark_engine
from .console import say
from .errors import UserError
from .formats import Formats
from .scorer import DEFAULT_BATCH_SIZE
from .summary import RunFailed, Summary

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The `score` subcommand's arguments."""
    parser = argparse.ArgumentParser(
        prog="sentiment-batch score",
        description="Add label, score, prob_<label> and error columns to every row of review files (CSV, TSV, "
        "JSON Lines, also .gz/.bz2/.zst; Parquet; Arrow/Feather). The output appears complete or not at all; an "
        "existing output is only replaced with --overwrite. Exit codes: 0 done, 2 bad input or settings, 3 the "
        "run scored no row, or more than --max-error-rate of them (nothing published). "
        "With --engine spark, INPUT may be any path or URI Spark reads and OUTPUT is a folder.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, globs or folders (recursive, hive partitions kept as columns), read in order; - reads stdin",
    )
    # A string, not a Path, so a URI's "//" survives for the Spark engine.
    parser.add_argument(
        "-o", "--output", required=True, help="output file, its extension picking the format; - writes stdout"
    )
    parser.add_argument(
        "--input-format",
        default=None,
        help="format of every input, e.g. csv, tsv, jsonl.gz, parquet, arrow (default: by extension; needed for stdin)",
    )
    parser.add_argument(
        "--output-format", default=None, help="format of the output (default: by extension; needed for stdout)"
    )
    parser.add_argument("--delimiter", default=None, help="CSV field separator, e.g. ';' or '\\t' (default: ,)")
    parser.add_argument(
        "--keep-columns", default=None, metavar="A,B,...", help="input columns the output keeps (default: all)"
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=None,
        metavar="R",
        help="fail (exit 3, nothing published) when more than this share (0 to 1) of rows cannot be scored",
    )
    parser.add_argument("--summary", default=None, metavar="FILE.json", help="also write the run's summary as JSON")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle folder (default: the bundle shipped with the package)"
    )
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
    parser.add_argument(
        "--encoding", default=None, help="encoding of the CSV inputs, e.g. latin-1 or cp1252 (default: UTF-8)"
    )
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="K",
        help="add an evidence column: each review's K phrases that weigh most toward its label, with their "
        "weights (Parquet: a list of structs; CSV: a JSON array). Default 0: none",
    )
    parser.add_argument(
        "--any-language",
        action="store_true",
        help="score every row; by default a row confidently in another language than the bundle's is not scored "
        "(error: not English (xx))",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide progress (a live bar on a terminal, else a line every 10 s)"
    )
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


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """`--conf KEY=VALUE` options as a dict, later ones winning.

    Args:
        pairs (`Sequence[str]`): the options' values.
    """
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--conf takes KEY=VALUE, got {pair!r}")
        conf[key.strip()] = value
    return conf


def run(args: argparse.Namespace) -> Summary:
    """Score with the engine the options name; options that only the other engine takes are refused.

    Args:
        args (`argparse.Namespace`): the parsed options.
    """
    shared = {
        "formats": Formats(args.input_format, args.output_format, _delimiter(args.delimiter)),
        "keep_columns": None if args.keep_columns is None else args.keep_columns.split(","),
        "max_error_rate": args.max_error_rate,
    }
    common = {
        "bundle": args.bundle,
        "text_column": args.text_column,
        "column_prefix": args.column_prefix,
        "batch_size": args.batch_size,
        "overwrite": args.overwrite,
        "progress": not args.no_progress,
        "encoding": args.encoding,
        "explain": args.explain,
    }
    if args.engine == "spark":
        if args.any_language:
            raise UserError("--any-language is for --engine local; the Spark engine checks the bundle's languages")
        if args.threads is not None:
            raise UserError("--threads is for --engine local; Spark gives each task spark.task.cpus threads")
        conf = parse_conf(args.conf)
        return spark_engine.score_files(args.inputs, args.output, master=args.master, conf=conf, **common, **shared)
    if args.master is not None or args.conf:
        raise UserError("--master and --conf are for --engine spark")
    return local_engine.score_files(
        args.inputs, args.output, threads=args.threads, any_language=args.any_language, **common, **shared
    )


def _delimiter(value: str | None) -> str | None:
    """A `--delimiter` as typed: `\\t` or `tab` for a tab, as a shell makes a tab awkward to type."""
    return "\t" if value in ("\\t", "tab") else value


def report(summary: Summary, summary_file: str | None, published: bool) -> None:
    """The closing line on stderr, and the same as JSON in `summary_file` when asked.

    Args:
        summary (`Summary`): the run's counts.
        summary_file (`str`, *optional*): where `--summary` asked for the JSON.
        published (`bool`): whether the output was published (else the JSON's `output` is null).
    """
    say(summary.line())
    if summary_file is not None:
        if not published:
            summary.output = None
        summary.save(summary_file)


def main(argv: list[str]) -> int:
    """Run `sentiment-batch score` with the arguments that follow `score`; bad input raises `UserError`."""
    args = build_parser().parse_args(argv)
    try:
        summary = run(args)
    except RunFailed as failed:
        report(failed.summary, args.summary, published=False)
        raise
    report(summary, args.summary, published=True)
    return 0
