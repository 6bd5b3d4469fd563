"""The `sentiment-batch` dispatcher: usage, version, unknown commands, every subcommand's help, error lines."""

import pytest

from sentiment_batch import __version__
from sentiment_batch.cli import COMMANDS, error_line, main
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
