"""`drrn-stream export`: DRRN as an ONNX file for deployment runtimes (ONNX Runtime, TensorRT, OpenVINO, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from kernels.choice import MIN_TILE, is_onnx
from stream.cli.options import HALO, HaloOpt, UnitsOpt, WeightsOpt
from stream.console import say
from stream.errors import UserError

Dst = Annotated[Path, typer.Argument(help="Output .onnx file.")]
WINDOW_CORE = 256  # the one window's core unless --tile says (kernels.onnx_backend cuts frames into such windows)
TileOpt = Annotated[
    int | None,
    typer.Option("--tile", min=MIN_TILE, help=f"Core of the one window the file takes (plus the halo); {WINDOW_CORE}."),
]
DynamicOpt = Annotated[bool, typer.Option("--dynamic", help="Any batch and frame size instead of one window.")]
Fp16Opt = Annotated[bool, typer.Option("--fp16", help="float16 weights, input and output (else float32).")]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")]
Int8Opt = Annotated[
    bool,
    typer.Option(
        "--int8", help="Static int8 (QDQ, per-channel weights, global residual at 16 bits); needs --calibration."
    ),
]
CalibrationOpt = Annotated[
    Path | None, typer.Option("--calibration", help="Folder of images whose luma patches set the int8 ranges.")
]
METHOD, PATCHES = "percentile", 48  # --int8's calibration where not said (None: said, or not; refused without --int8)
MethodOpt = Annotated[
    Literal["percentile", "minmax", "entropy"] | None,
    typer.Option("--method", help=f"How the calibration patches set the 8-bit ranges ({METHOD} if not said)."),
]
PatchesOpt = Annotated[
    int | None,
    typer.Option("--patches", min=1, help=f"Calibration patches, x2, x3 and x4 in turn ({PATCHES} if not said)."),
]


def export_command(
    dst: Dst, weights: WeightsOpt = None, units: UnitsOpt = None, tile: TileOpt = None, halo: HaloOpt = HALO,
    dynamic: DynamicOpt = False, fp16: Fp16Opt = False, int8: Int8Opt = False, calibration: CalibrationOpt = None,
    method: MethodOpt = None, patches: PatchesOpt = None, overwrite: OverwriteOpt = False,
) -> None:  # fmt: skip
    """Export DRRN to ONNX: one 1 x 1 x (tile + 2 halo)^2 window by default, as deployment runtimes take it."""
    import tempfile

    from kernels.onnx_backend import OPSET, VALUE_RANGE, export_onnx, quantize_int8, set_metadata
    from kernels.weights import build_drrn, describe, find_weights
    from stream.cli.evaluate import progress_bar
    from stream.eval.protocol import bicubic_patches
    from stream.files import write_atomically
    from stream.video.targets import check_target

    if not is_onnx(dst):
        raise UserError(f"{dst}: the output must be a .onnx file")
    check_target(dst, overwrite)
    if int8 and (calibration is None or fp16):
        raise UserError("--int8 needs --calibration DIR (images), and excludes --fp16")
    for said, value in (("--calibration", calibration), ("--method", method), ("--patches", patches)):
        if value is not None and not int8:  # --method and --patches were ignored without a word
            raise UserError(f"{said} sets the ranges of an int8 file: give --int8 too")
    method, patches = method or METHOD, patches or PATCHES
    loaded = find_weights(weights)
    model = build_drrn(loaded, units or loaded.run_units)
    if dynamic and tile is not None:  # it was ignored without a word
        raise UserError("--tile sets the one window the file takes; --dynamic takes any: give one of them")
    window = None if dynamic else (tile or WINDOW_CORE) + 2 * halo
    metadata = {
        "format": "drrn-stream", "architecture": "DRRN", "units": str(model.config.units),
        "channels": str(model.config.channels), "scales": loaded.metadata.get("scales", "2,3,4"),
        "halo": str(halo), "window": str(window or "any"), "value_range": VALUE_RANGE, "source": describe(loaded),
        "precision": "int8" if int8 else "fp16" if fp16 else "fp32", "trained_units": str(loaded.units),
        "weights_digest": loaded.digest(),  # which weights it holds: a shipped int8 file is checked against them
    } | {key: loaded.metadata[key] for key in ("psnr", "name", "validation") if key in loaded.metadata}  # fmt: skip
    with write_atomically(dst) as tmp, tempfile.TemporaryDirectory() as work:
        if not int8:
            export_onnx(model, tmp, window, fp16, metadata)
        else:
            assert calibration is not None
            export_onnx(model, Path(work) / "float.onnx", None, False, metadata)  # calibrated on 64-px patches
            luma = list(bicubic_patches(calibration, 64, patches))
            with progress_bar() as display:
                task = display.add_task("calibrating int8", total=len(luma))
                quantize_int8(Path(work) / "float.onnx", tmp, luma, method, lambda: display.advance(task))
            metadata["calibration"] = (
                f"{method}, {patches} luma patches of {calibration.name} at x2/x3/x4; global residual at 16 bits"
            )
            set_metadata(tmp, metadata, window)
    shape = "N x 1 x H x W" if window is None else f"1 x 1 x {window} x {window}"
    say(f"wrote {dst}: DRRN B1U{model.config.units} ({describe(loaded)}), input {shape} {metadata['precision']}, "
        f"opset {OPSET}")  # fmt: skip
