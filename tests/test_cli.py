"""The CLI skeleton: version, help listing, one-line errors."""

import subprocess
import sys

import bipe
from bipe.experiments.cli import COMMANDS, main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert bipe.__version__ in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_one_line_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "bipe", "frobnicate"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown command 'frobnicate'" in proc.stderr
    assert "Traceback" not in proc.stderr
