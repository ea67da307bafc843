"""`drrn-stream bench`: the GEMM peak, DRRN's share of it, and the whole pipeline's share of DRRN."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kernels.choice import ModelChoice
from stream.cli.options import (
    HALO,
    BatchOpt,
    DeviceOpt,
    HaloOpt,
    JsonOpt,
    PrecisionOpt,
    TileOpt,
    WeightsOpt,
    model_choice,
    parse_wxh,
)
from stream.console import console_for, print_table, say
from stream.errors import UserError

DEFAULT_SIZE = {"cpu": "320x240", "cuda": "1280x720"}
DEFAULT_FRAMES = {"cpu": 3, "cuda": 120}

SizeOpt = Annotated[str | None, typer.Option("--size", help="Output WxH; default CPU 320x240, CUDA 1280x720.")]
FramesOpt = Annotated[  # (at most 10000: an absurd count encoded its clip without end)
    int | None,
    typer.Option("--frames", min=2, max=10_000,
                 help="Frames per run (six runs: five of the model and the pipeline by turns, one cold); default CPU "
                 "3, CUDA 120."),
]  # fmt: skip
ScaleOpt = Annotated[int, typer.Option("--scale", min=1, max=4, help="Upscale factor of the pipeline.")]
UnitsOpt = Annotated[
    int | None, typer.Option("--units", min=1, help="Recursive units (work scales with them); default: the weights'.")
]
CompareOpt = Annotated[
    list[Path] | None,
    typer.Option("--compare", help="Other weights (e.g. an ONNX file, fp32 or int8) measured beside, model only."),
]


MAX_SIDE = 8192  # pixels on a side of bench's output: 8K video and more, short of what no memory holds


def parse_size(size: str, scale: int) -> tuple[int, int]:
    width, height = parse_wxh(size, "320x240")
    if width < 16 or height < 16 or width % (2 * scale) or height % (2 * scale):
        raise UserError(f"--size {size}: width and height must be at least 16 and multiples of {2 * scale}")
    if width > MAX_SIDE or height > MAX_SIDE:  # 100000x100000 was "unexpected MemoryError", 60000x60000 killed
        raise UserError(f"--size {size}: bench measures frames of up to {MAX_SIDE}x{MAX_SIDE} (8K is 7680x4320)")
    return width, height


def compared_choice(choice: ModelChoice, path: Path) -> ModelChoice:
    """A --compare file at its own depth (its work counted as such), an ONNX file at its own precision too."""
    other = dataclasses.replace(choice, weights=str(path), units=None)
    return dataclasses.replace(other, precision="auto") if other.onnx else other


def bench_command(
    device: DeviceOpt = "auto", precision: PrecisionOpt = "auto", size: SizeOpt = None, frames: FramesOpt = None,
    scale: ScaleOpt = 2, units: UnitsOpt = None, weights: WeightsOpt = None, tile: TileOpt = None,
    halo: HaloOpt = HALO, batch: BatchOpt = None, compare: CompareOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Measure the GEMM peak, DRRN's share of it, and the whole pipeline's share of DRRN."""
    from stream.bench.measure import measure
    from stream.video.enhance import EnhanceOptions

    choice = model_choice(weights, units, device, precision, tile, halo, batch)
    model = choice.load()
    restorer = model.restorer
    compared = {str(path): compared_choice(choice, path).load().restorer for path in compare or []}
    kind = restorer.device.type
    width, height = parse_size(size or DEFAULT_SIZE.get(kind, "320x240"), scale)
    frames = frames or DEFAULT_FRAMES.get(kind, 6)
    console = console_for(quiet=as_json)
    say(f"bench: {width}x{height} output, x{scale}, {model.ran}, {frames} frames", console)  # a line, unwrapped
    # The run from a cold start times the model measured: left to --content auto, it judged the synthetic x264 clip
    # and ran the set for compressed input at its own depth (a faster model: its rate read above the warm pipeline's)
    ran = dataclasses.replace(choice, weights=choice.weights_name, units=None if choice.onnx else restorer.units)
    options = EnhanceOptions(scale=scale, model=ran, overwrite=True)
    r = measure(restorer, options, width, height, frames, console, compared)
    if as_json:
        print(json.dumps(dataclasses.asdict(r)))
        return
    caption = (f"The pipeline's {frames} frames include its start and the frames the encoder holds until the end "
               "(libx264: 41 at medium, 11 at veryfast): a long video keeps more of the model's rate.")  # fmt: skip
    table = Table(title=f"drrn-stream bench: {r.host}", show_header=False, caption=caption)
    ops = "GOP/s" if r.precision == "int8" else "GFLOP/s"  # (int8's work counted as the float work it replaces)
    for label, value in (  # what was measured first: the table alone, saved, said nothing of it
        ("measured", f"{r.size} output, x{r.scale}, B1U{r.units}, {r.precision} with {r.backend}, {r.tiling}, "
                     f"{r.frames} frames a run, {r.date}"),
        ("GEMM peak", f"{r.peak_gflops:.0f} {ops} ({r.peak_kernel})"),
        ("DRRN (model worker)", f"{r.model_gflops:.0f} GFLOP/s = {r.model_fraction:.0%} of peak; "
                                f"{r.model_mpx_s:.3f} Mpx/s; {r.model_only_fps:.3g} frames/s"),
        ("pipeline (decode to encode)", f"{r.e2e_fps:.3g} frames/s = {r.e2e_fraction:.0%} of the model's; "
                                        f"{r.e2e_wall_fps:.3g} with start-up"),
        ("stages busy", ", ".join(f"{k} {v:.0%}" for k, v in r.busy.items())),
        *((f"{c.weights} ({c.backend}, {c.precision}, U{c.units})", f"{c.model_gflops:.0f} GFLOP/s = "
           f"{c.model_gflops / r.model_gflops:.2f}x the model worker's; {c.model_only_fps:.3g} frames/s = "
           f"{c.speedup:.2f}x its" + (f" at U{r.units}" if c.units != r.units else "")) for c in r.compared),
        ("CPU ISA", " ".join(r.isa) or "-"),
    ):  # fmt: skip
        table.add_row(label, value)
    print_table(table)
