"""The `sentiment-batch` dispatcher: usage, unknown commands, every subcommand's help."""

import subprocess
import sys

import pytest

from sentiment_batch.cli import COMMANDS, main


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command(capsys):
    assert main(["bogus"]) == 2
    assert "unknown command 'bogus'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_batch.cli", command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"sentiment-batch {command}" in result.stdout
