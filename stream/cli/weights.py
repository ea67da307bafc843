"""`drrn-stream convert`: DRRN weights from any format we read into ours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stream.console import say
from stream.errors import UserError

Src = Annotated[
    Path, typer.Argument(help="MXNet .params, upstream .pth checkpoint, state dict, safetensors, or a shipped name.")
]
Dst = Annotated[Path, typer.Argument(help="Output .safetensors file.")]
UnitsOpt = Annotated[int | None, typer.Option("--units", min=1, help="Recursive units the weights were trained with.")]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")]


def convert_command(src: Src, dst: Dst, units: UnitsOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Convert DRRN weights to drrn-stream's safetensors format (never runs code from SRC)."""
    from kernels.weights import describe, find_weights, save_weights
    from stream.files import write_atomically

    if dst.suffix != ".safetensors":
        raise UserError(f"{dst}: the output must be a .safetensors file")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    loaded = find_weights(src)  # a shipped name too, as every command taking weights
    if units is not None:
        loaded.metadata["units"] = str(units)
    with write_atomically(dst) as tmp:
        save_weights(tmp, loaded)
    say(f"wrote {dst}: {describe(loaded)}")
