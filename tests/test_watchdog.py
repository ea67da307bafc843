"""The suite's hang watchdog (conftest.py): a test stuck in C code holding the GIL still ends the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUCK = """
import ctypes


def test_stuck_holding_the_gil():
    ctypes.PyDLL(None).sleep(60)  # libc's sleep, called with the GIL held (PyDLL does not release it)
"""


def test_a_test_stuck_holding_the_gil_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    """pytest-timeout's timer thread needs the GIL: without the watchdog this run sleeps its whole minute."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    (tmp_path / "test_stuck.py").write_text(STUCK)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=1",
            "-o",
            "timeout_method=thread",
            "test_stuck.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert "Timeout (0:00:01" in run.stderr and 'test_stuck.py", line 6 in test_stuck_holding_the_gil' in run.stderr
