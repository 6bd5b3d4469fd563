"""The `sentiment-batch` dispatcher: usage, version, unknown commands, every subcommand's help, error lines."""

import pytest

from sentiment_batch import __version__
from sentiment_batch.cli import COMMANDS, Stopped, error_line, main, stop_signals
from sentiment_batch.publish import OutputExistsError


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sentiment-batch {__version__}"


def test_unknown_command(capsys):
    assert main(["bogus"]) == 2
    assert "unknown command 'bogus'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"sentiment-batch {command}" in out
    assert "--overwrite" in out or command == "verify"  # every command that writes says how it replaces


def test_error_lines_are_one_line_and_name_the_flag_that_helps():
    assert error_line(ValueError("")) == "ValueError"
    assert error_line(ValueError("\n  first\nsecond")) == "first"
    assert (
        error_line(OutputExistsError("out.csv already exists"))
        == "out.csv already exists; pass --overwrite to replace it"
    )
    assert error_line(PermissionError(13, "Permission denied", "/x")) == "Permission denied: /x"


# Real processes, real signals: each run pauses at a known point (helpers.PAUSING_CLI), so the signal always
# arrives mid-run, with the temporary output file on disk.
def start_paused_run(tmp_path, bundle, point, output_name="out.parquet"):
    import subprocess
    import sys

    import pandas as pd

    from helpers import PAUSING_CLI, REVIEWS, wait_for_file

    runs = tmp_path / "runs"
    runs.mkdir()
    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": range(len(REVIEWS)), "text": [text for text, _ in REVIEWS]}).to_parquet(source)
    announce = runs / "paused"
    command = [sys.executable, "-c", PAUSING_CLI, point, str(announce), "score", str(source)]
    command += ["--bundle", str(bundle), "--output", str(tmp_path / output_name), "--no-progress"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    wait_for_file(announce, process)
    return process


def temp_files(folder):
    from sentiment_batch.publish import TEMP_SUFFIX

    return [path.name for path in folder.iterdir() if path.name.endswith(TEMP_SUFFIX)]


def signal_cases():
    import signal

    numbers = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGALRM]
    return [*numbers, signal.SIGRTMIN + 2]


@pytest.mark.parametrize("signum", signal_cases())
def test_every_stop_signal_mid_write_removes_the_temp_file_and_exits_with_one_line(tmp_path, tiny_bundle, signum):
    import signal

    process = start_paused_run(tmp_path, tiny_bundle, "write")
    assert len(temp_files(tmp_path)) == 1  # the run is mid-way: its temporary file holds a scored batch
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {Stopped(signum)}"
    assert err.strip().splitlines() == [f"sentiment-batch score: {name}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.parquet", "runs"]


def test_a_signal_before_the_model_loads_removes_the_temp_file(tmp_path, tiny_bundle):
    import signal

    process = start_paused_run(tmp_path, tiny_bundle, "model", "out.csv")
    assert len(temp_files(tmp_path)) == 1  # created before the model loads: an unwritable output fails first
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM and err.strip() == "sentiment-batch score: stopped by SIGTERM"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.parquet", "runs"]


def test_a_second_signal_cannot_cut_the_cleanup_short(tmp_path, tiny_bundle):
    import signal

    process = start_paused_run(tmp_path, tiny_bundle, "write")
    sent = (signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in sent:
        process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    # Signals pending together are handled lowest number first; whichever comes first, the others are ignored.
    assert process.returncode in {128 + signum for signum in sent}
    assert len(err.strip().splitlines()) == 1 and err.startswith("sentiment-batch score: ")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.parquet", "runs"]


def test_signal_handlers_are_restored_after_an_in_process_run(capsys):
    import signal

    before = {number: signal.getsignal(number) for number in stop_signals()}
    before[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    assert {number: signal.getsignal(number) for number in before} == before
