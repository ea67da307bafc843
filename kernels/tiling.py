"""Tiled inference: cut frames into fixed-size windows with a halo, run them in batches.

Each axis is cut into the fewest equal cores of at most `tile` pixels (a 288-pixel axis
becomes two cores of 144, not 256 + 32), and each core is computed from a window that
extends `halo` pixels past it on every side. Windows never leave the frame: at a frame edge they
are shifted inward, so the network's own zero padding meets the true frame border exactly
as in whole-frame inference, and all windows of a frame share one shape (one batch, one
kernel shape). Only the halo's cut-off context differs from whole-frame output;
docs/QUALITY.md measures by how much.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tiling:
    tile: int | None = 256  # core size in output pixels; None runs whole frames
    halo: int = 16  # context past each core; the receptive radius (52) makes it exact
    batch: int = 8  # windows per forward pass; bounds memory


@dataclass(frozen=True)
class Span:
    core: slice  # output pixels this window is responsible for
    window: slice  # input pixels it reads
    inner: slice  # the core's position inside the window


def spans(length: int, tile: int, halo: int) -> list[Span]:
    """Cut one axis into the fewest cores of at most `tile`, balanced, each read with its halo."""
    count = math.ceil(length / tile)
    core = math.ceil(length / count)
    size = min(core + 2 * halo, length)
    out = []
    for start in range(0, length, core):
        end = min(start + core, length)
        w0 = min(max(start - halo, 0), length - size)
        out.append(Span(slice(start, end), slice(w0, w0 + size), slice(start - w0, end - w0)))
    return out


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tiling: Tiling) -> torch.Tensor:
    """Apply a same-size image-to-image `fn` to x (N x C x H x W) window by window."""
    if tiling.tile is None:
        return torch.cat([fn(x[i : i + tiling.batch]) for i in range(0, len(x), tiling.batch)])
    n, _, h, w = x.shape
    jobs = [
        (i, ys, xs)
        for i in range(n)
        for ys in spans(h, tiling.tile, tiling.halo)
        for xs in spans(w, tiling.tile, tiling.halo)
    ]
    out: torch.Tensor | None = None
    for b in range(0, len(jobs), tiling.batch):
        batch = jobs[b : b + tiling.batch]
        windows = torch.stack([x[i, :, ys.window, xs.window] for i, ys, xs in batch])  # B x C x h x w
        result = fn(windows)
        if out is None:
            out = x.new_empty((n, result.shape[1], h, w), dtype=result.dtype)
        for (i, ys, xs), r in zip(batch, result, strict=True):
            out[i, :, ys.core, xs.core] = r[:, ys.inner, xs.inner]
    assert out is not None
    return out
