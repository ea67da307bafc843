"""The GPU-speed probe of issue #23: the CUDA model paths side by side in one run, and their quality.

Times the CUDA runner (graphs, fp16 unless named) on one synthetic frame per size, unfused and
with cuDNN's fused conv + ReLU / conv + add + ReLU (kernels.cudnn_fused), in 256 tiles (the CUDA
default until this probe) and on whole frames (the default since): each path's median of --reps
timed calls after warm-up, against the device's fp16 GEMM peak sampled at the start; and what
an fp8 GEMM of one conv's shape takes against the fused conv. Then Set5 x2 PSNR of the shipped
weights on each whole-frame path against true fp32, so a faster path that loses quality shows it.

    python -m benchmarks.gpu_probe [--sizes 1280x720,1920x1080] [--reps 10] [--set5 DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

from kernels.cuda_runner import CudaRunner
from kernels.model import DRRN, flops_per_pixel
from kernels.tiling import Tiling
from kernels.weights import load_drrn
from stream.bench.measure import GemmPeak, host_name
from stream.eval.protocol import eager_fp32, read_dataset, score_image

UNITS = 25
PATHS = {  # name -> (dtype, fused, tiling)
    "tiles 256 + halo 16, batch 8": (torch.float16, False, Tiling()),
    "tiles 256 + halo 16, batch 8, fused": (torch.float16, True, Tiling()),
    "whole frame": (torch.float16, False, Tiling(tile=None, batch=1)),
    "whole frame, fused (the default)": (torch.float16, True, Tiling(tile=None, batch=1)),
    "whole frame, fused, bf16": (torch.bfloat16, True, Tiling(tile=None, batch=1)),
}


def seconds_per_call(fn: Callable[[], object], reps: int) -> float:
    """Median over `reps` calls, each timed by CUDA events after two warm-up calls (autotuning, capture)."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def speed(model: DRRN, sizes: list[tuple[int, int]], reps: int, peak_tflops: float) -> list[dict]:
    rows = []
    for width, height in sizes:
        y = torch.rand(1, 1, height, width, device="cuda")
        flop = flops_per_pixel(UNITS) * width * height
        for name, (dtype, fused, tiling) in PATHS.items():
            row: dict = {"path": name, "size": f"{width}x{height}", "dtype": str(dtype).removeprefix("torch.")}
            try:
                runner = CudaRunner(model, dtype, tiling, fused=fused)
                s = seconds_per_call(lambda runner=runner, y=y: runner(y, UNITS), reps)
                row |= {"fps": round(1 / s, 2), "tflops": round(flop / s / 1e12, 1)}
                row["share_of_peak"] = round(row["tflops"] / peak_tflops, 3)
            except Exception as e:  # one path failing must not cost the others' numbers
                row["error"] = f"{type(e).__name__}: {e}"[:300]
            print(json.dumps(row), flush=True)
            rows.append(row)
            torch.cuda.empty_cache()
    return rows


def fp8_ceiling(width: int, height: int, reps: int) -> dict:
    """One conv of a unit at this size, three ways, ms each: cuDNN's fused fp16 conv + ReLU (what a
    unit runs now); the same multiply-adds as one fp16 GEMM of im2col's shape (the im2col not done);
    and as one scaled fp8 (e4m3) GEMM of that shape. Whether an implicit-GEMM fp8 kernel could beat
    the fused conv at all (issue #23's stretch goal; its quality: benchmarks.fp8_quality)."""
    c, m = 128, width * height
    x = torch.rand(1, c, height, width, device="cuda", dtype=torch.float16).contiguous(
        memory_format=torch.channels_last
    )
    w = (torch.randn(c, c, 3, 3, device="cuda") * 0.03).half().contiguous(memory_format=torch.channels_last)
    a16, b16 = torch.rand(m, 9 * c, device="cuda").half(), (torch.randn(c, 9 * c, device="cuda") * 0.03).half()
    a8, b8, one = a16.to(torch.float8_e4m3fn), b16.to(torch.float8_e4m3fn), torch.ones((), device="cuda")
    ways = {  # _scaled_mm takes its second operand column-major: b8 is N x K, so b8.t() (K x N) is
        "fused fp16 conv + ReLU": lambda: torch.cudnn_convolution_relu(x, w, None, [1, 1], [1, 1], [1, 1], 1),
        "fp16 GEMM of im2col's shape": lambda: a16 @ b16.t(),
        "fp8 e4m3 scaled GEMM of im2col's shape": lambda: torch._scaled_mm(
            a8, b8.t(), one, one, out_dtype=torch.float16
        ),
    }
    row: dict = {"size": f"{width}x{height}"}
    for name, fn in ways.items():
        try:
            row[f"{name}, ms"] = round(seconds_per_call(fn, reps) * 1000, 3)
        except Exception as e:  # one way failing must not cost the others' numbers
            row[name] = f"{type(e).__name__}: {e}"[:300]
    print(json.dumps(row), flush=True)
    return row


def quality(model: DRRN, set5: Path) -> dict:
    """Set5 x2 mean PSNR per path: true fp32 eager, then the runner's paths on whole images."""
    lumas = read_dataset(set5)
    device = torch.device("cuda")
    restorers: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"fp32 eager": eager_fp32(model, UNITS, device)}
    for name, (dtype, fused, _) in PATHS.items():
        if name.startswith("whole frame"):
            runner = CudaRunner(model, dtype, Tiling(tile=None, batch=1), fused=fused)
            restorers[name] = lambda y, runner=runner: runner(y.to(device, torch.float32), UNITS)
    result = {}
    for name, restore in restorers.items():
        try:
            scores = [score_image(restore, y, 2) for y in lumas]
            result[name] = round(sum(s.psnr for s in scores) / len(scores), 4)
        except Exception as e:
            result[name] = f"{type(e).__name__}: {e}"[:300]
        print(f"Set5 x2 {name}: {result[name]}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--set5", type=Path, help="Set5's folder: adds the quality of each path")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    model, weights = load_drrn(units=UNITS)
    model = model.cuda().eval().requires_grad_(False)
    peak = GemmPeak(torch.device("cuda"), "fp16")
    peak_tflops = max(peak.sample() for _ in range(3)) / 1000
    record = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": host_name(torch.device("cuda")),
        "torch": torch.__version__,
        "weights": weights.source,
        "units": UNITS,
        "peak": {"kernel": peak.kernel, "tflops": round(peak_tflops, 1)},
    }
    print(json.dumps(record), flush=True)
    with torch.inference_mode():
        record["speed"] = speed(model, sizes, args.reps, peak_tflops)
        record["fp8_ceiling"] = fp8_ceiling(*sizes[0], args.reps)
        if args.set5:
            record["set5_x2_psnr"] = quality(model, args.set5)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
