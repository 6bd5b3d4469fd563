"""The `sentiment-batch` console script: one subcommand per stage, each loaded only when called.

Every subcommand module has `main(argv) -> int`. Errors of the caller's making (the library's `UserError` and
`UserTypeError`, and `OSError` on the caller's files) end as one line on stderr and exit code 2; an interrupt or a
termination signal as one line and 128 + the signal's number, after the run's temporary files are removed. Anything
else is a bug: one line that says so and exit code 1, with the traceback under `--debug` (or
SENTIMENT_BATCH_TRACEBACK=1).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator

from . import __version__
from .console import BestEffort, say, to_devnull
from .errors import UserError, UserTypeError, first_line, shown
from .publish import OutputExistsError

# Subcommand → (module, summary). Modules load lazily so `score` never pays for torch.
COMMANDS = {
    "train": ("sentiment_batch.train.training", "train the model on IMDb-shaped data with transformers.Trainer"),
    "export": ("sentiment_batch.export.exporter", "export a trained model folder to a parity-checked ONNX bundle"),
    "verify": ("sentiment_batch.export.verify", "compare an ONNX bundle with its PyTorch model on a dataset"),
    "upgrade": ("sentiment_batch.export.upgrade", "rewrite a format-1 bundle in the current format, same predictions"),
    "score": ("sentiment_batch.scoring_cli", "score CSV/Parquet files of reviews with an ONNX bundle"),
    "report": ("sentiment_batch.report", "write one self-contained HTML page about scored files"),
}
EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXPECTED_ERRORS = (UserError, UserTypeError, OSError)
DEBUG_VARIABLE = "SENTIMENT_BATCH_TRACEBACK"
TRAINING_MODULES = ("torch", "transformers", "datasets", "evaluate", "onnx", "onnxscript", "wandb", "yaml")
SPARK_MODULES = ("pyspark", "py4j")
SPARK_EXTRA = "pip install 'sentiment-batch[spark]' (and Java 17 or newer)"
# Signals whose default action ends the process, sent by `kill`, systemd, Kubernetes, Airflow, a closing terminal or
# a resource limit; each becomes an exception, so every `finally` and `with` cleans up. Left out: SIGKILL and SIGSTOP
# (no process can catch them) and the fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGTRAP), after which
# no Python code can run safely.
STOP_SIGNALS = (
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGABRT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGIO",
    "SIGPWR",
    "SIGSTKFLT",
)


class Stopped(BaseException):
    """A termination signal arrived; a BaseException, like KeyboardInterrupt, so nothing swallows it."""

    def __init__(self, signum: int):
        try:
            name = signal.Signals(signum).name
        except ValueError:  # a real-time signal has a number only
            name = f"signal {signum}"
        super().__init__(name)
        self.signum = signum


def stop_signals() -> list[int]:
    """The numbers of the stop signals this platform has, real-time signals included (they end a process too)."""
    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    if hasattr(signal, "SIGRTMIN"):
        numbers += range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
    return numbers


def _ignore(signum: int, frame) -> None:
    """Take a signal and do nothing (a Python handler, unlike SIG_IGN, also absorbs signals already pending)."""


def _stop(signum: int, frame) -> None:
    # Later signals are ignored, so a second `kill` (or Ctrl-C) cannot cut the cleanup short.
    for number in [signal.SIGINT, *stop_signals()]:
        signal.signal(number, _ignore)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


def stop_on_signals() -> dict[int, object]:
    """Turn SIGINT into KeyboardInterrupt and every other stop signal into `Stopped`; return the handlers replaced."""
    previous = {}
    for number in [signal.SIGINT, *stop_signals()]:
        previous[number] = signal.signal(number, _stop)
    return previous


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals back while the block runs, then take any that came meanwhile.

    Imports run here: a signal handled inside an extension module's initialisation (onnxruntime's, say) would turn
    into `ImportError: initialization failed` instead of a clean stop.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows
        yield
        return
    held = {signal.SIGINT, *stop_signals()}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a signal held back is handled here


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


def restore_signals(previous: dict[int, object]) -> None:
    """Put back the handlers `stop_on_signals` replaced (the CLI may run inside another program, e.g. tests)."""
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def usage() -> str:
    lines = ["usage: sentiment-batch [--version] [--debug] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<8}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `sentiment-batch COMMAND --help` for a command's options."]
    lines += ["--debug (or SENTIMENT_BATCH_TRACEBACK=1) prints the traceback of an error."]
    return "\n".join(lines)


def error_line(error: BaseException) -> str:
    """What the CLI prints for an error of the caller's making: its first line, with the flag that helps."""
    if isinstance(error, OutputExistsError):
        return f"{first_line(error)}; pass --overwrite to replace it"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {shown(error.filename)}" if error.filename else error.strerror
    return first_line(error)


def bug_line(error: BaseException) -> str:
    """What the CLI prints for an unexpected error: that it is a bug, and what it was."""
    return (
        f"internal error (a bug in sentiment-batch {__version__}; please report it): "
        f"{type(error).__name__}: {first_line(error)} (run with --debug for the traceback)"
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
        argv (`list[str]`, *optional*): arguments after the program name; defaults to `sys.argv[1:]`.
    """
    options, argv = split_global_options(sys.argv[1:] if argv is None else list(argv))
    if options["version"]:
        print(f"sentiment-batch {__version__}")
        return 0
    if not argv or options["help"]:
        print(usage())
        return 0 if options["help"] else EXIT_USER_ERROR
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        say(f"sentiment-batch: unknown command {command!r}\n\n{usage()}")
        return EXIT_USER_ERROR
    debug = options["debug"] or bool(os.environ.get(DEBUG_VARIABLE))
    standard_streams()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=BestEffort(sys.stderr)
    )
    logging.getLogger("sentiment_batch").setLevel(logging.INFO)  # our progress lines, not every library's
    previous = stop_on_signals()
    try:
        return run_command(command, rest, debug)
    finally:
        restore_signals(previous)


def run_command(command: str, argv: list[str], debug: bool) -> int:
    """Run one subcommand and turn whatever ends it into one line on stderr and an exit code.

    Args:
        command (`str`): a key of `COMMANDS`.
        argv (`list[str]`): its arguments.
        debug (`bool`): print the traceback of an error too.
    """
    prefix = f"sentiment-batch {command}"
    try:
        with signals_held():
            module = importlib.import_module(COMMANDS[command][0])
        return module.main(argv)
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


def report_bug(prefix: str, error: Exception, debug: bool) -> int:
    """Say in one line that an unexpected error is a bug (with its traceback when debugging); exit code 1."""
    if debug:
        say(traceback.format_exc().rstrip())
    say(f"{prefix}: {bug_line(error)}")
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
