"""Shared fixtures: the ../shared material (skipped cleanly when absent) and tiny models."""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from kernels.model import DRRN, DRRNConfig
from kernels.weights import Weights, save_weights

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE_WEIGHTS = SHARED / "reference-weights" / "drrn_b1u25_x234.mxnet.params"
SET5 = SHARED / "data" / "Set5"
WATCHDOG_MARGIN = 1.1  # past pytest-timeout's own limit, which ends a test it can reach first
STDERR_COPY = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    """Keep a copy of the terminal's stderr for the hang watchdog (capture is suspended here; in a test, fd 2
    is pytest's capture file, which a process ended by the watchdog never shows)."""
    config.stash[STDERR_COPY] = os.dup(2)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """End a test that hangs holding the GIL, with every thread's stack: pytest-timeout's timer is a Python
    thread, so a thread stuck in C code with the GIL (PyAV freeing a threaded codec whose thread waits for
    the GIL to log) stops it too; CI hung twice so, for 90 minutes, with no stack to say where. faulthandler's
    watchdog is a C thread that needs no GIL."""
    limit = float(item.config.getini("timeout") or 0)
    if limit:
        faulthandler.dump_traceback_later(limit * WATCHDOG_MARGIN, exit=True, file=item.config.stash[STDERR_COPY])
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def reference_weights() -> Path:
    if not REFERENCE_WEIGHTS.is_file():
        pytest.skip("../shared/reference-weights not present")
    return REFERENCE_WEIGHTS


@pytest.fixture
def set5() -> Path:
    if not SET5.is_dir():
        pytest.skip("../shared/data/Set5 not present")
    return SET5


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    """Random B1U1 weights with 8 channels: fast, and far from identity."""
    path = tmp_path / "tiny.safetensors"
    save_weights(path, Weights(random_drrn(units=1, channels=8).state_dict(), {"units": "1"}))
    return path


@pytest.fixture
def strong_weights(tmp_path: Path) -> Path:
    """Random B1U2 weights that move the output ~5 codes from bicubic on average, without clipping."""
    path = tmp_path / "strong.safetensors"
    save_weights(path, Weights(random_drrn(units=2, channels=8, std=0.08).state_dict(), {"units": "2"}))
    return path


@pytest.fixture
def identity_weights(tmp_path: Path) -> Path:
    """All-zero weights: DRRN's residual is 0, so it returns its bicubic input unchanged."""
    path = tmp_path / "identity.safetensors"
    zero = DRRN(DRRNConfig(units=1, channels=8))
    save_weights(path, Weights({k: torch.zeros_like(v) for k, v in zero.state_dict().items()}, {"units": "1"}))
    return path


def random_drrn(units: int = 2, channels: int = 8, seed: int = 0, std: float = 0.3) -> DRRN:
    """A small DRRN with weights large enough that every unit changes the output."""
    torch.manual_seed(seed)
    model = DRRN(DRRNConfig(units=units, channels=channels))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=std)
    return model.eval().requires_grad_(False)
