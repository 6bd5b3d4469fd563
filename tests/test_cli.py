"""The `sentiment-batch` dispatcher: usage, version, unknown commands, every subcommand's help, error lines."""

import pytest

from sentiment_batch import __version__
from sentiment_batch.cli import COMMANDS, error_line, main
from sentiment_batch.errors import UserError, UserTypeError
from sentiment_batch.publish import OutputExistsError
from sentiment_batch.stopping import Stopped, stop_signals


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_train_is_summarised_as_training_on_any_labelled_texts(capsys):
    assert main(["--help"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("train ")]
    assert "any labelled texts" in line and "IMDb" not in line


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sentiment-batch {__version__}"


def test_unknown_command(capsys):
    assert main(["bogus"]) == 2
    assert "unknown command 'bogus'" in capsys.readouterr().err


def test_lines_that_quote_user_data_are_cut_to_a_readable_length(tmp_path, capsys):
    assert main(["x" * 1_000_000]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert len(first) < 200 and first.endswith("(1,000,002 characters)")
    (tmp_path / "in.csv").write_text("text\ngreat\n")
    assert main(["score", str(tmp_path / "in.csv"), "--output", str(tmp_path / ("y" * 100_000) / "out.csv")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sentiment-batch score: error: ") and len(line) < 1200 and "characters)" in line
    assert len(error_line(UserError("z" * 10**6))) < 1100


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"sentiment-batch {command}" in out
    # every command that writes says how it replaces; those that only print need not
    assert "--overwrite" in out or command in ("verify", "evaluate", "info")


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


def score_raising(monkeypatch, error):
    from sentiment_batch import local_engine

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(local_engine, "score_files", fail)


@pytest.mark.parametrize(
    "error",
    [
        UserError("the reviews file is odd"),
        UserTypeError("threads must be an int"),
        PermissionError(13, "Permission denied", "in.csv"),
    ],
)
def test_expected_errors_are_one_line_and_exit_2(monkeypatch, capsys, error):
    score_raising(monkeypatch, error)
    assert main(["score", "in.csv", "--output", "out.csv"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sentiment-batch score: error: ") and "internal error" not in line


@pytest.mark.parametrize(
    "error",
    [ValueError("operands could not be broadcast together"), KeyError("label"), TypeError("'NoneType' object")],
)
def test_anything_else_is_a_bug_in_one_line_with_exit_1(monkeypatch, capsys, error):
    score_raising(monkeypatch, error)
    assert main(["score", "in.csv", "--output", "out.csv"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sentiment-batch score: internal error (a bug in sentiment-batch")
    assert type(error).__name__ in line and "--debug" in line


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_debug_prints_the_traceback_in_a_real_process(tmp_path, how):
    import os
    import subprocess
    import sys

    code = (
        "import sys\nfrom sentiment_batch import cli, local_engine\n"
        "def fail(*args, **kwargs):\n    raise ValueError('inside numpy')\n"
        "local_engine.score_files = fail\nsys.exit(cli.main(sys.argv[1:]))\n"
    )
    args = ["--debug"] if how == "flag" else []
    env = {**os.environ, "SENTIMENT_BATCH_TRACEBACK": "1" if how == "variable" else ""}
    command = [sys.executable, "-c", code, *args, "score", "in.csv", "--output", "out.csv"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):" and "ValueError: inside numpy" in lines
    assert lines[-1].startswith("sentiment-batch score: internal error")
    quiet = subprocess.run(
        command[:3] + command[3 + len(args) :],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "SENTIMENT_BATCH_TRACEBACK": ""},
        cwd=tmp_path,
    )
    assert quiet.returncode == 1 and len(quiet.stderr.strip().splitlines()) == 1


def test_the_library_raises_only_its_own_error_types():
    """Every ValueError/TypeError the runtime and the export code raise is a UserError/UserTypeError (or says why
    not): a plain one is a bug's, reported as such by the CLI."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files = [*(repo / "sentiment_batch").glob("*.py")]
    files += [repo / "export" / name for name in ("exporter.py", "quantize.py", "sample.py")]
    plain = [
        f"{path.name}: {line.strip()}"
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"raise (ValueError|TypeError)\b", line)
    ]
    assert plain == []


# `sentiment-batch` as a real process that pauses while the command's modules import (onnxruntime's turn), writing
# its PID to ANNOUNCE_FILE, then goes on once GO_FILE exists; a signal sent during the pause must wait for it.
# Usage: python -c PAUSING_IMPORT ANNOUNCE_FILE GO_FILE score ARGS...
PAUSING_IMPORT = """
import os, sys, time
from pathlib import Path

announce, go = Path(sys.argv[1]), Path(sys.argv[2])


class PauseAtOnnxruntime:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime" and not announce.exists():
            announce.write_text(str(os.getpid()))
            while not go.exists():
                time.sleep(0.01)
        return None


sys.meta_path.insert(0, PauseAtOnnxruntime())
from sentiment_batch import cli

sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("signum", [15, 2], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_during_start_up_waits_for_the_imports_then_stops_cleanly(tmp_path, tiny_bundle, signum):
    import subprocess
    import sys
    import time

    from helpers import wait_for_file

    (tmp_path / "in.csv").write_text("id,text\n1,great\n")
    announce, go = tmp_path / "importing", tmp_path / "go"
    command = [sys.executable, "-c", PAUSING_IMPORT, str(announce), str(go), "score", str(tmp_path / "in.csv")]
    command += ["--bundle", str(tiny_bundle), "--output", str(tmp_path / "out.csv"), "--no-progress"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    wait_for_file(announce, process)
    process.send_signal(signum)
    time.sleep(0.5)
    assert process.poll() is None  # held back while onnxruntime imports
    go.write_text("")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    name = "interrupted" if signum == 2 else "stopped by SIGTERM"
    assert err.strip().splitlines() == [f"sentiment-batch score: {name}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["go", "importing", "in.csv"]


def test_an_output_folder_moved_mid_run_is_one_line_and_leaves_no_temp_file(tmp_path, capsys, tiny_bundle, monkeypatch):
    from sentiment_batch import writers

    (tmp_path / "in.csv").write_text("id,text\n1,great\n2,awful\n")
    dest, moved = tmp_path / "dest", tmp_path / "moved"
    dest.mkdir()
    write = writers.OutputWriter.write

    def write_then_move(self, batch):
        write(self, batch)
        if dest.exists():
            dest.rename(moved)  # `mv dest moved` while the run writes

    monkeypatch.setattr(writers.OutputWriter, "write", write_then_move)
    args = ["score", str(tmp_path / "in.csv"), "--bundle", str(tiny_bundle), "--output", str(dest / "out.csv")]
    assert main([*args, "--no-progress"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sentiment-batch score: error: output folder") and "was moved or replaced" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "moved"] and list(moved.iterdir()) == []


def test_sigterm_at_any_moment_of_a_real_run_stops_it_cleanly_or_comes_too_late(tmp_path, tiny_bundle):
    """The console script as users run it, SIGTERM sent at 30 moments from its start to past its end: each run
    ends stopped (one line, exit 143, nothing written), killed before Python took the signal (nothing written,
    nothing said), or finished (exit 0, the whole output); never a traceback or a temporary file."""
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    script = shutil.which("sentiment-batch", path=str(Path(sys.executable).parent))
    source = tmp_path / "in.csv"
    source.write_text("id,text\n" + "".join(f"{row},a great film number {row}\n" for row in range(50)))

    def run(name: str, delay: float | None) -> tuple[int, str, list[str], str, float]:
        folder = tmp_path / name
        folder.mkdir()
        command = [script, "score", str(source), "--bundle", str(tiny_bundle), "--output", str(folder / "out.csv")]
        start = time.monotonic()
        process = subprocess.Popen([*command, "--no-progress"], stderr=subprocess.PIPE, text=True)
        if delay is not None:
            time.sleep(delay)
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        files = sorted(path.name for path in folder.iterdir())
        output = (folder / "out.csv").read_text() if files == ["out.csv"] else ""
        return process.returncode, err, files, output, time.monotonic() - start

    with ThreadPoolExecutor(3) as pool:  # three at a time, as the runs with a signal go
        clean = list(pool.map(run, ["clean0", "clean1", "clean2"], [None] * 3))
        whole = clean[0][3]
        assert all(code == 0 and files == ["out.csv"] and output == whole for code, _, files, output, _ in clean)
        assert len(whole.splitlines()) == 51
        moments = [1.2 * max(seconds for *_, seconds in clean) * step / 30 for step in range(30)]
        outcomes = list(pool.map(run, [f"run{step}" for step in range(30)], moments))
    for moment, (code, err, files, output, _) in zip(moments, outcomes, strict=True):
        case = f"SIGTERM at {moment:.2f} s: exit {code}, files {files}, stderr {err!r}"
        assert "Traceback" not in err and "Exception ignored" not in err, case
        if code == 0:
            assert files == ["out.csv"] and output == whole and err.startswith("scored 50 of 50 rows"), case
        elif code == -signal.SIGTERM:
            assert files == [] and err == "", case
        else:
            assert code == 128 + signal.SIGTERM and files == [], case
            assert err.strip() == "sentiment-batch score: stopped by SIGTERM", case
    assert any(code == 128 + signal.SIGTERM for code, *_ in outcomes)
