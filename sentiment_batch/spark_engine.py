"""The Spark scoring engine: the same scoring as a Spark job, from files or URIs to a folder of part files.

Everything that can be refused (the output, the bundle, the inputs' format and columns) is refused in one line
before the job starts. The output is written in Spark's layout (part files and `_SUCCESS`); a local output is
staged beside its path and published only once the job has succeeded (`publish.staged_folder`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .bundle import Bundle, load_bundle
from .columns import OutputColumns, kept_columns
from .errors import UserError, first_line, shown
from .formats import STDIO, FileFormat, Formats
from .publish import OutputExistsError, check_output_path, staged_folder
from .scorer import DEFAULT_BATCH_SIZE
from .summary import RunFailed, Summary, bundle_record, check_error_rate

APP_NAME = "sentiment-batch score"
# Set for a local master's JVM, which reads, converts and writes every row: the throughput collector suits a
# batch job. --conf overrides it.
LOCAL_DEFAULTS = {"spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}
# Options that make Spark read and write CSV as the local engine does: RFC 4180 quoting (quotes doubled), texts
# holding line breaks, spaces kept as they are (Spark's writer trims them by default), and a malformed row or a
# file with another header failing the job instead of turning into nulls.
_CSV = {"header": "true", "escape": '"', "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}
CSV_READ = {**_CSV, "multiLine": "true", "mode": "FAILFAST", "enforceSchema": "false"}
CSV_WRITE = _CSV
# Spark's data source for each kind of file it reads and writes, and its names for the codecs.
SPARK_SOURCES = {"csv": "csv", "tsv": "csv", "jsonl": "json", "parquet": "parquet"}
SPARK_CODECS = {"gzip": "gzip", "bz2": "bzip2", "zstd": "zstd"}
# Partition values stay text (zip=01234 is not the number 1234), as the local engine keeps them.
SESSION_DEFAULTS = {"spark.sql.sources.partitionColumnTypeInference.enabled": "false"}
# Spark's log for a JVM this command starts: errors only, one line each, no stack traces (the command ends with
# the reason in one line). `--conf spark.log.level=INFO` asks for more.
LOG4J2_PROPERTIES = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
appender.stderr.layout.alwaysWriteExceptions = false
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""
_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class JobFailed(UserError):
    """The Spark job started and failed; the CLI exits 1 with the executor's reason."""

    exit_code = 1


@dataclass(frozen=True)
class Location:
    """An input or output as Spark names it, and its path when it is on this machine's file system."""

    uri: str
    local: Path | None

    @classmethod
    def parse(cls, value: str, local_fs: bool) -> Location:
        """Read a path or URI; a path without a scheme is on this machine when the executors are too.

        Args:
            value (`str`): a path, glob or URI.
            local_fs (`bool`): whether Spark's default file system is this machine's (a local master).
        """
        if _URI.match(value):
            parsed = urlparse(value)
            return cls(value, Path(parsed.path) if parsed.scheme == "file" else None)
        return cls(str(Path(value).absolute()), Path(value).absolute()) if local_fs else cls(value, None)

    def named_format(self) -> FileFormat | None:
        """The format the name's extension says, or None."""
        return FileFormat.find(Path(urlparse(self.uri).path.rstrip("/")))


@dataclass(frozen=True)
class Plan:
    """What the job reads and writes, checked before it starts."""

    inputs: list[Location]
    input_format: FileFormat
    output: Location
    output_format: FileFormat


def plan_job(
    inputs: Sequence[str], output: str, overwrite: bool, local_fs: bool, formats: Formats | None = None
) -> Plan:
    """Check the inputs and the output; refuses a format Spark cannot read or write, inputs that mix formats, a
    local input that names nothing, a missing output parent folder, an existing output (unless `overwrite`), or
    an output that is also an input. An output folder without an extension holds Parquet part files unless
    another format is named.

    Args:
        inputs (`Sequence[str]`): paths, globs or URIs.
        output (`str`): a path or URI.
        overwrite (`bool`): whether an existing output may be replaced.
        local_fs (`bool`): whether paths without a scheme are on this machine.
        formats (`Formats`, *optional*): the input and output formats, where named.
    """
    formats = formats or Formats()
    if STDIO in (output, *inputs):
        raise UserError("Spark reads and writes files, not stdin or stdout (-); score it with the local engine")
    target = Location.parse(output, local_fs)
    output_format = spark_format(formats.output_format or target.named_format() or FileFormat("parquet"), output)
    locations = [Location.parse(value, local_fs) for value in inputs]
    found = {
        value: spark_format(formats.input_format or input_format(value, location), value)
        for value, location in zip(inputs, locations, strict=True)
    }
    if len({fmt.kind for fmt in found.values()}) > 1:
        kinds = {value: fmt.kind for value, fmt in found.items()}
        raise UserError(f"the inputs mix formats ({shown(kinds)}); score each format in its own run")
    if target.local is not None:
        local_inputs = [location.local for location in locations if location.local is not None]
        check_output_path(target.local, local_inputs, overwrite, folder=True)
    return Plan(locations, next(iter(found.values())), target, output_format)


def spark_format(fmt: FileFormat, value: str) -> FileFormat:
    """`fmt`, where Spark reads and writes it (Arrow files it does not).

    Args:
        fmt (`FileFormat`): the format.
        value (`str`): the INPUT or OUTPUT, for the message.
    """
    if fmt.kind not in SPARK_SOURCES:
        raise UserError(f"{shown(value)}: Spark has no {fmt.kind} reader or writer; use Parquet, CSV or JSON Lines")
    return fmt


def input_format(value: str, location: Location) -> FileFormat:
    """The format of one INPUT: by its name's extension, else by its files' (a folder or glob on this machine),
    else Parquet, the data lakes' usual format.

    Args:
        value (`str`): the INPUT as given.
        location (`Location`): the INPUT parsed.
    """
    fmt = location.named_format()
    if location.local is None:
        return fmt or FileFormat("parquet")
    files = _local_files(location.local, value)
    found = {FileFormat.find(path) for path in files} - {None}
    if fmt is None and len({kind.kind for kind in found}) != 1:
        raise UserError(f"cannot tell which format {shown(value)} holds; name its files by format, or name it")
    return fmt or found.pop()


def _local_files(path: Path, value: str) -> list[Path]:
    """The visible files an INPUT on this machine names, refusing one that names nothing."""
    if glob.has_magic(str(path)):
        matches = [Path(match) for match in sorted(glob.glob(str(path), recursive=True))]
        if not matches:
            raise UserError(f"no file matches {value!r}")
    elif not path.exists():
        raise UserError(f"input {value} does not exist")
    else:
        matches = [path]
    files = []
    for match in matches:
        found = sorted(match.rglob("*")) if match.is_dir() else [match]
        files += [file for file in found if file.is_file() and not file.name.startswith(("_", "."))]
    return files


def is_local_master(master: str) -> bool:
    """Whether the executors run on this machine (local, local[N], local-cluster[...])."""
    return master.startswith("local")


def resolve_master(master: str | None) -> str | None:
    """The master URL: `--master`, else spark-submit's (None until its session starts), else `local[*]`."""
    if master is not None:
        return master
    return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[*]"


@contextlib.contextmanager
def spark_session(master: str | None, conf: dict[str, str], progress: bool) -> Iterator:
    """The active SparkSession (one started by spark-submit, say), or a new one stopped on the way out.

    Args:
        master (`str`, *optional*): the master URL; None keeps spark-submit's.
        conf (`dict[str, str]`): settings, over the command's defaults.
        progress (`bool`): whether Spark draws its progress bar.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    local = active is None and master is not None and is_local_master(master)
    if local:
        # Workers on this machine run this interpreter, which has the package (and pyarrow) installed.
        os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = SparkSession.builder.appName(APP_NAME)
    if master is not None:
        builder = builder.master(master)
    # Spark's console bar rewrites its line with `\r`: only where stderr is a terminal.
    bar = progress and sys.stderr.isatty()
    settings = {
        **(LOCAL_DEFAULTS if local else {}),
        **SESSION_DEFAULTS,
        "spark.ui.showConsoleProgress": str(bar).lower(),
    }
    settings.update(conf)
    with _log_settings(settings) as settings:
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    try:
        yield session
    finally:
        if active is None and _jvm_running():
            session.stop()


def _jvm_process():
    """The JVM this process started (pyspark's gateway process), or None (spark-submit started it)."""
    from pyspark import SparkContext

    return getattr(SparkContext._gateway, "proc", None)


def _jvm_running() -> bool:
    process = _jvm_process()
    return process is None or process.poll() is None


@contextlib.contextmanager
def _ending_jvm_on_interrupt() -> Iterator[None]:
    """End the JVM this process started when an interrupt or a termination signal stops the job.

    The signal may arrive while Py4J waits for a reply, which leaves its connection unusable; and the job's tasks
    must stop writing before the command removes what they were writing. The JVM's shutdown hook stops them.
    """
    try:
        yield
    except Exception:
        raise
    except BaseException:
        process = _jvm_process()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise


@contextlib.contextmanager
def _log_settings(settings: dict[str, str]) -> Iterator[dict[str, str]]:
    """`settings` plus `LOG4J2_PROPERTIES` for the driver JVM, when this process starts it and the caller
    configured no log4j of their own; the file only lives while the JVM starts."""
    from pyspark import SparkContext

    options = settings.get(_JAVA_OPTIONS, "")
    if SparkContext._gateway is not None or os.environ.get("PYSPARK_GATEWAY_PORT") or "log4j" in options:
        yield settings
        return
    with tempfile.NamedTemporaryFile("w", prefix="sentiment-batch-log4j2-", suffix=".properties") as handle:
        handle.write(LOG4J2_PROPERTIES)
        handle.flush()
        yield {**settings, _JAVA_OPTIONS: f"-Dlog4j2.configurationFile={handle.name} {options}".strip()}


def read_inputs(spark, plan: Plan, encoding: str | None = None, delimiter: str | None = None):
    """The inputs as one DataFrame; CSV cells are all text and never null, as in the local engine.

    Args:
        spark (`SparkSession`): the session.
        plan (`Plan`): the checked inputs.
        encoding (`str`, *optional*): the encoding of CSV inputs.
        delimiter (`str`, *optional*): the CSV field separator; the format's own by default.
    """
    uris = [location.uri for location in plan.inputs]
    kind = plan.input_format.kind
    if kind == "parquet":
        return spark.read.parquet(*uris)
    if kind == "jsonl":
        return spark.read.options(mode="FAILFAST").json(uris)
    options = {
        **CSV_READ,
        "sep": delimiter or plan.input_format.delimiter,
        **({"encoding": encoding} if encoding else {}),
    }
    return spark.read.options(**options).csv(uris).na.fill("")


def write_output(df, plan: Plan, overwrite: bool, delimiter: str | None, judge) -> None:
    """Write the scored DataFrame and judge what was written before it counts as published: a local output
    appears only once the whole job has succeeded and `judge` has passed it; another is removed if it fails.

    Args:
        df (`pyspark.sql.DataFrame`): the scored rows.
        plan (`Plan`): the checked output.
        overwrite (`bool`): whether an existing output may be replaced.
        delimiter (`str`, *optional*): the CSV field separator.
        judge (`Callable[[str], None]`): reads what was written at a URI; raises to publish nothing.
    """
    fmt = plan.output_format
    options = {**CSV_WRITE, "sep": delimiter or fmt.delimiter} if fmt.kind in ("csv", "tsv") else {}
    if fmt.compression is not None:
        options["compression"] = SPARK_CODECS[fmt.compression]
    writer = df.write.format(SPARK_SOURCES[fmt.kind]).options(**options)
    if plan.output.local is None:
        with _ending_jvm_on_interrupt():
            writer.mode("overwrite" if overwrite else "errorifexists").save(plan.output.uri)
        try:
            judge(plan.output.uri)
        except RunFailed:
            _remove(df.sparkSession, plan.output.uri)
            raise
        return
    with staged_folder(plan.output.local, overwrite=overwrite) as staging, _ending_jvm_on_interrupt():
        writer.mode("overwrite").save(staging.as_uri())
        judge(staging.as_uri())


def _remove(spark, uri: str) -> None:
    """Delete a folder on Spark's file system (an output that must not be taken for a good one)."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(path, True)


def failure_reason(error: BaseException) -> str:
    """The one line that says why a Spark job failed: the Python worker's exception, else the JVM's, with its
    root cause.

    Args:
        error (`BaseException`): what pyspark raised on the driver.
    """
    text = str(error)
    if _TRACEBACK in text:
        worker = text[text.rindex(_TRACEBACK) :].split("\n\tat ")[0]
        raised = [line.strip() for line in worker.splitlines() if _PYTHON_RAISE.match(line.strip())]
        if raised:
            kind, message = raised[-1].split(": ", 1)
            return f"{kind.rsplit('.', 1)[-1]}: {message}"
    messages = [_spark_message(match.group(1)) for match in _JAVA_RAISE.finditer(text)]
    messages = [message for message in messages if message]
    if messages:
        return messages[0] if messages[-1] in messages[0] else f"{messages[0]}: {messages[-1]}"
    return first_line(error)


_TRACEBACK = "Traceback (most recent call last):"
_PYTHON_RAISE = re.compile(r"^[\w.]+: ")
# A Java exception's first line in a Py4J error: ": class: message" at the top, "Caused by: class: message" below.
_JAVA_RAISE = re.compile(r"^(?:: |Caused by: )[\w.$]+: (.*)$", re.MULTILINE)


def _spark_message(message: str) -> str:
    """A Spark error message without its `[ERROR_CLASS]` prefix and `SQLSTATE` suffix."""
    message = re.sub(r"^\[[A-Z_.]+\]\s*", "", message)
    return re.sub(r"\s*SQLSTATE: \w+\s*$", "", message).rstrip(". ")


def score_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    bundle: str | os.PathLike | Bundle | None = None,
    text_column: str = "text",
    column_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    overwrite: bool = False,
    progress: bool = True,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    encoding: str | None = None,
    explain: int = 0,
    formats: Formats | None = None,
    keep_columns: Sequence[str] | None = None,
    max_error_rate: float | None = None,
) -> Summary:
    """Score files or URIs as a Spark job into a folder of part files; every refusal comes before the job, a failed
    job raises `JobFailed`, and a job that scored no row (or more than `max_error_rate` could not be scored) raises
    `RunFailed` and publishes nothing.

    The parameters shared with the local engine (`bundle` on the driver, `text_column`, `column_prefix`,
    `batch_size`, `overwrite`, `encoding`, `explain`) mean what they mean in `local_engine.score_files`.

    Args:
        inputs (`Sequence[str | os.PathLike]`): paths, globs, folders or URIs Spark reads (CSV, TSV, JSON Lines,
            Parquet).
        output (`str | os.PathLike`): the output folder or URI; its extension, else `formats.output`, else
            Parquet picks its part files' format.
        progress (`bool`, *optional*, defaults to True): let Spark draw its progress bar (on a terminal only).
        master (`str`, *optional*): the master URL; defaults to spark-submit's, else `local[*]`.
        conf (`Mapping[str, str]`, *optional*): Spark settings, over the engine's defaults.
        formats (`Formats`, *optional*): input and output formats and the CSV delimiter, where names do not say.
        keep_columns (`Sequence[str]`, *optional*): the input columns the output keeps; all by default.
        max_error_rate (`float`, *optional*): the largest share (0 to 1) of rows that may be unscorable.
    """
    inputs, output = [os.fspath(value) for value in inputs], os.fspath(output)
    formats = formats or Formats()
    max_error_rate = check_error_rate(max_error_rate)
    master = resolve_master(master)
    local_fs = master is not None and is_local_master(master)
    plan = plan_job(inputs, output, overwrite, local_fs, formats) if master is not None else None
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)  # refused before Spark starts
    from pyspark.errors import AnalysisException

    from .spark import scored_for

    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    with spark_session(master, dict(conf or {}), progress=progress) as spark:
        plan = plan or plan_job(inputs, output, overwrite, is_local_master(spark.sparkContext.master), formats)
        try:
            df = read_inputs(spark, plan, encoding, formats.delimiter)
            kept = kept_columns(df.columns, keep_columns)
            csv = plan.output_format.kind in ("csv", "tsv")  # no nested columns: the evidence goes as JSON
            scored = scored_for(df, loaded, text_column, column_prefix, batch_size, explain, csv)
            scored = scored.select(*kept, *scored.columns[len(df.columns) :])
        except AnalysisException as error:
            raise UserError(first_line(error)) from error
        summary = Summary(inputs=df.inputFiles(), output=output, bundle=bundle_record(loaded))
        added = OutputColumns.of(loaded.labels, column_prefix, explain)
        judge = Judge(spark, plan, formats.delimiter, summary, added, max_error_rate)
        run_job(scored, plan, overwrite, formats.delimiter, judge)
    return summary


@dataclass
class Judge:
    """Counts what a job wrote (rows by label and by error) into the summary, and fails a run that scored too
    little, before its output is published."""

    spark: object
    plan: Plan
    delimiter: str | None
    summary: Summary
    added: OutputColumns
    max_error_rate: float | None

    def __call__(self, uri: str) -> None:
        fmt = self.plan.output_format
        reader = self.spark.read.format(SPARK_SOURCES[fmt.kind])
        if fmt.kind in ("csv", "tsv"):
            reader = reader.options(**CSV_READ, sep=self.delimiter or fmt.delimiter)
        label, error = self.added.label, self.added.error
        written = reader.load(uri).select(label, error)
        for row in written.groupBy(label, error).count().collect():
            self.summary.rows += row["count"]
            if row[error] is not None:
                self.summary.errors[row[error]] += row["count"]
            elif row[label] is not None:
                self.summary.labels[row[label]] += row["count"]
        failure = self.summary.failure(self.max_error_rate)
        if failure is not None:
            raise RunFailed(f"{failure}; nothing was published", self.summary)


def run_job(scored, plan: Plan, overwrite: bool, delimiter: str | None, judge: Judge) -> None:
    """Write the scored DataFrame and count what was written into the judge's summary.

    Args:
        scored (`pyspark.sql.DataFrame`): from `spark.score`, columns selected.
        plan (`Plan`): the checked output.
        overwrite (`bool`): whether an existing output may be replaced.
        delimiter (`str`, *optional*): the CSV field separator.
        judge (`Judge`): counts the output and fails a run that scored too little.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException, PySparkException

    start = time.perf_counter()
    try:
        write_output(scored, plan, overwrite, delimiter, judge)
    except AnalysisException as error:
        if "PATH_ALREADY_EXISTS" in str(error):
            raise OutputExistsError(f"{plan.output.uri} already exists and replacing it was not asked for") from error
        raise UserError(first_line(error)) from error
    except (PySparkException, Py4JJavaError) as error:
        raise JobFailed(f"the Spark job failed: {failure_reason(error)}") from error
    judge.summary.seconds = time.perf_counter() - start
