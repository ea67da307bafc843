"""Command-line options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kernels.inference import Precision

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", help="Weights file (any format convert reads) or a shipped name; default: shipped."),
]
UnitsOpt = Annotated[
    int | None, typer.Option("--units", min=1, help="Recursive units (25 = B1U25); default: the weights' own.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[
    Precision, typer.Option("--precision", help="auto: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32.")
]
TileOpt = Annotated[
    int | None,
    typer.Option("--tile", min=0, help="Tile size in output pixels; 0 = whole frames; default: CPU 512, CUDA 256."),
]
BatchOpt = Annotated[int | None, typer.Option("--batch", min=1, help="Tiles per forward pass; default: CPU 1, CUDA 8.")]
HaloOpt = Annotated[int, typer.Option("--halo", min=0, help="Context around each tile, in pixels.")]
