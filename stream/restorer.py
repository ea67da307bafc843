"""From command-line choices (weights, units, device, precision, tiling) to a ready Restorer."""

from __future__ import annotations

from pathlib import Path

import torch

from kernels.inference import Precision, Restorer, Restores, cpu_bf16, resolve_device, resolve_precision
from kernels.onnx_backend import OnnxRestorer
from kernels.tiling import Tiling, tiling_for
from kernels.weights import Weights, load_drrn
from stream.console import say
from stream.errors import UserError


def resolve(device: str, precision: Precision) -> tuple[torch.device, str]:
    """--device and --precision as a device and a resolved precision; a one-line error where
    impossible, and a one-line word where bf16 is asked of a CPU that has no bf16 instructions."""
    try:
        dev = resolve_device(device)
        resolved = resolve_precision(precision, dev)
    except (ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None
    if dev.type == "cpu" and resolved == "bf16" and (support := cpu_bf16()) != "native":
        if support == "none":
            say("notice: this CPU cannot run bf16 convolutions (oneDNN needs AVX-512 or AMX); running fp32")
            return dev, "fp32"
        say("warning: this CPU has no bf16 instructions (AVX512-BF16, AMX): bf16 is emulated, 3-14x slower "
            "than fp32 (docs/PERFORMANCE.md); --precision fp32 is faster here", style="yellow")  # fmt: skip
    return dev, resolved


def make_restorer(
    weights: Path | None,
    units: int | None,
    device: str,
    precision: Precision,
    tile: int | None = None,
    halo: int = Tiling.halo,
    batch: int | None = None,
) -> tuple[Restores, Weights]:
    """tile and batch None: the device's default (kernels.tiling.tiling_for); tile 0: whole frames.
    A .onnx file runs with ONNX Runtime at its own depth and precision: the backend follows the file."""
    if weights is not None and Path(weights).suffix == ".onnx":
        return onnx_restorer(Path(weights), units, device, tile, halo, batch)
    dev, prec = resolve(device, precision)
    model, loaded = load_drrn(weights, units)
    return Restorer(model, dev, prec, tiling_for(dev, tile, halo, batch)), loaded


def onnx_restorer(
    path: Path, units: int | None, device: str, tile: int | None, halo: int, batch: int | None
) -> tuple[OnnxRestorer, Weights]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    dev, _ = resolve(device, "fp32")
    restorer = OnnxRestorer(path, dev, tiling_for(torch.device("cpu"), tile, halo, batch))
    if units is not None and units != restorer.units:
        raise UserError(f"{path}: exported with {restorer.units} units; --units {units} needs another export")
    metadata = restorer.metadata | {"runtime": restorer.backend}
    return restorer, Weights({}, metadata, source=path.name)
