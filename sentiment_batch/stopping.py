"""Stop signals: which ones end a run, how a run takes them, and how a stop and the publishing of its output
settle which came first.

During a CLI run each stop signal becomes an exception in the main thread (`KeyboardInterrupt` for SIGINT,
`Stopped` for the others), so every `finally` and `with` cleans up. Python drops an exception raised where it cannot
propagate (a `__del__`, a weakref callback run by the garbage collector); so the run records its stop before raising
it, silences the dropped one, takes the signal again a moment later, and never publishes an output once a stop is
recorded. A stop that comes once the output is published is too late to change the run's answer, and is ignored.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator

# Signals whose default action ends the process, sent by `kill`, systemd, Kubernetes, Airflow, a closing terminal or
# a resource limit. Left out: SIGKILL and SIGSTOP (no process can catch them) and the fault signals (SIGSEGV, SIGBUS,
# SIGFPE, SIGILL, SIGSYS, SIGTRAP), after which no Python code can run safely.
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
# How long a dropped stop waits before its signal is taken again: long enough to be out of the finalizer that
# dropped it.
RETAKE_AFTER_S = 0.01


class Stopped(BaseException):
    """A termination signal arrived; a BaseException, like KeyboardInterrupt, so nothing swallows it."""

    def __init__(self, signum: int):
        try:
            name = signal.Signals(signum).name
        except ValueError:  # a real-time signal has a number only
            name = f"signal {signum}"
        super().__init__(name)
        self.signum = signum


class Run:
    """What ends a run first: a stop (`stopped`, the exception that stops it) or the publishing of its output."""

    def __init__(self) -> None:
        self.stopped: BaseException | None = None
        self.published = False


_RUN: Run | None = None  # the run taking stop signals, if any


def stop_signals() -> list[int]:
    """The numbers of the stop signals this platform has, real-time signals included (they end a process too)."""
    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    if hasattr(signal, "SIGRTMIN"):
        numbers += range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
    return numbers


def _all_stop_signals() -> list[int]:
    return [signal.SIGINT, *stop_signals()]


def _ignore(signum: int, frame) -> None:
    """Take a signal and do nothing (a Python handler, unlike SIG_IGN, also absorbs signals already pending)."""


def _stop(signum: int, frame) -> None:
    # Later signals are ignored, so a second `kill` (or Ctrl-C) cannot cut the cleanup short.
    for number in _all_stop_signals():
        signal.signal(number, _ignore)
    run = _RUN
    if run is None or run.published:
        return
    if run.stopped is None:
        run.stopped = KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)
    raise run.stopped


def _dropped(run: Run, previous, unraisable) -> None:
    """`sys.unraisablehook` during a run: the run's stop, dropped by a finalizer, is taken again once out of it;
    anything else goes to the hook there was before."""
    if run.stopped is None or unraisable.exc_value is not run.stopped:
        previous(unraisable)
        return
    signum = getattr(run.stopped, "signum", signal.SIGINT)
    signal.signal(signum, _stop)
    _thread.start_new_thread(_retake, (run, signum))


def _retake(run: Run, signum: int) -> None:
    time.sleep(RETAKE_AFTER_S)
    if _RUN is run:  # a real signal, not `interrupt_main`, so it also wakes a main thread that sleeps or waits
        signal.pthread_kill(threading.main_thread().ident, signum)


@contextlib.contextmanager
def taking_stop_signals(*, restore: bool = True) -> Iterator[Run]:
    """For the block, SIGINT raises KeyboardInterrupt and every other stop signal `Stopped`, in the main thread.

    Args:
        restore (`bool`, *optional*, defaults to True): put the handlers there were back afterwards (the CLI may
            run inside another program, e.g. tests); False holds stop signals back until the process exits instead,
            for a process that ends with the run, whose answer a signal during its shutdown must not change.
    """
    global _RUN
    run = _RUN = Run()
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: _dropped(run, hook, unraisable)
    previous = {number: signal.signal(number, _stop) for number in _all_stop_signals()}
    try:
        yield run
    finally:
        if restore:
            for number, handler in previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        elif hasattr(signal, "pthread_sigmask"):
            # Blocked, not ignored: CPython puts the default handlers back late in its shutdown.
            signal.pthread_sigmask(signal.SIG_BLOCK, _all_stop_signals())
        sys.unraisablehook = hook
        _RUN = None


def raise_if_stopped() -> None:
    """Raise the run's stop, if one came (a finalizer may have dropped it where it was first raised)."""
    if _RUN is not None and _RUN.stopped is not None:
        raise _RUN.stopped


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals back while the block runs, then take any that came meanwhile.

    Imports run here: a signal handled inside an extension module's initialisation (onnxruntime's, say) would turn
    into `ImportError: initialization failed` instead of a clean stop.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _all_stop_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a signal held back is handled here


@contextlib.contextmanager
def publishing() -> Iterator[None]:
    """Around the step that publishes an output: a stop already recorded is raised instead, and stop signals wait
    until the step is over; once it ends cleanly, a stop is too late to change the run's answer."""
    with signals_held():
        raise_if_stopped()
        yield
        if _RUN is not None:
            _RUN.published = True
