"""Shared fixtures: the ../shared material (skipped cleanly when absent) and tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernels.model import DRRN, DRRNConfig

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


def random_drrn(units: int = 2, channels: int = 8, seed: int = 0) -> DRRN:
    """A small DRRN with weights large enough that every unit changes the output."""
    torch.manual_seed(seed)
    model = DRRN(DRRNConfig(units=units, channels=channels))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return model.eval().requires_grad_(False)
