"""Shared fixtures: the ../shared material (skipped cleanly when absent) and tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernels.model import DRRN, DRRNConfig
from kernels.weights import Weights, save_weights

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE_WEIGHTS = SHARED / "reference-weights" / "drrn_b1u25_x234.mxnet.params"
SET5 = SHARED / "data" / "Set5"


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
