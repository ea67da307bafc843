"""Where DRRN's CPU time goes, per recursive unit: the measurements behind kernels/onednn.py.

On one frame of the bench size (320x240 output by default), float32 channels_last, it times
three ways of doing one unit's work, interleaved so that a shared machine's drift hits all
alike: two bare 3x3 128->128 convolutions (the floor), the eager unit (conv, ReLU, conv, add,
ReLU as separate passes) and the fused unit (two oneDNN convolutions with the ReLU and the add
as post-ops). Importing `kernels` turns on PyTorch's transparent-huge-page allocations
(kernels/__init__.py); to see what they are worth, run it also with THP_MEM_ALLOC_ENABLE=0.

    python -m benchmarks.fusion [--size 320x240] [--reps 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from kernels import onednn
from kernels.model import flops_per_pixel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--reps", type=int, default=8)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    h = torch.randn(1, 128, height, width).contiguous(memory_format=torch.channels_last)
    h0 = torch.randn_like(h)
    wa, wb = (torch.randn(128, 128, 3, 3).contiguous(memory_format=torch.channels_last) * 0.03 for _ in range(2))
    conv, same = onednn._CONV, ([1, 1], [1, 1], [1, 1], 1)  # padding, stride, dilation, groups

    ways = {
        "two bare convs": lambda: (F.conv2d(h, wa, padding=1), F.conv2d(h, wb, padding=1)),
        "eager unit": lambda: F.relu(F.conv2d(F.relu(F.conv2d(h, wa, padding=1)), wb, padding=1) + h0),
        "fused unit": lambda: conv(conv(h, wa, None, *same, "relu", [], ""), h0, wb, None, *same, "add", 1.0, "relu",
                                   [], ""),
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in ways}
    with torch.inference_mode():
        for fn in ways.values():
            fn()  # oneDNN primitive creation
        for _ in range(args.reps):
            for name, fn in ways.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    unit_gflop = (flops_per_pixel(1) - flops_per_pixel(0)) * width * height / 1e9
    thp = os.environ.get("THP_MEM_ALLOC_ENABLE")
    print(f"{width}x{height} float32, {torch.get_num_threads()} threads, THP_MEM_ALLOC_ENABLE={thp}: "
          f"one unit is {unit_gflop:.1f} GFLOP; median of {args.reps}")  # fmt: skip
    for name, ts in times.items():
        ms = statistics.median(ts) * 1000
        print(f"  {name:15s} {ms:6.0f} ms  {unit_gflop / ms * 1000:4.0f} GFLOP/s")


if __name__ == "__main__":
    main()
