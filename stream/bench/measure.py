"""`drrn-stream bench`: the hardware's matrix-multiply limit, DRRN against it, the pipeline against DRRN.

Three numbers, each measured through the product's own code: a GEMM peak (the most this
device does in this precision), the model worker alone on frames of the asked size (counted
as DRRN's useful work, flops_per_pixel per output pixel, so halo recomputation is overhead),
and `enhance` on a generated clip of that size, decode to encode. Other weights (an ONNX file,
fp32 or int8) can be measured beside the model worker in the same run, on the same frames, their
work counted by the same convention. docs/PERFORMANCE.md records them.
"""

from __future__ import annotations

import math
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console

from kernels import onednn
from kernels.colour import LumaCoding
from kernels.inference import DTYPES, Restores, cpu_flags
from kernels.model import flops_per_pixel
from stream.bench.synthetic import pattern, write_clip
from stream.console import console_for
from stream.errors import Interrupted
from stream.video.enhance import EnhanceOptions, enhance_file, frames_per_batch, restoring_pipeline
from stream.video.processor import LumaEnhancer
from stream.video.source import VideoSource

PIPELINE_RUNS = 2  # pipeline runs, each between two model-only runs
SAMPLE_SECONDS = (1.0, 0.05)  # CPU, CUDA: each GEMM peak sample's length


@dataclass
class Compared:
    weights: str
    backend: str
    precision: str
    units: int  # its own depth: frames per second compare across depths only with this said
    model_gflops: float  # by the same convention: an int8 file is credited with the float work it replaces
    model_only_fps: float
    speedup: float  # model_only_fps / the main weights' model_only_fps, from the same turns


@dataclass
class BenchResult:
    device: str
    backend: str
    precision: str
    size: str  # output frames, W x H
    scale: int
    units: int
    frames: int
    tiling: str
    peak_gflops: float  # best GEMM-shaped kernel of this device and precision (int8: int8 GOP/s), best sample
    peak_kernel: str
    model_gflops: float  # useful DRRN work per second through the model worker
    model_fraction: float  # model_gflops / peak_gflops
    model_mpx_s: float  # output megapixels per second
    model_only_fps: float
    e2e_fps: float  # the pipeline on a clip, warm model: frames / wall time from opening the input to the closed output
    e2e_fraction: float  # e2e_fps / model_only_fps: at most 1 but for noise
    e2e_wall_fps: float  # frames / wall time of one `enhance` from a cold start (the model built and warmed up too)
    busy: dict[str, float]  # share of the e2e run each stage spent working
    compared: list[Compared]  # other weights' model worker, measured in the same turns
    host: str
    isa: list[str]  # the CPU's vector extensions that decide int8 and bf16 speed
    torch: str
    threads: int
    date: str


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_seconds(fn: Callable[[], object], device: torch.device, reps: int) -> float:
    fn()
    _sync(device)
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def gemm_candidates(device: torch.device, dtype: torch.dtype) -> dict[str, tuple[Callable[[], object], float]]:
    """GEMM-shaped kernels the libraries run at their best: name -> (run it once, its FLOP)."""
    gpu = device.type == "cuda"
    kernels: dict[str, tuple[Callable[[], object], float]] = {}
    for c, side in ((512, 128), (1024, 128)) if gpu else ((128, 128), (256, 128), (512, 64)):
        x = torch.randn(8 if gpu else 1, c, side, side, device=device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 1, 1, device=device, dtype=dtype)
        kernels[f"1x1 conv {c}->{c} on {tuple(x.shape)}"] = (lambda x=x, w=w: F.conv2d(x, w), 2 * x.numel() * c)
    n = 8192 if gpu else 2048
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    kernels[f"mm {n}x{n}x{n}"] = (lambda: a @ b, 2 * n**3)
    return kernels


def int8_candidates() -> dict[str, tuple[Callable[[], object], float]]:
    """The CPU's int8 GEMM-shaped kernels at their best: oneDNN's 1x1 int8 convs (uint8 x int8), as
    kernels.onednn runs DRRN's units, and with AMX an int8 matmul (without, torch._int_mm took 30 s a call on an AVX2
    EPYC, 0.57 GOP/s where the convs ran 66: the peak took 4.5 minutes, deaf to Ctrl-C)."""
    kernels: dict[str, tuple[Callable[[], object], float]] = {}
    for c, side in (128, 128), (256, 128), (512, 64):
        x = torch.randint(0, 256, (1, c, side, side), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
        scales, zero = torch.full((c,), 0.01), torch.zeros(c, dtype=torch.int64)
        w = torch.ops.onednn.qconv_prepack(torch.ones(c, c, 1, 1, dtype=torch.int8), scales, 1.0, 0, [1, 1], [0, 0],
                                           [1, 1], 1, None)  # fmt: skip

        def run(x: torch.Tensor = x, w: torch.Tensor = w, s: torch.Tensor = scales, z: torch.Tensor = zero) -> object:
            return torch.ops.onednn.qconv2d_pointwise(
                x, 1.0, 0, w, s, z, None, [1, 1], [0, 0], [1, 1], 1, 1.0, 0, None, "none", [], ""
            )  # as kernels.onednn runs the units' convs, with no padding

        kernels[f"int8 1x1 conv {c}->{c} on {tuple(x.shape)}"] = (run, 2 * x.numel() * c)
    if "amx_int8" in cpu_flags():
        a = torch.randint(-128, 128, (2048, 2048), dtype=torch.int8)
        kernels["int8 mm 2048x2048x2048"] = (lambda: torch._int_mm(a, a), 2 * 2048**3)
    return kernels


class GemmPeak:
    """The device's matrix-multiply rate: the best of several GEMM-shaped kernels, then re-sampled.

    A shared machine's speed drifts over minutes, so the peak is sampled again, sustained for
    about a second, once per model turn before its warm-up batch (model_rates says why not before
    every batch); the best sample is the limit.
    """

    def __init__(self, device: torch.device, precision: str) -> None:
        """`precision` as the model runs it: int8 against the CPU's int8 kernels where torch has oneDNN's,
        else against float32's."""
        self.device = device
        if precision == "int8" and device.type == "cpu" and onednn.int8_available():
            candidates = int8_candidates()
        else:
            candidates = gemm_candidates(device, DTYPES.get(precision, torch.float32))
        with torch.inference_mode():
            rates = {name: flop / _best_seconds(fn, device, 8) / 1e9 for name, (fn, flop) in candidates.items()}
        self.kernel = max(rates, key=rates.__getitem__)
        self._fn, self._flop = candidates[self.kernel]

    def sample(self) -> float:
        """GFLOP/s of the chosen kernel now, sustained over SAMPLE_SECONDS like the model's batches
        (a burst of a few ms can outrun what a CPU quota lets a longer run keep up)."""
        calls, start = 0, time.perf_counter()
        with torch.inference_mode():
            while time.perf_counter() - start < SAMPLE_SECONDS[self.device.type == "cuda"]:
                self._fn()
                _sync(self.device)  # the clock must see the GPU's work, not the launch queue's
                calls += 1
        return calls * self._flop / (time.perf_counter() - start) / 1e9


def model_rates(
    restorer: Restores, peak: GemmPeak, scale: int, width: int, height: int, frames: int
) -> tuple[list[float], list[float]]:
    """Frames/s of the model worker alone (upscale, DRRN, back to codes), batch by batch, back to back
    as the pipeline runs them, after a warm-up batch; the GEMM peak sampled once, before the warm-up.
    (Sampled before every timed batch, it slowed each: 2.35 against 2.76 fps, medians of 8 rounds in
    random order, bf16 on an AMX Xeon, which made e2e_fraction read 15% high.)"""
    enhancer, coding = LumaEnhancer(restorer, scale), LumaCoding()
    luma = [pattern(i, width // scale, height // scale)[..., 1].copy() for i in range(frames)]  # codes, H x W
    batch = frames_per_batch(width, height, restorer.tiling)
    peaks = [peak.sample()]
    enhancer(luma[:batch], coding)  # oneDNN primitives, cuDNN autotuning, CUDA graph capture
    fps = []
    for i in range(0, frames, batch):
        start = time.perf_counter()
        enhancer(luma[i : i + batch], coding)  # returns host arrays: the device has finished
        fps.append(len(luma[i : i + batch]) / (time.perf_counter() - start))
    return fps, peaks


def pipeline_run(
    restorer: Restores, options: EnhanceOptions, src: Path, dst: Path
) -> tuple[float, dict[str, float]]:  # fmt: skip
    """The whole pipeline on a clip with an already warm model: frames / the wall time from opening
    the input to the finished output (decoder start-up and encoder flush included), and each stage's
    busy share. It cannot beat the model alone, which it runs frame for frame, so e2e over model-only
    is at most 1 but for noise; a shorter interval (first frame written to last) could read 3x."""
    start = time.perf_counter()
    with VideoSource(src) as source:
        pipeline = restoring_pipeline(source, dst, source.carried, restorer, options, [], None, lambda _: None)
        stats = pipeline.run()
        pipeline.sink.close()
    if stats.interrupted:  # the pipeline takes a stop signal as a run's end: bench printed its figures, exit 0
        raise Interrupted(stats.signal)
    seconds = time.perf_counter() - start
    return stats.frames / seconds, {stage: round(busy / seconds, 3) for stage, busy in stats.busy.items()}


def cold_run_fps(options: EnhanceOptions, src: Path, dst: Path) -> float:
    """frames / the wall time of `enhance` as a user runs it once: the model built and warmed up too."""
    start = time.perf_counter()
    stats = enhance_file(str(src), str(dst), options, console_for(stderr=False, quiet=True))
    if stats.interrupted:
        raise Interrupted(stats.signal)
    return stats.frames / (time.perf_counter() - start)


def host_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_isa() -> list[str]:
    """Which of ISA_FLAGS the CPU reports."""
    flags = cpu_flags()
    return [flag for flag in ISA_FLAGS if flag in flags]


def measure(
    restorer: Restores,
    options: EnhanceOptions,
    width: int,
    height: int,
    frames: int,
    console: Console,
    compared: dict[str, Restores] | None = None,
) -> BenchResult:
    """The GEMM peak, then model-only and pipeline runs taking turns (M P M P M), so that a shared
    machine's drift over minutes reaches both alike; a peak sample at the start of each model turn.
    `compared` (name -> restorer) run model-only in each M turn, right after the main restorer."""
    with console.status("GEMM peak"):
        peak = GemmPeak(restorer.device, restorer.precision)
    restorers = {"main": restorer, **(compared or {})}
    fps: dict[str, list[float]] = {name: [] for name in restorers}
    peaks, pipelines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = write_clip(Path(tmp) / "in.mp4", width // options.scale, height // options.scale, frames), Path(tmp)
        for turn in range(2 * PIPELINE_RUNS + 1):
            if turn % 2 == 0:
                for name, r in restorers.items():
                    label = "model worker" if r is restorer else name
                    with console.status(f"{label}, run {turn // 2 + 1} of {PIPELINE_RUNS + 1}"):
                        batch_fps, batch_peaks = model_rates(r, peak, options.scale, width, height, frames)
                    fps[name] += batch_fps
                    peaks += batch_peaks
            else:
                with console.status(f"pipeline, run {turn // 2 + 1} of {PIPELINE_RUNS}"):
                    pipelines.append(pipeline_run(restorer, options, clip, out / f"{turn}.mp4"))
        with console.status("pipeline from a cold start"):
            cold_fps = cold_run_fps(options, clip, out / "cold.mp4")
    median = {name: statistics.median(rates) for name, rates in fps.items()}
    only_fps, peak_gflops = median["main"], max(peaks)  # the most the machine did in the run: the limit

    def gflops(frames_per_s: float, r: Restores) -> float:
        return _figures(frames_per_s * width * height * flops_per_pixel(r.units, r.channels) / 1e9)

    others = [
        Compared(name, r.backend, r.precision, r.units, gflops(median[name], r), _figures(median[name]),
                 _figures(median[name] / only_fps))
        for name, r in restorers.items() if r is not restorer
    ]  # fmt: skip
    e2e_fps = statistics.median(p[0] for p in pipelines)
    model_gflops = gflops(only_fps, restorer)
    return BenchResult(
        device=str(restorer.device), backend=restorer.backend, precision=restorer.precision,
        size=f"{width}x{height}", scale=options.scale, units=restorer.units, frames=frames,
        tiling=str(restorer.tiling), peak_gflops=_figures(peak_gflops), peak_kernel=peak.kernel,
        model_gflops=model_gflops, model_fraction=round(model_gflops / peak_gflops, 3),
        model_mpx_s=_figures(only_fps * width * height / 1e6), model_only_fps=_figures(only_fps),
        e2e_fps=_figures(e2e_fps), e2e_fraction=round(e2e_fps / only_fps, 3),
        e2e_wall_fps=_figures(cold_fps), busy=pipelines[-1][1], compared=others,
        host=host_name(restorer.device), isa=cpu_isa() if restorer.device.type == "cpu" else [],
        torch=torch.__version__, threads=torch.get_num_threads(), date=date.today().isoformat(),
    )  # fmt: skip


def _figures(value: float, digits: int = 5) -> float:
    """Rounded to significant figures: rates from a tiny test frame to a GPU at 4K all keep their precision."""
    return float(f"{value:.{digits}g}")
