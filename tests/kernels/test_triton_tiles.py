"""The Triton tile kernels against the CPU path's gather/scatter, run in Triton's interpreter.

The interpreter executes the kernels with NumPy on the CPU, so CI checks their indexing,
and conversion without a GPU; tests/kernels/test_fast_paths.py runs them on CUDA.
"""

import os

import pytest
import torch

from kernels import tiling

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # read when the kernels are defined, so before the import
pytest.importorskip("triton")
from kernels import triton_tiles

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _case(n=2, h=37, w=29, tile=12, halo=5):
    """Windows of n frames of h x w: the plan table and the window height and width."""
    t = tiling.Tiling(tile=tile, halo=halo, batch=4)
    return tiling.plan(n, h, w, t), tiling.window_size(h, t), tiling.window_size(w, t)


def test_gather_converts_float_luma_to_half_windows():
    table, wh, ww = _case()
    luma = torch.rand(2, 1, 37, 29)
    out = torch.empty((len(table), 1, wh, ww), dtype=torch.float16, device=DEVICE)
    triton_tiles.gather(luma.to(DEVICE), table.to(DEVICE), out)
    expected = tiling.gather(luma, table, wh, ww, torch.empty(out.shape, dtype=torch.float16))
    assert torch.equal(out.cpu(), expected)


def test_scatter_crops_cores_back_into_frames():
    table, wh, ww = _case()
    windows = torch.rand(len(table), 1, wh, ww)
    out = torch.full((2, 1, 37, 29), -1.0, device=DEVICE)
    triton_tiles.scatter(windows.to(DEVICE), table.to(DEVICE), out)
    expected = tiling.scatter(windows, table, torch.full((2, 1, 37, 29), -1.0))
    assert torch.equal(out.cpu(), expected)
    assert (expected >= 0).all()  # every pixel was written: the cores tile the frames


def test_scatter_converts_half_results_into_float_frames():
    table, wh, ww = _case()
    windows = torch.rand(len(table), 1, wh, ww).half()
    out = torch.zeros((2, 1, 37, 29), device=DEVICE)
    triton_tiles.scatter(windows.to(DEVICE), table.to(DEVICE), out)
    assert torch.equal(out.cpu(), tiling.scatter(windows.float(), table, torch.zeros((2, 1, 37, 29))))


def test_gather_then_scatter_of_identity_windows_rebuilds_the_frames():
    table, wh, ww = _case(n=3, h=50, w=61, tile=16, halo=7)
    x = torch.rand(3, 1, 50, 61, device=DEVICE)
    windows = triton_tiles.gather(x, table.to(DEVICE), torch.empty((len(table), 1, wh, ww), device=DEVICE))
    assert torch.equal(triton_tiles.scatter(windows, table.to(DEVICE), torch.empty_like(x)), x)
