"""The `sentiment-batch` console script: one subcommand per stage, each loaded only when called.

Every subcommand module has `main(argv) -> int`. Errors of the caller's making (`ValueError`, `TypeError`,
`OSError`) end as one line on stderr and exit code 2; an interrupt or a termination signal as one line and
128 + the signal's number, after the run's temporary files are removed.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys

from . import __version__
from .errors import first_line
from .publish import OutputExistsError

# Subcommand → (module, summary). Modules load lazily so `score` never pays for torch.
COMMANDS = {
    "train": ("sentiment_batch.train.training", "train the model on IMDb-shaped data with transformers.Trainer"),
    "export": ("sentiment_batch.export.exporter", "export a trained model folder to a parity-checked ONNX bundle"),
    "verify": ("sentiment_batch.export.verify", "compare an ONNX bundle with its PyTorch model on a dataset"),
    "upgrade": ("sentiment_batch.export.upgrade", "rewrite a format-1 bundle in the current format, same predictions"),
    "score": ("sentiment_batch.scoring_cli", "score CSV/Parquet files of reviews with an ONNX bundle"),
}
EXIT_USER_ERROR = 2
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


def restore_signals(previous: dict[int, object]) -> None:
    """Put back the handlers `stop_on_signals` replaced (the CLI may run inside another program, e.g. tests)."""
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def usage() -> str:
    lines = ["usage: sentiment-batch [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<8}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `sentiment-batch COMMAND --help` for a command's options."]
    return "\n".join(lines)


def error_line(error: BaseException) -> str:
    """What the CLI prints for an error of the caller's making: its first line, with the flag that helps."""
    if isinstance(error, OutputExistsError):
        return f"{first_line(error)}; pass --overwrite to replace it"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return first_line(error)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand's own `main(argv) -> int`.

    Args:
        argv (`list[str]`, *optional*): arguments after the program name; defaults to `sys.argv[1:]`.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else EXIT_USER_ERROR
    if argv[0] in ("-V", "--version"):
        print(f"sentiment-batch {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"sentiment-batch: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return EXIT_USER_ERROR
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sentiment_batch").setLevel(logging.INFO)  # our progress lines, not every library's
    previous = stop_on_signals()
    prefix = f"sentiment-batch {command}"
    try:
        return importlib.import_module(COMMANDS[command][0]).main(rest)
    except ModuleNotFoundError as error:
        if error.name in SPARK_MODULES:
            print(f"{prefix}: {error.name} is missing; install the spark extra: {SPARK_EXTRA}", file=sys.stderr)
            return EXIT_USER_ERROR
        if error.name not in TRAINING_MODULES:
            raise
        extra = "pip install 'sentiment-batch[train]' (PyTorch's CPU build first: see the README)"
        print(f"{prefix}: {error.name} is missing; install the training extra: {extra}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (ValueError, TypeError, OSError) as error:
        if os.environ.get("SENTIMENT_BATCH_TRACEBACK"):
            raise
        print(f"{prefix}: error: {error_line(error)}", file=sys.stderr)
        # An error may carry its own code: a Spark job that started and failed exits 1, not 2.
        return getattr(error, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Stopped as stopped:
        print(f"{prefix}: stopped by {stopped}", file=sys.stderr)
        return 128 + stopped.signum
    finally:
        restore_signals(previous)


if __name__ == "__main__":
    sys.exit(main())
