"""Command-line options that several commands share, declared once.

This module and the command modules import neither torch nor PyAV: `--help` answers at once,
and each command imports what it runs when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kernels.choice import HALO, MIN_TILE, Content, ModelChoice, Precision, tile_ok
from kernels.pretrained import CONTENT_WEIGHTS, JUDGED_WEIGHTS, depth_table
from stream.content import (
    AV1_HEAVY,
    AV1_LIGHT,
    HEAVY_QP,
    HEVC_HEAVY,
    HEVC_LIGHT,
    JPEG_HEAVY_QUALITY,
    JPEG_LIGHT_QUALITY,
    LIGHT_QP,
    MPEG_HEAVY,
    MPEG_LIGHT,
    VP8_HEAVY,
    VP8_LIGHT,
    VP9_HEAVY,
    VP9_LIGHT,
)
from stream.errors import UserError

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", help="Weights file (any format convert reads) or a shipped name; default: shipped."),
]
_DEPTHS = ", ".join(f"U{u} {p:.2f}" for u, p in depth_table().items())
UnitsOpt = Annotated[
    int | None,
    typer.Option(
        "--units",
        min=1,
        help="Recursive units (25 = B1U25); default: the cheapest depth within 0.02 dB of the best on the depth "
        "curves the weights record (the shipped sets: 17 for clean input, 11 for lightly coded, 9 for compressed, 7 "
        "for heavily compressed), else their trained depth. Work grows with units; "
        f"the shipped weights serve every depth (Set5 x2 dB: {_DEPTHS}).",
    ),
]
ContentOpt = Annotated[
    Content,
    typer.Option(
        "--content",
        help=f"Which shipped weights run where --weights names none: clean ({CONTENT_WEIGHTS['clean']}: trained "
        f"on the papers' bicubic LR), light ({CONTENT_WEIGHTS['light']} at fewer units: on coded LR too), "
        f"compressed ({CONTENT_WEIGHTS['compressed']}: fewer units, on mostly coded LR) or heavy "
        f"({CONTENT_WEIGHTS['heavy']}: fewer units, on heavily coded LR alone); auto judges the input's coding "
        f"(codec, quantiser, JPEG quality, bit rate), runs {JUDGED_WEIGHTS['clean']} for lossless input, light to "
        f"H.264's quantiser {LIGHT_QP}, HEVC's {HEVC_LIGHT}, MPEG's quantiser scale {MPEG_LIGHT}, VP9's q index "
        f"{VP9_LIGHT}, AV1's {AV1_LIGHT} and VP8's {VP8_LIGHT} and from JPEG quality {JPEG_LIGHT_QUALITY}, compressed "
        f"between, and heavy from H.264's quantiser {HEAVY_QP}, HEVC's {HEVC_HEAVY}, MPEG's {MPEG_HEAVY} (DVDs, XviD), "
        f"VP9's {VP9_HEAVY}, AV1's {AV1_HEAVY}, VP8's {VP8_HEAVY} or below JPEG quality {JPEG_HEAVY_QUALITY}, and says "
        "so in the first line.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[
    Precision,
    typer.Option(
        "--precision",
        help="auto: fp16 on CUDA; on an x86 CPU with AVX2 int8 (oneDNN through PyTorch, calibrated weights; the "
        "shipped ONNX file where torch lacks it), else bf16 where native, else fp32.",
    ),
]


def _tile_floor(tile: int | None) -> int | None:
    """--tile 0 or from MIN_TILE: a smaller core is mostly halo (kernels.choice.MIN_TILE)."""
    if not tile_ok(tile):
        raise typer.BadParameter(f"{tile}: 0 (whole frames) or from {MIN_TILE}, smaller tiles recompute mostly halo")
    return tile


TileOpt = Annotated[
    int | None,
    typer.Option(
        "--tile",
        callback=_tile_floor,
        help=f"Tile size in output pixels, from {MIN_TILE}; 0: whole frames (CUDA's default); CPU: 768.",
    ),
]
BatchOpt = Annotated[int | None, typer.Option("--batch", min=1, help="Tiles or whole frames per forward pass; 1.")]
HaloOpt = Annotated[int, typer.Option("--halo", min=0, help="Context around each tile, in pixels.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def parse_wxh(text: str, example: str = "640x480") -> tuple[int, int]:
    """--size WxH -> (width, height), positive; a one-line error otherwise."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise UserError(f"--size {text!r}: expected WxH, e.g. {example}")
    return int(width), int(height)


def model_choice(
    weights: Path | None, units: int | None, device: str, precision: Precision, tile: int | None = None,
    halo: int = HALO, batch: int | None = None, content: Content = "auto",
) -> ModelChoice:  # fmt: skip
    """The model options every command shares, as the one value a run learns what to run from."""
    if weights is not None and content != "auto":
        raise UserError(f"--content {content} picks among the shipped weights; --weights {weights} names them")
    name = str(weights) if weights is not None else None
    return ModelChoice(name, units, device, precision, tile, halo, batch, content)
