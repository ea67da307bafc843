"""`drrn-stream convert`: DRRN weights from any format we read into ours."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stream.console import say
from stream.errors import UserError

if TYPE_CHECKING:
    from kernels.weights import Weights

Src = Annotated[
    Path, typer.Argument(help="MXNet .params, upstream .pth checkpoint, state dict, safetensors, or a shipped name.")
]
Dst = Annotated[Path, typer.Argument(help="Output .safetensors file.")]
UnitsOpt = Annotated[int | None, typer.Option("--units", min=1, help="Recursive units the weights were trained with.")]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")]
CalibrationOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help="Folder of images (the training set, say) whose luma crops calibrate int8, which runs by default on "
        "CPUs with AMX.",
    ),
]
PATCHES, PATCH_SIZE = 24, 96  # calibration crops, x2/x3/x4 in turn: -0.007 dB on Set5 from T91's (docs/QUALITY.md)


def convert_command(
    src: Src, dst: Dst, units: UnitsOpt = None, calibration: CalibrationOpt = None, overwrite: OverwriteOpt = False
) -> None:
    """Convert DRRN weights to drrn-stream's safetensors format (never runs code from SRC)."""
    from kernels.weights import describe, find_weights, save_weights
    from stream.files import write_atomically
    from stream.video.targets import check_target

    if dst.suffix.lower() != ".safetensors":
        raise UserError(f"{dst}: the output must be a .safetensors file")
    check_target(dst, overwrite)
    loaded = find_weights(src)  # a shipped name too, as every command taking weights
    if units is not None:
        trained_here = "converted_from" not in loaded.metadata  # foreign weights' depth is a guess (25): --units says
        if trained_here and loaded.metadata.get("units", str(units)) != str(units):
            raise UserError(f"{src}: trained as B1U{loaded.metadata['units']} (its metadata says), not --units {units}")
        loaded.metadata["units"] = str(units)
    if calibration is not None:
        loaded.metadata |= int8_calibration(loaded, calibration)
    with write_atomically(dst) as tmp:
        save_weights(tmp, loaded)
    say(f"wrote {dst}: {describe(loaded)}")


def int8_calibration(weights: Weights, folder: Path, units: int | None = None) -> dict[str, str]:
    """The metadata that lets `weights` run in int8 (kernels.onednn.Int8Forward) at any depth up to `units`
    (None: their trained one): their activation peaks over bicubic crops of the images in `folder`."""
    from kernels.onednn import PEAKS_KEY, activation_peaks
    from kernels.weights import build_drrn
    from stream.cli.evaluate import progress_bar
    from stream.eval.protocol import bicubic_patches

    with progress_bar() as display:
        task = display.add_task("calibrating int8", total=PATCHES)
        patches = bicubic_patches(folder, PATCH_SIZE, PATCHES)
        peaks = activation_peaks(build_drrn(weights, units), patches, lambda: display.advance(task))
    how = f"{PATCHES} crops of {PATCH_SIZE} px of {folder.name} at x2/x3/x4, float32, B1U{peaks.units}"
    return {PEAKS_KEY: peaks.to_json(), "int8_calibration": how}
