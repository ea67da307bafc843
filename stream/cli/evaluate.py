"""`drrn-stream eval` (image folders) and `drrn-stream eval-video` (frames of a video as ground truth)."""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stream.cli.options import (
    HALO,
    MIN_TILE,
    ContentOpt,
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
from stream.console import counted, print_table, progress, say
from stream.errors import UserError
from stream.files import check_writable, link_target

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kernels.choice import Loaded, ModelChoice
    from stream.degrade import Degradation

DatasetOpt = Annotated[list[Path], typer.Option("--dataset", help="Folder of HR images; repeat for several.")]
ScalesOpt = Annotated[list[int], typer.Option("--scale", min=2, max=4, help="Scale factor; repeat for several.")]
EvalPrecisionOpt = Annotated[
    Precision | None,
    typer.Option("--precision", help="fp32 (the default; an ONNX file runs its own), bf16 (CPU/CUDA), fp16 (CUDA), "
                 "int8 (CPU), auto."),
]  # fmt: skip
EvalTileOpt = Annotated[int | None, typer.Option("--tile", min=MIN_TILE, help="Tile size; default: whole images.")]
WholeOpt = Annotated[bool, typer.Option("--whole", help="Whole images, no tiling (the default).")]
Video = Annotated[Path, typer.Argument(help="A video whose frames serve as ground truth.")]
ScaleOpt = Annotated[int, typer.Option("--scale", min=2, max=4, help="Degrade by 1/S, then restore.")]
FramesOpt = Annotated[int | None, typer.Option("--frames", min=1, help="Score only the first N frames.")]
SkipOpt = Annotated[int, typer.Option("--skip", min=0, help="Start after N frames (an intro, a fade).")]
LogOpt = Annotated[Path | None, typer.Option("--log", help="Per-frame scores, .csv or .jsonl (replaced only with -y).")]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="PSNR per frame, DRRN vs bicubic, as a PNG (replaced only with -y).")
]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing --log or --plot file.")]
DegradeOpt = Annotated[
    list[str],
    typer.Option("--degrade", help="LR through a codec, repeatable: clean, x264:crf=23, x265:crf=28, mpeg2:q=8 "
                 "(a DVD's quantiser), vp9:crf=40 (libvpx, as YouTube's), av1:crf=40 (SVT-AV1), vp8:q=30 (libvpx "
                 "at a fixed quantiser), jpeg:q=40 (x264/x265 also :preset=P; video codecs :intra); each scored on "
                 "the same frames."),
]  # fmt: skip
DownscaleOpt = Annotated[
    str, typer.Option("--downscale", help="How the LR is made: matlab (the papers' bicubic) or FFmpeg's bicubic, "
                      "bilinear, area, lanczos.")
]  # fmt: skip
CropOpt = Annotated[int | None, typer.Option("--crop", min=16, help="Score the centre CROP x CROP of each frame.")]


def protocol_options(degrade: list[str], downscale: str) -> tuple[list, str]:
    """--degrade and --downscale checked before any model time."""
    from stream.degrade import DOWNSCALE_KERNELS, parse_degradation

    if downscale not in DOWNSCALE_KERNELS:
        raise UserError(f"--downscale {downscale}: use one of {', '.join(DOWNSCALE_KERNELS)}")
    return list(dict.fromkeys(parse_degradation(spec) for spec in degrade)), downscale


def progress_bar(label: str = "{task.description}") -> Progress:
    return progress(
        TextColumn(label, markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    )


def eval_command(
    dataset: DatasetOpt, scale: ScalesOpt = [2], weights: WeightsOpt = None, units: UnitsOpt = None,  # noqa: B006
    precision: EvalPrecisionOpt = None, tile: EvalTileOpt = None, halo: HaloOpt = HALO,
    whole: WholeOpt = False, device: DeviceOpt = "auto", degrade: DegradeOpt = ["clean"],  # noqa: B006
    downscale: DownscaleOpt = "matlab", as_json: JsonOpt = False, content: ContentOpt = "auto",
) -> None:  # fmt: skip
    """Score DRRN and bicubic on image folders: Y-channel PSNR/SSIM under the standard protocol, or
    with the LR made by another kernel and coded by a real codec (--downscale, --degrade)."""
    from stream.eval.protocol import evaluate_dataset, finite, picture_quantisers, read_dataset

    if whole and tile is not None:
        raise UserError("--whole and --tile exclude each other")
    if halo != HALO and tile is None:  # whole images have no windows: it was ignored without a word
        raise UserError(f"--halo {halo} is the context of --tile's windows; eval runs whole images without --tile")
    degradations, kernel = protocol_options(degrade, downscale)
    scale = list(dict.fromkeys(scale))  # each once, as --degrade's: `--scale 2 --scale 2` scored x2 twice
    folders = list({link_target(folder): folder for folder in dataset}.values())  # each once, named as given
    names = dataset_names([folder.absolute() for folder in folders])
    lumas = {name: read_dataset(folder, scale) for name, folder in zip(names, folders, strict=True)}
    choice = model_choice(weights, units, device, precision or "fp32", tile or 0, halo, batch=4, content=content)
    if precision is None and choice.onnx:  # a file runs the precision it was exported in
        choice = dataclasses.replace(choice, precision="auto")
    quantisers = picture_quantisers(lumas, scale, degradations, kernel) if choice.judged else {}  # as a picture's
    models = load_models(choice, degradations, kernel, quantisers=quantisers)
    results = []
    with progress_bar() as progress:
        count = sum(len(images) for images in lumas.values())
        task = progress.add_task("evaluating", total=count * len(scale) * len(degradations))
        for name, images in lumas.items():
            for s in scale:
                for d in degradations:
                    progress.update(task, description=f"{name} x{s} {d}")
                    advance = lambda: progress.advance(task)  # noqa: E731
                    results.append(evaluate_dataset(models[d].restorer, name, images, s, advance, d, kernel))
    ran = models[degradations[0]].ran
    runs = [models[d].ran for _, d in zip(results, cycle(degradations))]  # each row's set: codings innermost
    if as_json:
        served = zip(results, runs, strict=True)
        rows = [finite(dataclasses.asdict(r)) | {"weights": run.weights, "units": run.units} for r, run in served]
        print(json.dumps({"model": ran.record(), "results": rows}, allow_nan=False))
        return
    depths = [run.units for run in runs]  # each set runs at its own depth
    at = f"at {ran.units} units " if len(set(depths)) == 1 else ""
    title = f"Y-channel PSNR (dB) / SSIM, DRRN {at}in {ran.precision}, LR by {kernel}"
    print_results(results, title, None if at else depths)


def load_models(
    choice: ModelChoice, degradations: list[Degradation], kernel: str, lead: str = "",
    quantisers: Mapping[Degradation, float] | None = None,
) -> dict[Degradation, Loaded]:  # fmt: skip
    """The model for each degradation of LR made by `kernel` (the shipped set such LR would get, judged by
    its `quantisers` where read, unless --weights or --content says), a line said for each set (the first
    after `lead`)."""
    from stream.console import say_notices
    from stream.content import loaded_for

    models = loaded_for(choice, degradations, kernel, quantisers)
    for n, model in enumerate({id(m): m for m in models.values()}.values()):
        say(f"{lead if n == 0 else ''}{model.ran}", style="dim")
        say_notices(model.ran.notices)
    return models


def print_results(results: list, title: str, depths: list[int] | None = None) -> None:
    """The table; with `depths` (rows whose sets run at different depths), a column says each row's."""
    table = Table(title=title)
    for column in ("dataset", "scale", "degrade", *(["units"] if depths else []), "images", "bicubic", "DRRN", "gain",
                   "seconds"):  # fmt: skip
        named = column in ("dataset", "degrade")  # folded, not cut to "x264:cr…" where the lines are short
        table.add_column(column, justify="left" if named else "right", overflow="fold" if named else "ellipsis")
    for n, r in enumerate(results):
        bicubic, drrn = f"{db(r.psnr_bicubic)} / {r.ssim_bicubic:.4f}", f"{db(r.psnr)} / {r.ssim:.4f}"
        units = [str(depths[n])] if depths else []
        images = f"{r.images} ({r.exact} exact)" if r.exact else str(r.images)
        table.add_row(r.dataset, f"x{r.scale}", r.degrade, *units, images, bicubic, drrn,
                      db(r.psnr - r.psnr_bicubic, "+.2f"), f"{r.seconds:.1f}")  # fmt: skip
    print_table(table)


def db(value: float, form: str = ".2f") -> str:
    """A PSNR (or a gain) for people: "exact" where every image or frame was restored exactly (no finite PSNR)."""
    return format(value, form) if math.isfinite(value) else "exact"


def dataset_names(folders: list[Path]) -> list[str]:
    """Each folder's name in the results, as short as tells it from the others: Set5/HR and Set14/HR, the SR packs'
    layout, where the second had replaced the first under "HR" without a word."""
    for depth in range(1, max(len(folder.parts) for folder in folders) + 1):
        names = ["/".join(folder.parts[-depth:]) for folder in folders]
        if len(set(names)) == len(names):
            return names
    return [str(folder) for folder in folders]


def check_plot(plot: Path, overwrite: bool) -> None:
    """Before the work, as --log's name is: a .png in a folder that takes it (one that could not be written
    failed after all the scoring, and the results' lines or JSON with it), an existing one replaced only with -y."""
    if plot.suffix.lower() != ".png":
        raise UserError(f"{plot}: the plot must be a .png file")
    if plot.is_dir():
        raise UserError(f"{plot}: is a folder")
    if plot.exists() and not overwrite:
        raise UserError(f"{plot}: exists; pass -y to replace it")
    if not plot.parent.is_dir():
        raise UserError(f"{plot.parent}: {'not a folder' if plot.parent.exists() else 'no such folder'} (for --plot)")
    check_writable(plot)


def eval_video_command(
    src: Video, scale: ScaleOpt = 2, weights: WeightsOpt = None, units: UnitsOpt = None, device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto", tile: TileOpt = None, halo: HaloOpt = HALO, frames: FramesOpt = None,
    skip: SkipOpt = 0, degrade: DegradeOpt = ["clean"], downscale: DownscaleOpt = "matlab",  # noqa: B006
    crop: CropOpt = None, log: LogOpt = None, plot: PlotOpt = None, as_json: JsonOpt = False,
    content: ContentOpt = "auto", overwrite: OverwriteOpt = False,
) -> None:  # fmt: skip
    """Degrade each frame by 1/S (and through a codec: --degrade), restore it with DRRN and with
    bicubic, and score both."""
    from stream.eval.protocol import check_scorable, finite
    from stream.eval.video import (
        FIELDS,
        Summary,
        VideoProtocol,
        coded_quantisers,
        evaluate_video,
        frames_to_score,
        plot_curves,
    )
    from stream.video.log import FrameLog, check_log_name
    from stream.video.source import VideoSource

    check_log_name(log, overwrite)  # a rerun replaced the last run's log and plot unasked
    if plot is not None:
        check_plot(plot, overwrite)
    degradations, kernel = protocol_options(degrade, downscale)
    protocol = VideoProtocol(scale, tuple(degradations), kernel, crop)
    frame_log, rows, summary = FrameLog(log, FIELDS), [], Summary([str(d) for d in degradations])
    with frame_log, VideoSource(src) as source:
        total = frames_to_score(source, frames, skip)
        height, width = source.info.height, source.info.width
        if crop is not None and crop > min(height, width):  # it scored the whole frame, said as "centre 200 px"
            raise UserError(f"{src.name}: --crop {crop} is more than its {width}x{height} frames hold")
        check_scorable(src.name, *(height, width) if crop is None else (crop, crop), [scale])
        choice = model_choice(weights, units, device, precision, tile, halo, content=content)
        quantisers = coded_quantisers(src, protocol, frames, skip) if choice.judged else {}  # as a file's
        models = load_models(choice, degradations, kernel, f"{src.name}: x{scale}, LR by {kernel}"
                             f"{f', centre {crop} px' if crop else ''}; ", quantisers)  # fmt: skip
        with progress_bar("scoring") as progress:
            task = progress.add_task("scoring", total=total * len(degradations) if total else None)
            restorers = {d: m.restorer for d, m in models.items()}
            for row in evaluate_video(source, restorers, protocol, frames, skip):
                frame_log.add(row)
                summary.add(row)
                rows += [row] if plot is not None else []  # only a plot needs them all
                progress.advance(task)
    if not summary.results():  # the container did not say how many frames --skip would leave
        raise UserError(f"{src.name}: --skip {skip} leaves no frame to score")
    by_spec = {str(d): m.ran for d, m in models.items()}
    results = [r | {"weights": (ran := by_spec[str(r["degrade"])]).weights, "units": ran.units}
               for r in summary.results()]  # fmt: skip
    if as_json:
        ran = by_spec[str(degradations[0])].record()
        results = [finite(r) for r in results]
        print(json.dumps({"model": ran, "scale": scale, "downscale": kernel, "crop": crop, "results": results},
                         allow_nan=False))  # fmt: skip
    else:
        for r in results:
            exact = f" ({r['exact']} exact, left out of the PSNRs)" if r["exact"] else ""
            gain = f"gain {db(r['gain'], '+.2f')} dB (min {db(r['min_gain'], '+.2f')})"
            say(f"{r['degrade']}: {counted(r['frames'], 'frame')}{exact}, x{scale}: DRRN (U{r['units']}) "
                f"{db(r['psnr'])} dB / SSIM {r['ssim']:.4f}, bicubic {db(r['psnr_bicubic'])} dB / SSIM "
                f"{r['ssim_bicubic']:.4f}; {gain}")  # fmt: skip
    if plot is not None:  # after the results: a plot that fails (a full disk) costs only itself
        plot_curves(plot, rows, f"{src.name}, x{scale}")
