"""The model stage's arithmetic after the model: codes, PSNR against bicubic and the kept bicubic levels,
finished in bands of rows so that a big photo holds no whole-frame float64 copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels import host_memory
from kernels.choice import ModelChoice
from kernels.colour import LumaCoding
from kernels.metrics import psnr
from stream.video.processor import LumaEnhancer


@pytest.mark.parametrize("bits", [8, 16])
def test_a_frame_finished_in_bands_equals_one_finished_whole(monkeypatch, strong_weights, bits):
    restorer = ModelChoice(strong_weights, precision="fp32").load().restorer
    coding = LumaCoding(bits=16, stretched=True) if bits == 16 else LumaCoding()
    dtype = np.uint16 if bits == 16 else np.uint8
    y = np.random.default_rng(0).integers(16 << (bits - 8), 236 << (bits - 8), (37, 29)).astype(dtype)
    whole = LumaEnhancer(restorer, 2, keep_bicubic=True)([y], coding)[0]
    monkeypatch.setattr(host_memory, "BAND_PIXELS", 5 * 58)  # 5 rows of the 58-wide output: 15 bands, the last 4
    banded = LumaEnhancer(restorer, 2, keep_bicubic=True)([y], coding)[0]
    assert banded.y.dtype == dtype and banded.y.shape == (74, 58)
    assert np.array_equal(banded.y, whole.y) and np.array_equal(banded.bicubic_levels, whole.bicubic_levels)
    assert banded.psnr_vs_bicubic == pytest.approx(whole.psnr_vs_bicubic, rel=1e-12)
    if bits == 8:  # 8-bit studio codes are the levels PSNR compares
        assert banded.psnr_vs_bicubic == pytest.approx(
            psnr(torch.from_numpy(banded.y), torch.from_numpy(banded.bicubic_levels)), rel=1e-12
        )
