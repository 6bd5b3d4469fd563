"""The `sentiment-batch` console script: one subcommand per stage, each loaded only when called.

Every subcommand module has `main(argv) -> int`. Errors of the caller's making (the library's `UserError` and
`UserTypeError`, and `OSError` on the caller's files) end as one line on stderr and exit code 2; an interrupt or a
termination signal as one line and 128 + the signal's number, after the run's temporary files are removed. Anything
else is a bug: one line that says so and exit code 1, with the traceback under `--debug` (or
SENTIMENT_BATCH_TRACEBACK=1).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback

from . import __version__
from .console import BestEffort, say, to_devnull
from .errors import UserError, UserTypeError, cut, first_line, shown
from .publish import OutputExistsError
from .stopping import Stopped, raise_if_stopped, signals_held, taking_stop_signals

# Subcommand → (module, summary). Modules load lazily so `score` never pays for torch.
COMMANDS = {
    "train": ("sentiment_batch.train.training", "train a model on any labelled texts with transformers.Trainer"),
    "export": ("sentiment_batch.export.exporter", "export a trained model folder to a parity-checked ONNX bundle"),
    "verify": ("sentiment_batch.export.verify", "compare an ONNX bundle with its PyTorch model on a dataset"),
    "score": (
        "sentiment_batch.scoring_cli",
        "score review files (CSV, JSON Lines, Parquet, Arrow) with an ONNX bundle",
    ),
    "evaluate": ("sentiment_batch.evaluation", "measure a bundle on labelled reviews: accuracy, F1, calibration"),
    "info": ("sentiment_batch.info", "describe a bundle: labels, settings, training data, measured accuracy"),
    "report": ("sentiment_batch.report", "write one self-contained HTML page about scored files"),
}
EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXPECTED_ERRORS = (UserError, UserTypeError, OSError)
DEBUG_VARIABLE = "SENTIMENT_BATCH_TRACEBACK"
TRAINING_MODULES = ("torch", "transformers", "datasets", "evaluate", "onnx", "onnxscript", "wandb", "yaml")
SPARK_MODULES = ("pyspark", "py4j")
SPARK_EXTRA = "pip install 'sentiment-batch[spark]' (and Java 17 or newer)"
# The most characters of an error's own words one line shows: a message may quote a path or a value of any length.
SHOWN_CHARS = 1000


def standard_streams() -> None:
    """Give a closed standard stream (`2>&-`) /dev/null, so no file the run opens takes its descriptor (a library
    writing to stderr would write into it) and what is written there goes nowhere."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            to_devnull(fd)
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode))  # noqa: SIM115 (lives as long as the process)


def usage() -> str:
    lines = ["usage: sentiment-batch [--version] [--debug] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `sentiment-batch COMMAND --help` for a command's options."]
    lines += ["--debug (or SENTIMENT_BATCH_TRACEBACK=1) prints the traceback of an error."]
    return "\n".join(lines)


def error_line(error: BaseException) -> str:
    """What the CLI prints for an error of the caller's making: its first line, cut to a readable length, with the
    flag that helps."""
    if isinstance(error, OutputExistsError):
        return f"{cut(first_line(error), SHOWN_CHARS)}; pass --overwrite to replace it"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {cut(shown(error.filename), SHOWN_CHARS)}" if error.filename else error.strerror
    return cut(first_line(error), SHOWN_CHARS)


def bug_line(error: BaseException) -> str:
    """What the CLI prints for an unexpected error: that it is a bug, and what it was."""
    return (
        f"internal error (a bug in sentiment-batch {__version__}; please report it): "
        f"{type(error).__name__}: {cut(first_line(error), SHOWN_CHARS)} (run with --debug for the traceback)"
    )


def split_global_options(argv: list[str]) -> tuple[dict[str, bool], list[str]]:
    """The options before the command (`--debug`, `--version`, `--help`) and the rest of the arguments."""
    options = {"debug": False, "version": False, "help": False}
    flags = {"--debug": "debug", "-V": "version", "--version": "version", "-h": "help", "--help": "help"}
    while argv and argv[0] in flags:
        options[flags[argv.pop(0)]] = True
    return options, argv


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand's own `main(argv) -> int`.

    Args:
        argv (`list[str]`, *optional*): arguments after the program name; defaults to `sys.argv[1:]`, as the
            console script calls it.
    """
    console = argv is None
    options, argv = split_global_options(sys.argv[1:] if console else list(argv))
    if options["version"]:
        print(f"sentiment-batch {__version__}")
        return 0
    if not argv or options["help"]:
        print(usage())
        return 0 if options["help"] else EXIT_USER_ERROR
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        say(f"sentiment-batch: unknown command {cut(repr(command), 100)}\n\n{usage()}")
        return EXIT_USER_ERROR
    debug = options["debug"] or bool(os.environ.get(DEBUG_VARIABLE))
    standard_streams()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=BestEffort(sys.stderr)
    )
    logging.getLogger("sentiment_batch").setLevel(logging.INFO)  # our progress lines, not every library's
    # The console script's process ends with the run; a program that calls `main` gets its handlers back.
    with taking_stop_signals(restore=not console):
        return run_command(command, rest, debug)


def run_command(command: str, argv: list[str], debug: bool) -> int:
    """Run one subcommand and turn whatever ends it into one line on stderr and an exit code.

    Args:
        command (`str`): a key of `COMMANDS`.
        argv (`list[str]`): its arguments.
        debug (`bool`): print the traceback of an error too.
    """
    prefix = f"sentiment-batch {command}"
    try:
        return stopped_first(command, argv)
    except ModuleNotFoundError as error:
        if error.name in SPARK_MODULES:
            say(f"{prefix}: {error.name} is missing; install the spark extra: {SPARK_EXTRA}")
            return EXIT_USER_ERROR
        if error.name not in TRAINING_MODULES:
            return report_bug(prefix, error, debug)
        extra = "pip install 'sentiment-batch[train]' (PyTorch's CPU build first: see the README)"
        say(f"{prefix}: {error.name} is missing; install the training extra: {extra}")
        return EXIT_USER_ERROR
    except EXPECTED_ERRORS as error:
        if debug:
            say(traceback.format_exc().rstrip())
        say(f"{prefix}: error: {error_line(error)}")
        # An error may carry its own code: a Spark job that started and failed exits 1, not 2.
        return getattr(error, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        say(f"{prefix}: interrupted")
        return 128 + signal.SIGINT
    except Stopped as stopped:
        say(f"{prefix}: stopped by {stopped}")
        return 128 + stopped.signum
    except Exception as error:
        return report_bug(prefix, error, debug)


def stopped_first(command: str, argv: list[str]) -> int:
    """Run one subcommand; where a stop signal came, the run ends as stopped, whatever the stop turned into on
    its way (a library that swallowed it, or made an error of its own of it)."""
    try:
        with signals_held():
            module = importlib.import_module(COMMANDS[command][0])
        code = module.main(argv)
    except Exception:
        raise_if_stopped()
        raise
    raise_if_stopped()
    return code


def report_bug(prefix: str, error: Exception, debug: bool) -> int:
    """Say in one line that an unexpected error is a bug (with its traceback when debugging); exit code 1."""
    if debug:
        say(traceback.format_exc().rstrip())
    say(f"{prefix}: {bug_line(error)}")
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
