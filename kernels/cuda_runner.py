"""DRRN on CUDA: fp16 (or bf16) channels_last, cuDNN's fused convolutions, one CUDA graph per input shape.

Whole frames run one per graph replay by default; a frame too large for the GPU's free memory
is cut into 256 tiles, batched: the Triton kernels in kernels.triton_tiles fill the graph's
static input (windows with their halo, converted to the run precision) and crop the cores back
out, one launch each. Graphs are captured at the full batch size only: a short last batch fills
part of the input and uses part of the output, so a video needs one graph per shape, never a
recapture. In fp16 and bf16 each unit is two cuDNN fused ops (kernels.cudnn_fused: 1.3x the
unfused graph at 720p on an H200, docs/PERFORMANCE.md); fp32 runs the plain model, TF32 off.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable

import torch

from kernels import triton_tiles
from kernels.cudnn_fused import FusedForward
from kernels.inference import no_tf32
from kernels.model import DRRN
from kernels.tiling import Tiling, plan, whole_fits, window_size

MAX_GRAPHS = 4  # each graph keeps its own memory pool; least recently used goes first


Forward = Callable[[torch.Tensor, int], torch.Tensor]  # (N x 1 x H x W in the run dtype, units) -> same shape


class _Graph:
    """The forward pass captured for one input shape and number of units."""

    def __init__(self, model: Forward, shape: tuple[int, ...], dtype: torch.dtype, units: int, device: torch.device):
        self.input = torch.zeros(shape, dtype=dtype, device=device)  # B x 1 x h x w; C = 1, so NCHW is NHWC
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm up: cuDNN autotunes here, outside the capture
            for _ in range(2):
                model(self.input, units)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = model(self.input, units)

    def __call__(self) -> torch.Tensor:
        self.graph.replay()
        return self.output


class CudaRunner:
    """Tiled (or whole-frame) DRRN on float luma N x 1 x H x W already on the GPU."""

    def __init__(self, model: DRRN, dtype: torch.dtype, tiling: Tiling, fused: bool = False) -> None:
        """`fused`: cuDNN's conv + ReLU and conv + add + ReLU (kernels.cudnn_fused) for the unfused model's passes."""
        torch.backends.cudnn.benchmark = True  # shapes are static, so the autotuned choice is kept
        self.device = next(model.parameters()).device
        self.model: Forward = (
            FusedForward(model, dtype)
            if fused
            else copy.deepcopy(model).to(dtype=dtype, memory_format=torch.channels_last)  # no per-conv casts
        )
        self.dtype, self.tiling = dtype, tiling
        self.too_large = Tiling(tile=256, halo=tiling.halo, batch=8)  # for whole frames that do not fit the GPU
        self.graphs: OrderedDict[tuple[tuple[int, ...], int], _Graph] = OrderedDict()

    def _graph(self, shape: tuple[int, ...], units: int) -> _Graph:
        key = (shape, units)
        if key in self.graphs:
            self.graphs.move_to_end(key)
        else:
            if len(self.graphs) >= MAX_GRAPHS:
                self.graphs.popitem(last=False)
            with no_tf32():  # captured with the kernels chosen here: fp32 graphs stay fp32
                self.graphs[key] = _Graph(self.model, shape, self.dtype, units, self.device)
        return self.graphs[key]

    def __call__(self, y: torch.Tensor, units: int) -> torch.Tensor:
        with torch.cuda.device(self.device):  # graphs, streams and Triton launches on the model's GPU
            if self.tiling.tile is None and self._whole_fits(y.shape, units):
                return torch.cat(
                    [self._whole(y[i : i + self.tiling.batch], units) for i in range(0, len(y), self.tiling.batch)]
                )
            return self._tiled(y.contiguous(), units, self.tiling if self.tiling.tile else self.too_large)

    def _whole_fits(self, shape: torch.Size, units: int) -> bool:
        batch = (min(self.tiling.batch, shape[0]), *shape[1:])
        if (batch, units) in self.graphs:  # already captured: its memory is held
            return True
        return whole_fits(batch, self.dtype.itemsize, torch.cuda.mem_get_info(self.device)[0])

    def _tiled(self, y: torch.Tensor, units: int, tiling: Tiling) -> torch.Tensor:
        n, _, h, w = y.shape
        table = plan(n, h, w, tiling).to(y.device)  # windows x 7
        wh, ww = window_size(h, tiling), window_size(w, tiling)
        graph = self._graph((tiling.batch, 1, wh, ww), units)
        out = torch.empty_like(y, dtype=torch.float32)
        for b in range(0, len(table), tiling.batch):
            rows = table[b : b + tiling.batch]
            triton_tiles.gather(y, rows, graph.input[: len(rows)])
            triton_tiles.scatter(graph()[: len(rows)], rows, out)
        return out

    def _whole(self, y: torch.Tensor, units: int) -> torch.Tensor:
        graph = self._graph(tuple(y.shape), units)
        graph.input.copy_(y)
        return graph().float()  # a copy: the graph's output is overwritten by the next replay

    def self_check(self) -> None:
        """Run the forward (cuDNN's fused ops where asked) and both Triton kernels once on a tiny
        frame: raises where either cannot run here."""
        with torch.cuda.device(self.device), torch.inference_mode():
            x = torch.rand(1, 1, 8, 8, device=self.device)
            self.model(x.to(self.dtype), 1)
            table = plan(1, 8, 8, Tiling(tile=8, halo=0, batch=1)).to(self.device)
            windows = triton_tiles.gather(x, table, torch.empty_like(x, dtype=self.dtype))
            triton_tiles.scatter(windows, table, torch.empty_like(x))
            torch.cuda.synchronize(self.device)
