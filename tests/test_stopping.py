"""Stop signals in one process: a stop dropped by a finalizer still stops the run, silently, and publishes nothing;
a stop that comes once the output is published changes nothing."""

from __future__ import annotations

import os
import signal
import time
import weakref

import pytest

from sentiment_batch.publish import staged_file
from sentiment_batch.stopping import Stopped, raise_if_stopped, taking_stop_signals


class Resource:
    """An object whose weakref callback runs when it is collected, as the garbage collector runs finalizers."""


def stop_inside_a_finalizer() -> None:
    """SIGTERM taken while Python runs a weakref callback, where an exception raised is dropped (and printed)."""
    resource = Resource()
    keep = weakref.ref(resource, lambda ref: os.kill(os.getpid(), signal.SIGTERM))
    del resource
    assert keep() is None


def test_a_stop_dropped_by_a_finalizer_is_taken_again_without_a_traceback(capfd):
    start = time.monotonic()
    with pytest.raises(Stopped, match="SIGTERM"), taking_stop_signals():
        stop_inside_a_finalizer()
        time.sleep(60)  # the signal is taken again here, a moment later, waking the sleep
    assert time.monotonic() - start < 30 and "Exception ignored" not in capfd.readouterr().err


def test_no_output_is_published_once_a_stop_was_dropped(tmp_path, capfd):
    path = tmp_path / "out.csv"
    with pytest.raises(Stopped), taking_stop_signals():
        with staged_file(path) as handle:
            handle.write(b"rows")
            stop_inside_a_finalizer()  # the block ends at once, before the signal is taken again
        time.sleep(60)
    assert list(tmp_path.iterdir()) == [] and "Exception ignored" not in capfd.readouterr().err


def test_a_stop_once_the_output_is_published_changes_nothing(tmp_path):
    path = tmp_path / "out.csv"
    with taking_stop_signals() as run:
        with staged_file(path) as handle:
            handle.write(b"rows")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        raise_if_stopped()
    assert run.published and run.stopped is None and path.read_bytes() == b"rows"


def test_handlers_and_the_unraisable_hook_are_put_back():
    import sys

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), sys.unraisablehook
    with taking_stop_signals():
        assert signal.getsignal(signal.SIGTERM) is not before[0] and sys.unraisablehook is not before[2]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), sys.unraisablehook) == before


@pytest.mark.parametrize("ending", ["returns", "raises"])
def test_a_run_whose_stop_was_dropped_or_made_an_error_ends_as_stopped(monkeypatch, capfd, ending):
    from sentiment_batch import local_engine
    from sentiment_batch.cli import main

    def score_files(*args, **kwargs):
        stop_inside_a_finalizer()
        if ending == "raises":  # as a library that turns the interruption into an error of its own
            raise RuntimeError("the call was interrupted")
        return local_engine.Summary(files=1)

    monkeypatch.setattr(local_engine, "score_files", score_files)
    assert main(["score", "in.csv", "--output", "out.csv", "--no-progress"]) == 128 + signal.SIGTERM
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == "sentiment-batch score: stopped by SIGTERM" and "Exception" not in err
