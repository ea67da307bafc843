"""`drrn-stream export`: DRRN as an ONNX file for deployment runtimes (ONNX Runtime, TensorRT, OpenVINO, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stream.cli.options import DEFAULT_HALO, HaloOpt, UnitsOpt, WeightsOpt
from stream.console import say
from stream.errors import UserError

Dst = Annotated[Path, typer.Argument(help="Output .onnx file.")]
TileOpt = Annotated[int, typer.Option("--tile", min=8, help="Core of the one window the file takes (plus the halo).")]
DynamicOpt = Annotated[bool, typer.Option("--dynamic", help="Any batch and frame size instead of one window.")]
Fp16Opt = Annotated[bool, typer.Option("--fp16", help="float16 weights, input and output (else float32).")]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")]


def export_command(
    dst: Dst, weights: WeightsOpt = None, units: UnitsOpt = None, tile: TileOpt = 256, halo: HaloOpt = DEFAULT_HALO,
    dynamic: DynamicOpt = False, fp16: Fp16Opt = False, overwrite: OverwriteOpt = False,
) -> None:  # fmt: skip
    """Export DRRN to ONNX: one N x 1 x (tile + 2 halo)^2 window by default, as deployment runtimes take it."""
    from kernels.onnx_backend import OPSET, VALUE_RANGE, export_onnx
    from kernels.weights import describe, load_drrn
    from stream.files import write_atomically

    if dst.suffix != ".onnx":
        raise UserError(f"{dst}: the output must be a .onnx file")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    model, loaded = load_drrn(weights, units)
    window = None if dynamic else tile + 2 * halo
    metadata = {
        "format": "drrn-stream", "architecture": "DRRN", "units": str(model.config.units),
        "channels": str(model.config.channels), "scales": loaded.metadata.get("scales", "2,3,4"),
        "halo": str(halo), "window": str(window or "any"), "value_range": VALUE_RANGE,
        "source": describe(loaded),
    } | {key: loaded.metadata[key] for key in ("psnr", "name") if key in loaded.metadata}  # fmt: skip
    with write_atomically(dst) as tmp:
        export_onnx(model, tmp, window, fp16, metadata)
    shape = "N x 1 x H x W" if window is None else f"N x 1 x {window} x {window}"
    say(f"wrote {dst}: DRRN B1U{model.config.units} ({describe(loaded)}), input {shape} "
        f"{'float16' if fp16 else 'float32'}, opset {OPSET}")  # fmt: skip
