"""Bicubic resizing exactly as MATLAB's `imresize` does it, on any torch device.

MATLAB's imresize (bicubic, a = -0.5) widens the kernel by 1/scale when downscaling
(antialiasing) and mirrors indices at the borders. Both are applied here as one dense
weight matrix per axis, out = Wh @ img @ Ww^T, which is exact, runs on any device and
batches over leading dimensions.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

_KERNEL_WIDTH = 4.0  # bicubic support, in input pixels at scale 1


def _cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@lru_cache(maxsize=64)
def _weight_matrix(in_len: int, out_len: int, scale: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """out_len x in_len matrix, as MATLAB's `contributions` builds it (in float64), cached on
    the device in the dtype it is used in, so video frames do not copy it every batch."""
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
    cols = mirror[(idx.long() - 1) % (2 * in_len)]
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, cols, w)
    return matrix.to(device, dtype)


def imresize(img: torch.Tensor, scale: float, out_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """MATLAB `imresize(img, scale, 'bicubic')` over the last two dims of a float tensor.

    The output size is ceil(in * scale) unless out_hw is given. Computed in float64 for
    float64 input (exact to MATLAB), else in the input's dtype.
    """
    h, w = img.shape[-2:]
    out_h, out_w = out_hw or (math.ceil(h * scale), math.ceil(w * scale))
    wh = _weight_matrix(h, out_h, scale, img.device, img.dtype)
    ww = _weight_matrix(w, out_w, scale, img.device, img.dtype)
    return wh @ img @ ww.T  # ... x out_h x out_w
