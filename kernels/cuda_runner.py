"""DRRN on CUDA: fp16 weights, channels_last, cuDNN autotuning, and one CUDA graph per tile shape.

A batch of tiles costs one graph replay instead of ~80 kernel launches from Python, and the
Triton kernels in kernels.triton_tiles fill the graph's static input (windows with their
halo, converted to the run precision) and crop the cores back out, one launch each. Graphs
are captured at the full batch size only: a short last batch fills part of the input and
uses part of the output, so a video needs one graph per window shape, never a recapture.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch

from kernels import triton_tiles
from kernels.inference import no_tf32
from kernels.model import DRRN
from kernels.tiling import Tiling, plan, window_size

MAX_GRAPHS = 4  # each graph keeps its own memory pool; least recently used goes first


class _Graph:
    """The forward pass captured for one input shape and number of units."""

    def __init__(self, model: DRRN, shape: tuple[int, ...], dtype: torch.dtype, units: int) -> None:
        device = next(model.parameters()).device
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

    def __init__(self, model: DRRN, dtype: torch.dtype, tiling: Tiling) -> None:
        torch.backends.cudnn.benchmark = True  # shapes are static, so the autotuned choice is kept
        self.model = copy.deepcopy(model).to(dtype=dtype, memory_format=torch.channels_last)  # no per-conv casts
        self.device = next(self.model.parameters()).device
        self.dtype, self.tiling = dtype, tiling
        self.graphs: OrderedDict[tuple[tuple[int, ...], int], _Graph] = OrderedDict()

    def _graph(self, shape: tuple[int, ...], units: int) -> _Graph:
        key = (shape, units)
        if key in self.graphs:
            self.graphs.move_to_end(key)
        else:
            if len(self.graphs) >= MAX_GRAPHS:
                self.graphs.popitem(last=False)
            with no_tf32():  # captured with the kernels chosen here: fp32 graphs stay fp32
                self.graphs[key] = _Graph(self.model, shape, self.dtype, units)
        return self.graphs[key]

    def __call__(self, y: torch.Tensor, units: int) -> torch.Tensor:
        with torch.cuda.device(self.device):  # graphs, streams and Triton launches on the model's GPU
            if self.tiling.tile is None:
                return torch.cat(
                    [self._whole(y[i : i + self.tiling.batch], units) for i in range(0, len(y), self.tiling.batch)]
                )
            return self._tiled(y.contiguous(), units)

    def _tiled(self, y: torch.Tensor, units: int) -> torch.Tensor:
        n, _, h, w = y.shape
        table = plan(n, h, w, self.tiling).to(y.device)  # windows x 7
        wh, ww = window_size(h, self.tiling), window_size(w, self.tiling)
        graph = self._graph((self.tiling.batch, 1, wh, ww), units)
        out = torch.empty_like(y, dtype=torch.float32)
        for b in range(0, len(table), self.tiling.batch):
            rows = table[b : b + self.tiling.batch]
            triton_tiles.gather(y, rows, graph.input[: len(rows)])
            triton_tiles.scatter(graph()[: len(rows)], rows, out)
        return out

    def _whole(self, y: torch.Tensor, units: int) -> torch.Tensor:
        graph = self._graph(tuple(y.shape), units)
        graph.input.copy_(y)
        return graph().float()  # a copy: the graph's output is overwritten by the next replay

    def self_check(self) -> None:
        """Launch both Triton kernels once on a tiny frame: raises where Triton cannot run here."""
        with torch.cuda.device(self.device):
            x = torch.rand(1, 1, 8, 8, device=self.device)
            table = plan(1, 8, 8, Tiling(tile=8, halo=0, batch=1)).to(self.device)
            windows = triton_tiles.gather(x, table, torch.empty_like(x, dtype=self.dtype))
            triton_tiles.scatter(windows, table, torch.empty_like(x))
            torch.cuda.synchronize(self.device)
