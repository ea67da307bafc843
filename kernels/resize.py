"""Bicubic resizing exactly as MATLAB's `imresize` does it, on any torch device.

MATLAB's imresize (bicubic, a = -0.5) widens the kernel by 1/scale when downscaling
(antialiasing) and mirrors indices at the borders. Each axis is resized in turn, height first,
each output pixel the weighted sum of its few taps: by one dense weight matrix per axis where
those are small, else tap by tap. Exact, on any device, batched over leading dimensions.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from kernels.host_memory import row_bands

_KERNEL_WIDTH = 4.0  # bicubic support, in input pixels at scale 1
DENSE_ENTRIES = 1 << 20  # matrices at most this big (4 MB in float32) resize by matrix products, longer axes by taps


def _cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _contributions(in_len: int, out_len: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Which input pixels each output pixel weighs and by how much (out_len x taps each, float64), as MATLAB's
    `contributions` builds them, borders mirrored."""
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    shrink = scale < 1  # MATLAB antialiases when it shrinks
    width = _KERNEL_WIDTH / scale if shrink else _KERNEL_WIDTH
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # out_len x taps
    dist = u[:, None] - idx
    w = scale * _cubic(scale * dist) if shrink else _cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])  # MATLAB's aux
    return mirror[(idx.long() - 1) % (2 * in_len)], w


# Cached on the device in the dtype they are used in, so video frames do not copy them every batch.
@lru_cache(maxsize=64)
def _matrix(in_len: int, out_len: int, scale: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The contributions as one dense out_len x in_len matrix (summed in float64 where a mirrored tap repeats)."""
    cols, w = _contributions(in_len, out_len, scale)
    return torch.zeros(out_len, in_len, dtype=torch.float64).scatter_add_(1, cols, w).to(device, dtype)


@lru_cache(maxsize=64)
def _taps(
    in_len: int, out_len: int, scale: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    cols, w = _contributions(in_len, out_len, scale)
    return cols.to(device), w.to(device, dtype)


def _weighted_rows(img: torch.Tensor, cols: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Each output row the weighted sum of its taps' rows of img (... x in x n), summed in order as MATLAB's
    resizeAlongDim does: ... x len(cols) x n."""
    out = img.index_select(-2, cols[:, 0]) * w[:, 0, None]
    for k in range(1, cols.shape[1]):
        out.addcmul_(img.index_select(-2, cols[:, k]), w[:, k, None])
    return out


def _resize_by_taps(img: torch.Tensor, out_h: int, out_w: int, scale: float) -> torch.Tensor:
    """Tap by tap, in bands of output rows: work and memory grow with the output alone, where a 48 MP photo's
    dense matrices held 0.8 GB and cost 4 TFLOP. The width as rows of each band's transpose: gathering whole rows
    ran 4x faster than columns."""
    h, w = img.shape[-2:]
    row_taps = _taps(h, out_h, scale, img.device, img.dtype)
    col_taps = _taps(w, out_w, scale, img.device, img.dtype)
    out = img.new_empty((*img.shape[:-2], out_h, out_w))
    for rows in row_bands(out_h, out_w):
        tall = _weighted_rows(img, row_taps[0][rows], row_taps[1][rows]).transpose(-1, -2).contiguous()
        out[..., rows, :] = _weighted_rows(tall, *col_taps).transpose(-1, -2)
    return out


def imresize(img: torch.Tensor, scale: float, out_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """MATLAB `imresize(img, scale, 'bicubic')` over the last two dims of a float tensor, height first as
    MATLAB orders equal scales: by two matrix products where the matrices are small (training's patches,
    evaluation's pictures: two ops, where taps are dozens), else tap by tap.

    The output size is ceil(in * scale) unless out_hw is given. Computed in float64 for
    float64 input (exact to MATLAB), else in the input's dtype.
    """
    h, w = img.shape[-2:]
    out_h, out_w = out_hw or (math.ceil(h * scale), math.ceil(w * scale))
    if max(h * out_h, w * out_w) > DENSE_ENTRIES:
        return _resize_by_taps(img, out_h, out_w, scale)
    wh = _matrix(h, out_h, scale, img.device, img.dtype)
    ww = _matrix(w, out_w, scale, img.device, img.dtype)
    return wh @ img @ ww.T  # ... x out_h x out_w
