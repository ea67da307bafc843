"""Triton kernels that move tiles between frames and DRRN's batch on the GPU, one launch each.

`gather` fills the model's input batch with every window of a batch (halo included) in one
pass, converting on the way (float32 luma -> the run's fp16); `scatter` crops each window's
core out of the model's output and writes it into the float32 frame. Both replace a Python loop
of one slice copy per window (kernels.tiling.gather / scatter, the CPU path and these kernels'
reference in tests/kernels/test_triton_tiles.py). Windows come as the rows of
kernels.tiling.plan: frame, window y0, x0, core y0, x0, core h, w.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024  # pixels per program


@triton.jit
def _gather_kernel(src, dst, table, H, W, h, w, BLOCK: tl.constexpr):
    win = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    frame = tl.load(table + win * 7).to(tl.int64)  # frame * H * W passes 2^31 for long 4K batches
    wy, wx = tl.load(table + win * 7 + 1), tl.load(table + win * 7 + 2)
    mask = offs < h * w
    i, j = offs // w, offs % w
    v = tl.load(src + frame * H * W + (wy + i) * W + wx + j, mask=mask)
    tl.store(dst + win.to(tl.int64) * h * w + offs, v.to(dst.dtype.element_ty), mask=mask)


@triton.jit
def _scatter_kernel(res, dst, table, H, W, h, w, BLOCK: tl.constexpr):
    win = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    row = table + win * 7
    frame, wy, wx = tl.load(row).to(tl.int64), tl.load(row + 1), tl.load(row + 2)
    cy, cx, ch, cw = tl.load(row + 3), tl.load(row + 4), tl.load(row + 5), tl.load(row + 6)
    mask = offs < ch * cw
    i, j = offs // cw, offs % cw
    v = tl.load(res + win.to(tl.int64) * h * w + (cy - wy + i) * w + (cx - wx + j), mask=mask)
    tl.store(dst + frame * H * W + (cy + i) * W + cx + j, v.to(dst.dtype.element_ty), mask=mask)


def gather(x: torch.Tensor, table: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Windows of x (N x 1 x H x W) listed in `table` -> out (B x 1 x h x w), converted to out's dtype."""
    _, _, height, width = x.shape
    b, _, h, w = out.shape
    assert x.is_contiguous() and out.is_contiguous() and table.shape == (b, 7) and table.dtype == torch.int32
    _gather_kernel[(b, triton.cdiv(h * w, BLOCK))](x, out, table, height, width, h, w, BLOCK=BLOCK)
    return out


def scatter(result: torch.Tensor, table: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Each window's core, cropped from result (B x 1 x h x w), into its place in out (N x 1 x H x W)."""
    b, _, h, w = result.shape
    _, _, height, width = out.shape
    assert result.is_contiguous() and out.is_contiguous() and table.shape == (b, 7) and table.dtype == torch.int32
    grid = (b, triton.cdiv(h * w, BLOCK))  # cores are no larger than windows; the rest is masked off
    _scatter_kernel[grid](result, out, table, height, width, h, w, BLOCK=BLOCK)
    return out
