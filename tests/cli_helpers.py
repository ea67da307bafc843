"""Run the `drrn-stream` entry point in-process, as a user's shell would see it; ROOT is where child
processes run the project from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stream.cli import main

ROOT = Path(__file__).resolve().parents[1]  # the repository


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """-> (exit status, stdout, stderr)."""
    old_argv = sys.argv
    sys.argv = ["drrn-stream", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old_argv
    out, err = capsys.readouterr()
    return code, out, err
