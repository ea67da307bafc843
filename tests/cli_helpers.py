"""Run the `drrn-stream` entry point in-process, as a user's shell would see it; ROOT is where child
processes run the project from."""

from __future__ import annotations

import resource
import signal
import sys
from collections.abc import Callable
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


def file_size_limit(size: int) -> Callable[[], None]:
    """A child process's preexec_fn: no file grows past `size` bytes, and a write past it fails ("File too large", as
    a full disk fails it) rather than ending the process (SIGXFSZ ignored)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return limit
