"""`drrn-stream eval` (image folders) and `drrn-stream eval-video` (frames of a video as ground truth)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stream.cli.options import (
    HALO,
    DeviceOpt,
    HaloOpt,
    JsonOpt,
    Precision,
    PrecisionOpt,
    TileOpt,
    UnitsOpt,
    WeightsOpt,
    model_choice,
)
from stream.console import err, say
from stream.errors import UserError

DatasetOpt = Annotated[list[Path], typer.Option("--dataset", help="Folder of HR images; repeat for several.")]
ScalesOpt = Annotated[list[int], typer.Option("--scale", min=2, max=4, help="Scale factor; repeat for several.")]
EvalPrecisionOpt = Annotated[Precision, typer.Option("--precision", help="fp32, bf16 (CPU/CUDA), fp16 (CUDA), auto.")]
EvalTileOpt = Annotated[int | None, typer.Option("--tile", min=16, help="Tile size; default: whole images.")]
WholeOpt = Annotated[bool, typer.Option("--whole", help="Whole images, no tiling (the default).")]
Video = Annotated[Path, typer.Argument(help="A video whose frames serve as ground truth.")]
ScaleOpt = Annotated[int, typer.Option("--scale", min=2, max=4, help="Degrade by 1/S, then restore.")]
FramesOpt = Annotated[int | None, typer.Option("--frames", min=1, help="Score only the first N frames.")]
SkipOpt = Annotated[int, typer.Option("--skip", min=0, help="Start after N frames (an intro, a fade).")]
LogOpt = Annotated[Path | None, typer.Option("--log", help="Per-frame scores, .csv or .jsonl.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="PSNR per frame, DRRN vs bicubic, as a PNG.")]


def progress_bar(label: str = "{task.description}") -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                    transient=True)  # fmt: skip


def eval_command(
    dataset: DatasetOpt, scale: ScalesOpt = [2], weights: WeightsOpt = None, units: UnitsOpt = None,  # noqa: B006
    precision: EvalPrecisionOpt = "fp32", tile: EvalTileOpt = None, halo: HaloOpt = HALO,
    whole: WholeOpt = False, device: DeviceOpt = "auto", as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Score DRRN and bicubic on image folders: Y-channel PSNR/SSIM under the standard protocol."""
    from stream.console import say_notices
    from stream.eval.protocol import evaluate_dataset, read_dataset

    if whole and tile is not None:
        raise UserError("--whole and --tile exclude each other")
    lumas = {folder.resolve().name: read_dataset(folder) for folder in dataset}  # bad input fails before model time
    model = model_choice(weights, units, device, precision, tile or 0, halo, batch=4).load()
    restorer = model.restorer
    say(str(model.ran), style="dim")
    say_notices(model.ran)
    results = []
    with progress_bar() as progress:
        task = progress.add_task("evaluating", total=sum(len(images) for images in lumas.values()) * len(scale))
        for name, images in lumas.items():
            for s in scale:
                progress.update(task, description=f"{name} x{s}")
                results.append(evaluate_dataset(restorer, name, images, s, on_image=lambda: progress.advance(task)))
    if as_json:
        print(json.dumps({"results": [dataclasses.asdict(r) for r in results]}))
        return
    table = Table(title=f"Y-channel PSNR (dB) / SSIM, {restorer.precision}")
    for column in ("dataset", "scale", "images", "bicubic", "DRRN", "seconds"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for r in results:
        table.add_row(r.dataset, f"x{r.scale}", str(r.images), f"{r.psnr_bicubic:.2f} / {r.ssim_bicubic:.4f}",
                      f"{r.psnr:.2f} / {r.ssim:.4f}", f"{r.seconds:.1f}")  # fmt: skip
    Console().print(table)


def eval_video_command(
    src: Video, scale: ScaleOpt = 2, weights: WeightsOpt = None, units: UnitsOpt = None, device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto", tile: TileOpt = None, halo: HaloOpt = HALO, frames: FramesOpt = None,
    skip: SkipOpt = 0, log: LogOpt = None, plot: PlotOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Degrade each frame by 1/S, restore it with DRRN and with bicubic, and score both."""
    from stream.console import say_notices
    from stream.eval.video import FIELDS, evaluate_video, frames_to_score, plot_curves
    from stream.video.log import FrameLog
    from stream.video.source import VideoSource

    if plot is not None and plot.suffix.lower() != ".png":
        raise UserError(f"{plot}: the plot must be a .png file")
    frame_log, rows = FrameLog(log, FIELDS), []
    with frame_log, VideoSource(src) as source:
        total = frames_to_score(source, frames, skip)
        model = model_choice(weights, units, device, precision, tile, halo).load()
        restorer = model.restorer
        say(f"{src.name}: x{scale}, {model.ran}", style="dim")
        say_notices(model.ran)
        with progress_bar("scoring") as progress:
            task = progress.add_task("scoring", total=total)
            for row in evaluate_video(source, restorer, scale, frames, skip):
                frame_log.add(row)
                rows += [row] if plot is not None else []
                progress.advance(task)
    if plot is not None:
        plot_curves(plot, rows, f"{src.name}, x{scale}")
    means = {k: frame_log.mean(k) for k in ("psnr", "psnr_bicubic", "ssim", "ssim_bicubic")}
    if as_json:
        print(json.dumps({"frames": frame_log.rows, **means}))
        return
    say(f"{frame_log.rows} frames, x{scale}: DRRN {means['psnr']:.2f} dB / SSIM {means['ssim']:.4f} "
        f"(min {frame_log.mins.get('psnr', float('nan')):.2f} dB), "
        f"bicubic {means['psnr_bicubic']:.2f} dB / SSIM {means['ssim_bicubic']:.4f}")  # fmt: skip
