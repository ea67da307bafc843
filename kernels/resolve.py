"""A ModelChoice settled on this machine: the device, the precision policy, the backend, the depth
and the tiling, decided here and nowhere else (kernels/choice.py says what each option means)."""

from __future__ import annotations

from pathlib import Path

import torch

from kernels.choice import Loaded, ModelChoice, Precision, Resolved
from kernels.errors import ChoiceError
from kernels.inference import Restorer, Restores, cpu_bf16, cpu_has_native_bf16
from kernels.tiling import tiling_for
from kernels.weights import Weights, build_drrn, describe, find_weights

EMULATED_BF16 = (
    "warning: this CPU has no bf16 instructions (AVX512-BF16, AMX): bf16 is emulated, 3-14x slower than fp32 "
    "(docs/PERFORMANCE.md); --precision fp32 is faster here"
)
NO_BF16 = "notice: this CPU cannot run bf16 convolutions (oneDNN needs AVX-512 or AMX); running fp32"


def device_for(device: str = "auto") -> torch.device:
    """--device as a torch device: auto is the first GPU where CUDA is available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ChoiceError(f"--device {device}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ChoiceError(f"--device {device}: expected auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ChoiceError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def precision_for(precision: Precision, device: torch.device) -> tuple[str, tuple[str, ...]]:
    """The precision that runs, and what the user should hear about it. auto: fp16 on CUDA, bf16 on
    a CPU with bf16 instructions, else fp32. bf16 asked of a CPU without them runs emulated (with a
    warning), or, where oneDNN has no bf16 convolution at all (AVX2 only), fp32 (with a notice)."""
    if precision == "auto":
        return ("fp16" if device.type == "cuda" else "bf16" if cpu_has_native_bf16() else "fp32"), ()
    if precision == "fp16" and device.type == "cpu":
        raise ChoiceError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    if device.type == "cpu" and precision == "bf16" and (support := cpu_bf16()) != "native":
        return ("fp32", (NO_BF16,)) if support == "none" else ("bf16", (EMULATED_BF16,))
    return precision, ()


def resolve(choice: ModelChoice) -> Resolved:
    return settle(choice)[0]


def load(choice: ModelChoice) -> Loaded:
    """The restorer for `choice`: ONNX Runtime for an .onnx file, else PyTorch on the device."""
    if choice.onnx:
        return settle_onnx(choice)
    ran, weights = settle(choice)
    restorer = Restorer(build_drrn(weights, ran.units), torch.device(ran.device), ran.precision, ran.tiling)
    return Loaded(restorer, weights, ran)


def settle(choice: ModelChoice) -> tuple[Resolved, Weights]:
    """Every default of `choice` decided (the weights read, not yet on the device)."""
    if choice.onnx:
        loaded = settle_onnx(choice)
        return loaded.ran, loaded.weights
    device = device_for(choice.device)
    precision, notices = precision_for(choice.precision, device)
    weights = find_weights(choice.weights)
    units = choice.units or weights.units
    tiling = tiling_for(device, choice.tile, choice.halo, choice.batch)
    ran = Resolved(describe(weights), units, weights.units, str(device), precision, "PyTorch", tiling, notices)
    return ran, weights


def onnx_restorer(choice: ModelChoice) -> Restores:
    from kernels.onnx_backend import OnnxRestorer

    path = Path(str(choice.weights))
    if not path.is_file():
        raise ChoiceError(f"{path}: no such file")
    device = device_for(choice.device)
    return OnnxRestorer(path, device, tiling_for(torch.device("cpu"), choice.tile, choice.halo, choice.batch))


def settle_onnx(choice: ModelChoice) -> Loaded:
    """An exported file decides its own depth, precision and (for one window) tiling: its session,
    opened once, says which."""
    restorer = onnx_restorer(choice)
    if choice.units is not None and choice.units != restorer.units:
        raise ChoiceError(
            f"{choice.weights}: exported with {restorer.units} units; --units {choice.units} needs another export"
        )
    weights = Weights({}, restorer.metadata, source=Path(str(choice.weights)).name)
    ran = Resolved(describe(weights), restorer.units, restorer.units, str(restorer.device), restorer.precision,
                   restorer.backend, restorer.tiling)  # fmt: skip
    return Loaded(restorer, weights, ran)
