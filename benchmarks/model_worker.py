"""The model worker's speed at any commit: before/after numbers for docs/PERFORMANCE.md.

Times LumaEnhancer (upscale, DRRN B1U<units>, back to codes) on CPU float32 frames of the given
output size, one frame per batch after a warm-up, with a 2048^3 `mm` sample before each frame
as the GEMM reference (the machine's speed drifts). It only needs LumaEnhancer and
ModelChoice (make_restorer before it), so it runs against older checkouts too:

    cd OLD_CHECKOUT && PYTHONPATH=. python /path/to/benchmarks/model_worker.py [--size 320x240] [--frames 4]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from kernels.colour import LumaCoding
from kernels.model import flops_per_pixel
from stream.video.processor import LumaEnhancer


def mm_gflops(n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(3))
    return 2 * n**3 / best / 1e9


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_fp32_restorer(units: int, tile: int | None) -> object:
    """The checkout's own restorer on the CPU in fp32, through whichever entry it has."""
    try:
        from kernels.choice import ModelChoice
    except ImportError:  # before ModelChoice
        from stream.restorer import make_restorer  # type: ignore[import-not-found]

        if "tiling" in inspect.signature(make_restorer).parameters:  # before per-device tiling defaults
            from kernels.tiling import Tiling

            return make_restorer(None, units, "cpu", "fp32", Tiling() if tile is None else Tiling(tile=tile or None))[0]
        return make_restorer(None, units, "cpu", "fp32", tile)[0]
    return ModelChoice(units=units, device="cpu", precision="fp32", tile=tile).load().restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--units", type=int, default=25)
    parser.add_argument("--tile", type=int, default=None, help="default: the checkout's own default")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    restorer = cpu_fp32_restorer(args.units, args.tile)
    enhancer = LumaEnhancer(restorer, 2)
    rng = np.random.default_rng(0)
    luma = [rng.integers(16, 236, (height // 2, width // 2), dtype=np.uint8) for _ in range(args.frames + 1)]
    enhancer(luma[:1], LumaCoding())  # warm-up
    rates, peaks = [], []
    for y in luma[1:]:
        peaks.append(mm_gflops())
        rates.append(
            width * height * flops_per_pixel(args.units) / _seconds(lambda y=y: enhancer([y], LumaCoding())) / 1e9
        )
    model, peak = statistics.median(rates), statistics.median(peaks)
    print(f"{args.size} B1U{args.units} fp32 tiling={restorer.tiling}: model {model:.0f} GFLOP/s, "
          f"mm peak {peak:.0f} GFLOP/s, fraction {model / peak:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
