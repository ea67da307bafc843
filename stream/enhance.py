"""`drrn-stream IN OUT`: set up the pipeline for one file, run it, and write the output safely.

The output is written to a temporary file beside it and renamed at the end, so an existing
file is never clobbered by a failed run; after Ctrl-C the frames done are kept.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import av
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from kernels.inference import Precision
from kernels.tiling import Tiling
from kernels.weights import describe
from stream.enhancer import LumaEnhancer
from stream.errors import UserError
from stream.framelog import FrameLog
from stream.frames import Frame
from stream.pipeline import Pipeline, RunStats
from stream.restorer import make_restorer
from stream.sink import EncodeOptions, VideoSink
from stream.source import VideoSource


@dataclass(frozen=True)
class EnhanceOptions:
    scale: int = 2  # 1 sharpens in place; 2..4 upscale the luma bicubically, then restore it
    weights: Path | None = None  # None: the shipped weights
    units: int | None = None  # None: as many recursive units as the weights were trained with
    device: str = "auto"
    precision: Precision = "auto"
    tiling: Tiling = field(default_factory=Tiling)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    log: Path | None = None
    reference: Path | None = None  # a video of the output's size to score against
    overwrite: bool = False
    queue_frames: int = 8  # frames between stages: bounds memory, hides I/O jitter


LOG_FIELDS = ["frame", "pts_time", "model_ms", "psnr_vs_bicubic"]
REFERENCE_FIELDS = ["psnr_ref", "ssim_ref", "psnr_ref_bicubic", "ssim_ref_bicubic"]


def partial_path(dst: Path) -> Path:
    """Where the output grows until it is complete; same suffix, so the muxer is the same."""
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


def check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    if not src.exists():
        raise UserError(f"{src}: no such file")
    if dst.exists() and (dst.resolve() == src.resolve() or os.path.samefile(dst, src)):
        raise UserError(f"{dst}: the output would overwrite the input")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    if dst.is_dir():
        raise UserError(f"{dst}: is a folder")
    if not dst.parent.is_dir():
        raise UserError(f"{dst.parent}: no such folder")
    if not os.access(dst.parent, os.W_OK):
        raise UserError(f"{dst.parent}: not writable")


def frames_per_batch(width: int, height: int, tiling: Tiling) -> int:
    """Frames to restore together so that a batch holds about `tiling.batch` tiles."""
    if tiling.tile is None:
        return tiling.batch
    tiles = math.ceil(width / tiling.tile) * math.ceil(height / tiling.tile)
    return max(1, tiling.batch // tiles)


def progress_display(console: Console, total: int | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.fields[total_text]} frames"),
        TextColumn("{task.fields[fps]}"),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[psnr]}"),
        console=console,
        transient=True,
        disable=console.quiet,
    )


def enhance_file(src: Path, dst: Path, options: EnhanceOptions, console: Console | None = None) -> RunStats:
    """Enhance one video file; returns what ran (frames, time, per-frame metrics)."""
    console = console or Console(stderr=True, quiet=True)
    check_paths(src, dst, options.overwrite)
    fields = LOG_FIELDS + (REFERENCE_FIELDS if options.reference else [])
    with ExitStack() as cleanup:
        log = cleanup.enter_context(closing(FrameLog(options.log, fields)))
        source = cleanup.enter_context(closing(VideoSource(src)))
        info = source.info
        reference = _open_reference(options, info.width * options.scale, info.height * options.scale)
        if reference:
            cleanup.enter_context(closing(reference))
        restorer, weights = make_restorer(
            options.weights, options.units, options.device, options.precision, options.tiling
        )
        tmp = partial_path(dst)
        cleanup.callback(tmp.unlink, missing_ok=True)  # still there only when the run failed
        try:
            tmp.open("wb").close()  # fail now, not after the first batch, if the folder is not writable
        except OSError as e:
            raise UserError(f"{dst}: cannot write ({e.strerror})") from None
        sink = VideoSink(tmp, info, options.scale, source.passthrough, options.encode, notice=_printer(console))
        _printer(console)(
            f"{src.name}: {info.width}x{info.height} {info.source_pix_fmt} -> {sink.width}x{sink.height} "
            f"{sink.pix_fmt}; DRRN {describe(weights)} on {restorer.device} in {restorer.precision}, "
            + (
                "whole frames"
                if options.tiling.tile is None
                else f"tiles {options.tiling.tile} + halo {options.tiling.halo}"
            )
        )
        enhancer = LumaEnhancer(restorer, options.scale, keep_bicubic=reference is not None)
        batch = frames_per_batch(sink.width, sink.height, options.tiling)
        pipeline = Pipeline(source, enhancer, sink, log, batch, reference=reference, queue_frames=options.queue_frames)
        try:
            with progress_display(console, info.frames) as progress:
                pipeline.on_frame = _progress_updater(progress, info.frames)
                stats = pipeline.run()
        except BaseException:
            with suppress(Exception):  # the run's own error is the one to report
                sink.close()
            raise
        try:
            sink.close()
        except av.FFmpegError as e:
            raise UserError(f"{dst}: encoding failed ({e.strerror or type(e).__name__})") from None
        if stats.frames == 0:
            raise UserError(f"{dst}: not written, no frame was finished")
        os.replace(tmp, dst)
    _print_summary(console, dst, stats)
    return stats


def _printer(console: Console) -> Callable[[str], None]:
    """Plain lines on the console: file names must not be read as rich markup."""
    return lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)


def _progress_updater(progress: Progress, total: int | None) -> Callable[[Frame, FrameLog], None]:
    task = progress.add_task("enhancing", total=total, total_text=str(total or "?"), fps="", psnr="")

    def on_frame(frame: Frame, log: FrameLog) -> None:
        speed = progress.tasks[0].speed
        progress.update(
            task, advance=1, fps=f"{speed:.2f} fps" if speed else "",
            psnr=f"PSNR vs bicubic {log.mean('psnr_vs_bicubic'):.2f} dB",
        )  # fmt: skip

    return on_frame


def _open_reference(options: EnhanceOptions, width: int, height: int) -> VideoSource | None:
    if options.reference is None:
        return None
    reference = VideoSource(options.reference)
    if (reference.info.width, reference.info.height) != (width, height):
        reference.close()
        raise UserError(
            f"{options.reference}: is {reference.info.width}x{reference.info.height}, the output is {width}x{height}"
        )
    return reference


def _print_summary(console: Console, dst: Path, stats: RunStats) -> None:
    log = stats.log
    assert log is not None
    lead = "interrupted: kept" if stats.interrupted else "wrote"
    worst = log.mins.get("psnr_vs_bicubic", math.nan)
    lines = [
        f"{lead} {dst} ({stats.frames} frames in {stats.seconds:.1f} s, {stats.fps:.2f} fps)",
        f"PSNR vs bicubic: mean {log.mean('psnr_vs_bicubic'):.2f} dB, min {worst:.2f} dB",
    ]
    if "psnr_ref" in log.sums:
        lines.append(
            f"against the reference: DRRN {log.mean('psnr_ref'):.2f} dB / SSIM {log.mean('ssim_ref'):.4f} "
            f"(min {log.mins['psnr_ref']:.2f} dB), bicubic {log.mean('psnr_ref_bicubic'):.2f} dB / "
            f"SSIM {log.mean('ssim_ref_bicubic'):.4f}"
        )
    for line in lines:
        _printer(console)(line)
