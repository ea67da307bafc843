"""Running DRRN on a device in a chosen precision: the path every command shares."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal, Protocol

import torch

from kernels import onednn
from kernels.host_memory import keep_freed_memory
from kernels.model import DRRN
from kernels.onednn import ActivationPeaks
from kernels.tiling import Tiling, run_tiled

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}  # resolved precision -> dtype


def no_tf32(benchmark: bool = True) -> AbstractContextManager[None]:
    """cuDNN without TF32 (a 10-bit mantissa) for the block: "fp32" means fp32, so fp16-vs-fp32
    checks compare against the real thing. No effect on fp16/bf16 convolutions or on the CPU."""
    return torch.backends.cudnn.flags(enabled=True, benchmark=benchmark, deterministic=False, allow_tf32=False)


def cpu_has_native_bf16() -> bool:
    """True where the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX).

    Without them oneDNN emulates bf16 and is ~3x slower than float32 (measured on an
    AVX-512 Xeon without BF16: 52 vs 175 GFLOP/s), so auto precision stays float32 there.
    """
    return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX") or bool(
        cpu_flags() & {"avx512_bf16", "amx_bf16"}
    )


def cpu_bf16() -> Literal["native", "emulated", "none"]:
    """How this CPU runs bf16 convolutions: with bf16 instructions, emulated by oneDNN in AVX-512
    (3x slower than fp32 on a Xeon without BF16, docs/PERFORMANCE.md; 14x in a user's report), or
    not at all (oneDNN needs AVX-512 BW/VL/DQ, AVX-NE-CONVERT or AMX; AVX2-only CPUs have none)."""
    if cpu_has_native_bf16():
        return "native"
    return "emulated" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "none"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (none where there is no such file)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return set()


def _cuda_runner(model: DRRN, dtype: torch.dtype, tiling: Tiling) -> Callable[[torch.Tensor, int], torch.Tensor] | None:
    """CUDA graphs, cuDNN's fused convolutions (fp16, bf16) and Triton tile kernels; unfused where
    this cuDNN lacks the fused ops; None (the eager path) where Triton is missing or cannot compile
    here (no C compiler for its launcher, an unsupported GPU)."""
    try:
        from kernels.cuda_runner import CudaRunner  # imports Triton, which CUDA builds of torch bring
    except Exception as e:
        return _eager_because(e)
    problem: Exception | None = None
    for fused in (True, False) if dtype != torch.float32 else (False,):  # fp32 stays exact: no fused TF32
        try:
            runner = CudaRunner(model, dtype, tiling, fused=fused)
            runner.self_check()
            return runner
        except Exception as e:  # a cuDNN without the fused ops, or any failure of Triton's toolchain
            problem = problem or e
    return _eager_because(problem)


def _eager_because(e: Exception | None) -> None:
    warnings.warn(f"CUDA graphs and Triton tiles unavailable ({type(e).__name__}: {e}); running eager", stacklevel=3)


class Restores(Protocol):
    """What runs DRRN for the model worker: Restorer below, or kernels.onnx_backend.OnnxRestorer."""

    device: torch.device
    precision: str
    tiling: Tiling
    units: int  # the depth a call runs at unless it asks for another
    variable_depth: bool  # whether a call may ask for another depth (an exported file has one)
    channels: int
    backend: str

    def __call__(self, y: torch.Tensor, units: int | None = None) -> torch.Tensor: ...


class Restorer:
    """DRRN on one device and precision, tiled or whole-frame: float luma in, float luma out.

    Each device gets its fastest path: on the CPU, oneDNN convolutions with the ReLUs and the
    residual add fused in (kernels.onednn); on CUDA, cuDNN's fused equivalents, whole frames in CUDA
    graphs (kernels.cuda_runner); elsewhere, the eager model under autocast.
    """

    def __init__(
        self, model: DRRN, device: torch.device, precision: str, tiling: Tiling, peaks: ActivationPeaks | None = None
    ) -> None:
        """precision "int8" (CPU only) runs kernels.onednn.Int8Forward with the weights' calibrated `peaks`."""
        self.device, self.precision, self.tiling = device, precision, tiling
        # A copy: the caller's model stays where and as it was. oneDNN and cuDNN prefer NHWC.
        self.model = copy.deepcopy(model).to(device, memory_format=torch.channels_last)
        self.units, self.variable_depth = model.config.units, True  # all units share weights: any depth runs
        self.channels, self.backend = model.config.channels, "PyTorch"
        self._fused: Callable[[torch.Tensor, int], torch.Tensor] | None = None
        self._deeper: onednn.FusedForward | None = None  # int8's beyond its calibrated depth, made when first asked
        if precision == "int8":
            assert device.type == "cpu" and peaks is not None, "int8 runs on the CPU, with calibrated weights"
            self._fused, self.backend = onednn.Int8Forward(self.model, peaks), onednn.INT8_BACKEND
        # bf16 fused only where the CPU has bf16 instructions; elsewhere autocast (docs/QUALITY.md measured it)
        elif device.type == "cpu" and onednn.available() and (precision == "fp32" or cpu_has_native_bf16()):
            self._fused = onednn.FusedForward(self.model, DTYPES[precision])
        if device.type == "cpu":
            keep_freed_memory()
        self._cuda = _cuda_runner(self.model, DTYPES[precision], tiling) if device.type == "cuda" else None

    def _forward(self, x: torch.Tensor, units: int) -> torch.Tensor:
        if isinstance(self._fused, onednn.Int8Forward) and units > self._fused.units:
            return self._deeper_forward()(x, units)
        if self._fused is not None:
            return self._fused(x, units)
        dtype = DTYPES[self.precision]
        with no_tf32() if dtype == torch.float32 else torch.autocast(self.device.type, dtype):
            return self.model(x.contiguous(memory_format=torch.channels_last), units).float()

    def _deeper_forward(self) -> onednn.FusedForward:
        """int8 deeper than its calibration, whose scales stop at that depth: in fp32, as the run's choice would have
        been (kernels.resolve.too_deep_for_int8). A call may ask for it: the API's units=, the live preview's + key
        (it raised "int8 calibrated for 11 units, asked for 12" in the model's thread)."""
        if self._deeper is None:
            self._deeper = onednn.FusedForward(self.model, torch.float32)
        return self._deeper

    @torch.inference_mode()
    def __call__(self, y: torch.Tensor, units: int | None = None) -> torch.Tensor:
        """y: N x 1 x H x W in [0, 1] (bicubic-upscaled luma) -> restored, same shape, float32;
        `units` deep (None: the model's own depth; int8 deeper than calibrated runs in fp32)."""
        y, units = y.to(self.device, torch.float32), units or self.units
        if self._cuda is not None:
            return self._cuda(y, units)
        return run_tiled(lambda x: self._forward(x, units), y, self.tiling)
