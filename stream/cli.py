"""The `drrn-stream` command line."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernels.inference import Precision
from kernels.tiling import Tiling
from kernels.weights import WeightsError, describe, read_weights, save_weights
from stream.api import FrameEnhancer
from stream.bench import bench_command
from stream.enhance import EnhanceOptions, enhance_file
from stream.errors import UserError
from stream.eval_video import FIELDS, evaluate_video, plot_curves
from stream.evaluate import evaluate_dataset, read_dataset
from stream.framelog import FrameLog
from stream.live import LiveOptions, Preview, check_display
from stream.options import BatchOpt, DeviceOpt, HaloOpt, PrecisionOpt, TileOpt, UnitsOpt, WeightsOpt, parse_wxh
from stream.restorer import make_restorer
from stream.sink import EncodeOptions
from stream.source import VideoSource
from stream.train import train_command

DEFAULT_HALO = Tiling.halo

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True)


@app.command("eval")
def eval_command(
    dataset: Annotated[list[Path], typer.Option("--dataset", help="Folder of HR images; repeat for several.")],
    scale: Annotated[list[int], typer.Option("--scale", min=2, max=4, help="Scale factor; repeat for several.")] = [2],  # noqa: B006
    weights: WeightsOpt = None,
    units: UnitsOpt = None,
    precision: Annotated[
        Precision, typer.Option("--precision", help="fp32, bf16 (CPU/CUDA), fp16 (CUDA), auto.")
    ] = "fp32",
    tile: Annotated[int | None, typer.Option("--tile", min=16, help="Tile size; default: whole images.")] = None,
    halo: Annotated[int, typer.Option("--halo", min=0, help="Context around each tile.")] = DEFAULT_HALO,
    whole: Annotated[bool, typer.Option("--whole", help="Whole images, no tiling (the default).")] = False,
    device: DeviceOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Score DRRN and bicubic on image folders: Y-channel PSNR/SSIM under the standard protocol."""
    if whole and tile is not None:
        raise UserError("--whole and --tile exclude each other")
    lumas = {folder.resolve().name: read_dataset(folder) for folder in dataset}  # bad input fails before model time
    restorer, loaded = make_restorer(weights, units, device, precision, tile or 0, halo, batch=4)
    err.print(
        f"{describe(loaded)} on {restorer.device} in {restorer.precision}, "
        f"{'whole images' if tile is None else f'tiles of {tile} with halo {halo}'}",
        style="dim", markup=False, highlight=False,
    )  # fmt: skip
    results = []
    total = sum(len(images) for images in lumas.values()) * len(scale)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("evaluating", total=total)
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
        table.add_row(
            r.dataset,
            f"x{r.scale}",
            str(r.images),
            f"{r.psnr_bicubic:.2f} / {r.ssim_bicubic:.4f}",
            f"{r.psnr:.2f} / {r.ssim:.4f}",
            f"{r.seconds:.1f}",
        )
    Console().print(table)


@app.command("convert")
def convert_command(
    src: Annotated[Path, typer.Argument(help="MXNet .params, upstream .pth checkpoint, state dict or safetensors.")],
    dst: Annotated[Path, typer.Argument(help="Output .safetensors file.")],
    units: Annotated[
        int | None, typer.Option("--units", min=1, help="Recursive units the weights were trained with.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")] = False,
) -> None:
    """Convert DRRN weights to drrn-stream's safetensors format (never runs code from SRC)."""
    if dst.suffix != ".safetensors":
        raise UserError(f"{dst}: the output must be a .safetensors file")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    loaded = read_weights(src)
    if units is not None:
        loaded.metadata["units"] = str(units)
    tmp = dst.with_name(f".{dst.name}.partial")
    try:
        save_weights(tmp, loaded)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    err.print(f"wrote {dst}: {describe(loaded)}", markup=False, highlight=False)


app.command("train")(train_command)
app.command("bench")(bench_command)


@app.command("enhance")
def enhance_command(
    src: Annotated[str, typer.Argument(help="Input video, or - for stdin.")],
    dst: Annotated[str, typer.Argument(help="Output video (container from its name), or - for stdout.")],
    scale: Annotated[int, typer.Option("--scale", min=1, max=4, help="1 sharpens in place; 2-4 upscale.")] = 2,
    weights: WeightsOpt = None,
    units: UnitsOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = None,
    halo: HaloOpt = DEFAULT_HALO,
    batch: BatchOpt = None,
    codec: Annotated[
        str | None, typer.Option("--codec", help="Encoder; default libx264 or what the container needs.")
    ] = None,
    crf: Annotated[int, typer.Option("--crf", min=0, max=63, help="Encoder quality (lower is better).")] = 18,
    preset: Annotated[str, typer.Option("--preset", help="x264/x265 speed preset.")] = "medium",
    log: Annotated[Path | None, typer.Option("--log", help="Per-frame metrics, .csv or .jsonl.")] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="A video of the output's size to score PSNR/SSIM against.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary, only errors.")] = False,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Input container (e.g. nut, matroska, mpegts, yuv4mpegpipe).")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--output-format", help="Output container; default from the name, matroska on stdout.")
    ] = None,
) -> None:
    """Enhance a video: DRRN on the luma in tiles, chroma upscaled, audio and subtitles copied."""
    options = EnhanceOptions(
        scale=scale, weights=weights, units=units, device=device, precision=precision,
        tile=tile, halo=halo, batch=batch,
        encode=EncodeOptions(codec=codec, crf=crf, preset=preset),
        log=log, reference=reference, overwrite=overwrite,
        input_format=input_format, output_format=output_format,
    )  # fmt: skip
    stats = enhance_file(src, dst, options, Console(stderr=True, quiet=quiet))
    if stats.reader_closed:  # `| head`: not an error; keep Python's exit-time flush of stdout quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if stats.interrupted:
        raise typer.Exit(130)


@app.command("eval-video")
def eval_video_command(
    src: Annotated[Path, typer.Argument(help="A video whose frames serve as ground truth.")],
    scale: Annotated[int, typer.Option("--scale", min=2, max=4, help="Degrade by 1/S, then restore.")] = 2,
    weights: WeightsOpt = None,
    units: UnitsOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = None,
    halo: HaloOpt = DEFAULT_HALO,
    frames: Annotated[int | None, typer.Option("--frames", min=1, help="Score only the first N frames.")] = None,
    skip: Annotated[int, typer.Option("--skip", min=0, help="Start after N frames (an intro, a fade).")] = 0,
    log: Annotated[Path | None, typer.Option("--log", help="Per-frame scores, .csv or .jsonl.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PSNR per frame, DRRN vs bicubic, as a PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of means on stdout.")] = False,
) -> None:
    """Degrade each frame by 1/S, restore it with DRRN and with bicubic, and score both."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise UserError(f"{plot}: the plot must be a .png file")
    source = VideoSource(src)
    restorer, loaded = make_restorer(weights, units, device, precision, tile, halo)
    frame_log = FrameLog(log, FIELDS)
    rows = []
    if source.info.frames and skip >= source.info.frames:
        source.close()
        raise UserError(f"{src}: --skip {skip} leaves nothing of its {source.info.frames} frames")
    left = source.info.frames - skip if source.info.frames else None
    total = min(n for n in (frames, left) if n is not None) if frames or left is not None else None
    err.print(f"{src.name}: x{scale}, DRRN {describe(loaded)} on {restorer.device} in {restorer.precision}",
              style="dim", markup=False, highlight=False)  # fmt: skip
    try:
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as progress:  # fmt: skip
            task = progress.add_task("scoring", total=total)
            for row in evaluate_video(source, restorer, scale, frames, skip):
                frame_log.add(row)
                if plot is not None:
                    rows.append(row)
                progress.advance(task)
    finally:
        frame_log.close()
        source.close()
    if plot is not None:
        plot_curves(plot, rows, f"{src.name}, x{scale}")
    means = {k: frame_log.mean(k) for k in ("psnr", "psnr_bicubic", "ssim", "ssim_bicubic")}
    if as_json:
        print(json.dumps({"frames": frame_log.rows, **means}))
        return
    err.print(
        f"{frame_log.rows} frames, x{scale}: DRRN {means['psnr']:.2f} dB / SSIM {means['ssim']:.4f} "
        f"(min {frame_log.mins.get('psnr', float('nan')):.2f} dB), "
        f"bicubic {means['psnr_bicubic']:.2f} dB / SSIM {means['ssim_bicubic']:.4f}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


@app.command("live")
def live_command(
    source: Annotated[str, typer.Argument(help="Camera index, device path, file or URL (OpenCV reads it).")] = "0",
    scale: Annotated[int, typer.Option("--scale", min=1, max=4, help="1 sharpens in place; 2-4 upscale.")] = 2,
    weights: WeightsOpt = None,
    units: UnitsOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = None,
    halo: HaloOpt = DEFAULT_HALO,
    layout: Annotated[
        Literal["split", "side"], typer.Option("--layout", help="split: a draggable line; side: two panes.")
    ] = "split",
    no_window: Annotated[bool, typer.Option("--no-window", help="Run headless (servers, tests).")] = False,
    frames: Annotated[int | None, typer.Option("--frames", min=1, help="Stop after N enhanced frames.")] = None,
    record: Annotated[Path | None, typer.Option("--record", help="Write what was shown to a video file.")] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", help="-: the enhanced frames, with their capture times, to stdout (raw video, NUT)."),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option("--latency-ms", min=1, help="Keep capture-to-display within MS by choosing the depth per frame."),
    ] = None,
    size: Annotated[str | None, typer.Option("--size", help="Ask the camera for WxH, e.g. 640x480.")] = None,
    camera_fps: Annotated[float | None, typer.Option("--camera-fps", min=1, help="Ask the camera for F fps.")] = None,
) -> None:
    """Live preview: bicubic against DRRN. Keys: q quits, space pauses, s saves a screenshot, +/- units."""
    if output not in (None, "-"):
        raise UserError(f"--output {output}: only - (stdout) is supported; use --record FILE for a file")
    if output == "-" and sys.stdout.isatty():
        raise UserError("--output -: stdout is a terminal; pipe it, e.g. | ffplay -")
    options = LiveOptions(
        window=not no_window, max_frames=frames, record=record, layout=layout, budget_ms=latency_ms,
        output=sys.stdout.buffer if output == "-" else None, camera_size=parse_wxh(size) if size else None,
        camera_fps=camera_fps,
    )  # fmt: skip
    if options.window:
        check_display()  # before the model loads, not after
    enhancer = FrameEnhancer(scale, weights, units, device, precision, tile, halo)
    preview = Preview(source, enhancer, options)
    err.print(
        f"{source} ({preview.stats.source}): DRRN {describe(enhancer.weights)} on {enhancer.device}, x{scale}"
        + (f", latency budget {latency_ms:g} ms" if latency_ms else ""),
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    stats = preview.run()
    if stats.reader_closed:  # `| head`: not an error; keep Python's exit-time flush of stdout quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    units, sizes = [c.units for c in stats.choices], sorted({c.size for c in stats.choices})
    depths = f"depth {min(units)}..{max(units)}, mean {sum(units) / len(units):.1f}; " if units else ""
    depths += f"size {', '.join(f'{s:.0%}' for s in sizes)}; " if sizes and sizes != [1.0] else ""
    err.print(
        f"{stats.frames} enhanced frames in {stats.seconds:.1f} s; latency {stats.latency_ms:.0f} ms"
        + (f" ({stats.over_budget} over the budget)" if latency_ms else "")
        + f", {depths}PSNR vs bicubic {stats.psnr:.2f} dB"
        + (f"; recorded {record}" if record else ""),
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


def with_default_command(argv: list[str]) -> list[str]:
    """`drrn-stream IN OUT ...` means `drrn-stream enhance IN OUT ...`."""
    commands = {c.name for c in app.registered_commands}
    if argv and argv[0] not in commands and argv[0] not in ("--help", "-h"):
        return ["enhance", *argv]
    return argv


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 1, never a traceback."""
    try:
        app(args=with_default_command(sys.argv[1:]), prog_name="drrn-stream")
    except (UserError, WeightsError) as e:
        _fail(str(e))
    except BrokenPipeError:
        sys.exit(1)
    except OSError as e:
        _fail(f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e))
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("DRRN_STREAM_DEBUG"):
            raise
        _fail(f"unexpected {type(e).__name__}: {e} (DRRN_STREAM_DEBUG=1 shows the traceback)")
