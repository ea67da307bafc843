"""Tiled inference: cut frames into fixed-size windows with a halo, run them in batches.

Each axis is cut into the fewest equal cores of at most `tile` pixels (a 288-pixel axis
becomes two cores of 144, not 256 + 32), and each core is computed from a window that
extends `halo` pixels past it on every side, or a few more to make the window a multiple of
WINDOW_ALIGN (oneDNN's kernels run such widths faster). Windows never leave the frame: at a frame edge they
are shifted inward, so the network's own zero padding meets the true frame border exactly
as in whole-frame inference, and all windows of a frame share one shape (one batch, one
kernel shape). Only the halo's cut-off context differs from whole-frame output;
docs/QUALITY.md measures by how much.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import torch

from kernels.choice import HALO

# Told after each batch of windows (windows run, windows in all): a big picture's progress (stream.apps.stills),
# where one frame of many windows runs for minutes on a CPU. A context variable, so no backend's calls change.
windows_run: ContextVar[Callable[[int, int], None] | None] = ContextVar("windows_run", default=None)


@dataclass(frozen=True)
class Tiling:
    tile: int | None = 256  # core size in output pixels; None runs whole frames
    halo: int = HALO  # context past each core; the receptive radius (52) makes it exact
    batch: int = 8  # windows per forward pass; bounds memory

    def __str__(self) -> str:
        """For logs and the bench's record: "whole frames", or "tiles 256 + halo 16, batch 8"."""
        if self.tile is None:
            return "whole frames"
        return f"tiles {self.tile} + halo {self.halo}, batch {self.batch}"


# Windows a multiple of this wide: oneDNN's CPU kernels (int8 and bf16, AMX Xeon) ran 392 x 459 windows 1.2x
# slower per pixel than 392 x 448 or 392 x 464 (docs/PERFORMANCE.md), for at most 15 more pixels of context.
WINDOW_ALIGN = 16
CPU_TILE, CPU_BATCH = 768, 1  # on the CPU larger tiles only cut halo work; 768 runs 720p in 2 windows
LIVE_ACTIVATIONS = 4  # full-width tensors a forward holds at once: h0, h, the unit's middle, cuDNN's workspace


def tiling_for(
    device: torch.device, tile: int | None = None, halo: int = Tiling.halo, batch: int | None = None
) -> Tiling:
    """The user's choices, with None meaning the device's default; tile 0 means whole frames.
    CUDA runs whole frames one at a time: no halo recomputed, no padding windows, and cuDNN at
    its fastest (43.9 fps at 720p on an H200 against 32.3 in 256 tiles, docs/PERFORMANCE.md); a
    frame too large for the GPU's free memory is tiled (kernels.cuda_runner). On the CPU, tiles of
    768 one at a time: frames up to 768 px run whole, 720p in two windows of 672 x 720 (1.13x the
    speed of 512 tiles' six in int8, 1.06x in bf16; 1080p 1.03x), a window's activations 82 MB each
    in int8 (the first conv's float32 output 327 MB) and 164 MB in bf16 (docs/PERFORMANCE.md).
    """
    cpu = device.type == "cpu"
    tile = (CPU_TILE if cpu else 0) if tile is None else tile
    batch = (CPU_BATCH if cpu else 1) if batch is None else batch
    return Tiling(tile=tile or None, halo=halo, batch=batch)


def whole_fits(shape: tuple[int, ...], itemsize: int, free_bytes: int, channels: int = 128) -> bool:
    """Whether a batch of whole frames (N x 1 x H x W) runs in half the free memory, the rest left
    to the graphs' pools, the pipeline and other programs."""
    n, _, h, w = shape
    return n * channels * h * w * itemsize * LIVE_ACTIVATIONS <= free_bytes // 2


@dataclass(frozen=True)
class Span:
    core: slice  # output pixels this window is responsible for
    window: slice  # input pixels it reads
    inner: slice  # the core's position inside the window


def spans(length: int, tile: int, halo: int) -> list[Span]:
    """Cut one axis into the fewest cores of at most `tile`, balanced, each read with its halo (or a
    little more, centred, to make the window a multiple of WINDOW_ALIGN)."""
    core = math.ceil(length / math.ceil(length / tile))
    size = _window(core, halo, length)
    out = []
    for start in range(0, length, core):
        end = min(start + core, length)
        w0 = min(max(start - (size - core) // 2, 0), length - size)
        out.append(Span(slice(start, end), slice(w0, w0 + size), slice(start - w0, end - w0)))
    return out


def _window(core: int, halo: int, length: int) -> int:
    return min(math.ceil((core + 2 * halo) / WINDOW_ALIGN) * WINDOW_ALIGN, length)


def window_size(length: int, tiling: Tiling) -> int:
    """The size every window along an axis of this length shares."""
    assert tiling.tile is not None
    return _window(math.ceil(length / math.ceil(length / tiling.tile)), tiling.halo, length)


def windows_pixels(h: int, w: int, tiling: Tiling) -> int:
    """Pixels one forward pass takes for an h x w frame: a batch of its windows, or the whole frame."""
    if tiling.tile is None:
        return h * w
    windows = len(spans(h, tiling.tile, tiling.halo)) * len(spans(w, tiling.tile, tiling.halo))
    return min(tiling.batch, windows) * window_size(h, tiling) * window_size(w, tiling)


def plan(n: int, h: int, w: int, tiling: Tiling) -> torch.Tensor:
    """Every window of n frames of h x w, one row each: frame, window y0, x0, core y0, x0, core h, w."""
    assert tiling.tile is not None
    rows = [
        (i, ys.window.start, xs.window.start, ys.core.start, xs.core.start, ys.core.stop - ys.core.start,
         xs.core.stop - xs.core.start)
        for i in range(n)
        for ys in spans(h, tiling.tile, tiling.halo)
        for xs in spans(w, tiling.tile, tiling.halo)
    ]  # fmt: skip
    return torch.tensor(rows, dtype=torch.int32)  # windows x 7


def gather(x: torch.Tensor, table: torch.Tensor, h: int, w: int, out: torch.Tensor) -> torch.Tensor:
    """Windows of x (N x C x H x W) listed in `table` -> out (B x C x h x w), converted to out's dtype."""
    for b, (i, wy, wx, *_) in enumerate(table.tolist()):
        out[b] = x[i, :, wy : wy + h, wx : wx + w]
    return out


def scatter(result: torch.Tensor, table: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Each window's core, cropped from `result` (B x C x h x w), into its place in out (N x C x H x W)."""
    for r, (i, wy, wx, cy, cx, ch, cw) in zip(result, table.tolist(), strict=True):
        out[i, :, cy : cy + ch, cx : cx + cw] = r[:, cy - wy : cy - wy + ch, cx - wx : cx - wx + cw]
    return out


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tiling: Tiling) -> torch.Tensor:
    """Apply a same-size image-to-image `fn` to x (N x C x H x W) window by window."""
    if tiling.tile is None:
        return torch.cat([fn(x[i : i + tiling.batch]) for i in range(0, len(x), tiling.batch)])
    n, c, h, w = x.shape
    table, wh, ww = plan(n, h, w, tiling), window_size(h, tiling), window_size(w, tiling)
    out = torch.empty_like(x)
    told = windows_run.get()
    for b in range(0, len(table), tiling.batch):
        rows = table[b : b + tiling.batch]
        scatter(fn(gather(x, rows, wh, ww, x.new_empty((len(rows), c, wh, ww)))), rows, out)
        if told is not None:
            told(b + len(rows), len(table))
    return out
