"""`drrn-stream IN OUT`: set up the pipeline for one file, run it, and write the output safely.

The output is written to a temporary file beside it and renamed at the end, so an existing
file is never clobbered by a failed run; after Ctrl-C the frames done are kept.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from kernels.inference import Precision
from kernels.tiling import Tiling
from kernels.weights import describe
from stream.errors import UserError
from stream.files import partial_path
from stream.restorer import make_restorer
from stream.video.frames import Frame
from stream.video.log import FrameLog
from stream.video.pipeline import Pipeline, RunStats
from stream.video.processor import LumaEnhancer
from stream.video.sink import EncodeOptions, VideoSink
from stream.video.source import VideoSource


@dataclass(frozen=True)
class EnhanceOptions:
    scale: int = 2  # 1 sharpens in place; 2..4 upscale the luma bicubically, then restore it
    weights: Path | None = None  # None: the shipped weights
    units: int | None = None  # None: as many recursive units as the weights were trained with
    device: str = "auto"
    precision: Precision = "auto"
    tile: int | None = None  # None: the device's default (CPU 512, CUDA 256); 0: whole frames
    halo: int = Tiling.halo
    batch: int | None = None  # tiles per forward pass; None: the device's default
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    log: Path | None = None
    reference: Path | None = None  # a video of the output's size to score against
    overwrite: bool = False
    input_format: str | None = None  # None: probe the input
    output_format: str | None = None  # None: from the output's name (matroska on a pipe)
    queue_frames: int = 8  # frames between stages: bounds memory, hides I/O jitter


LOG_FIELDS = ["frame", "pts_time", "model_ms", "psnr_vs_bicubic"]
REFERENCE_FIELDS = ["psnr_ref", "ssim_ref", "psnr_ref_bicubic", "ssim_ref_bicubic"]


STDIO = "-"  # read stdin / write stdout
PIPE_DEFAULT_FORMAT = "matroska"
# Muxers that seek back to finish the file (mp4's index): impossible on a pipe.
SEEKING_FORMATS = {"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "f4v", "psp", "mov,mp4,m4a,3gp,3g2,mj2"}


class FileTarget:
    """A named output, written beside itself and renamed at the end, so a failed run never
    clobbers an existing file."""

    def __init__(self, src: str, dst: str, overwrite: bool, format: str | None) -> None:
        self.dst, self.format = Path(dst), format
        if src != STDIO and Path(src).exists() and self.dst.exists() and os.path.samefile(src, self.dst):
            raise UserError(f"{dst}: the output would overwrite the input")
        if self.dst.is_dir():
            raise UserError(f"{dst}: is a folder")
        if self.dst.exists() and not overwrite:
            raise UserError(f"{dst}: exists; pass -y to replace it")
        if not self.dst.parent.is_dir():
            raise UserError(f"{self.dst.parent}: no such folder")
        self.tmp = partial_path(self.dst)

    def open(self) -> Path:
        try:
            self.tmp.open("wb").close()  # fail now, not after the first batch, if the folder is not writable
        except OSError as e:
            raise UserError(f"{self.dst}: cannot write ({e.strerror})") from None
        return self.tmp

    def commit(self) -> None:
        os.replace(self.tmp, self.dst)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


class PipeTarget:
    """stdout: the stream goes out as it is made, in a container that needs no seeking."""

    def __init__(self, format: str | None) -> None:
        self.dst, self.format = "stdout", format or PIPE_DEFAULT_FORMAT
        if self.format in SEEKING_FORMATS:
            raise UserError(f"{self.format} cannot be written to a pipe (it seeks back); use matroska, nut or mpegts")
        if sys.stdout.isatty():
            raise UserError("stdout is a terminal; redirect it to a file or a pipe")

    def open(self) -> BinaryIO:
        return sys.stdout.buffer

    def commit(self) -> None:
        sys.stdout.buffer.flush()

    def discard(self) -> None:
        pass


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


def enhance_file(src: str | Path, dst: str | Path, options: EnhanceOptions, console: Console | None = None) -> RunStats:
    """Enhance one video (a file, or "-" for stdin/stdout); returns what ran (frames, time, metrics)."""
    console = console or Console(stderr=True, quiet=True)
    src, dst = str(src), str(dst)
    target: FileTarget | PipeTarget = (
        PipeTarget(options.output_format)
        if dst == STDIO
        else FileTarget(src, dst, options.overwrite, options.output_format)
    )
    fields = LOG_FIELDS + (REFERENCE_FIELDS if options.reference else [])
    with ExitStack() as cleanup:
        log = cleanup.enter_context(closing(FrameLog(options.log, fields)))
        source_file = sys.stdin.buffer if src == STDIO else Path(src)
        source = cleanup.enter_context(closing(VideoSource(source_file, options.input_format)))
        info = source.info
        reference = _open_reference(options, info.width * options.scale, info.height * options.scale)
        if reference:
            cleanup.enter_context(closing(reference))
        restorer, weights = make_restorer(
            options.weights, options.units, options.device, options.precision, options.tile, options.halo, options.batch
        )
        cleanup.callback(target.discard)  # a no-op once committed
        sink = VideoSink(
            target.open(), info, options.scale, source.passthrough, options.encode,
            format=target.format, notice=_printer(console),
        )  # fmt: skip
        tiling = restorer.tiling
        _printer(console)(
            f"{source.name}: {info.width}x{info.height} {info.source_pix_fmt} -> {sink.width}x{sink.height} "
            f"{sink.pix_fmt}; DRRN {describe(weights)} on {restorer.device} in {restorer.precision}, " + str(tiling)
        )
        enhancer = LumaEnhancer(restorer, options.scale, keep_bicubic=reference is not None)
        batch = frames_per_batch(sink.width, sink.height, tiling)
        pipeline = Pipeline(source, enhancer, sink, log, batch, reference=reference, queue_frames=options.queue_frames)
        try:
            with progress_display(console, info.frames) as progress:
                pipeline.on_frame = _progress_updater(progress, info.frames)
                stats = pipeline.run()
        except BrokenPipeError:
            if not isinstance(target, PipeTarget):
                raise
            with suppress(Exception):
                sink.close()
            return RunStats(frames=sink.frames_written, reader_closed=True, log=log)
        except BaseException:
            with suppress(Exception):  # the run's own error is the one to report
                sink.close()
            raise
        drain_start = time.perf_counter()
        try:
            sink.close()
        except av.FFmpegError as e:
            raise UserError(f"{target.dst}: encoding failed ({e.strerror or type(e).__name__})") from None
        drained = time.perf_counter() - drain_start  # the frames in the encoder's lookahead are encoded here
        stats.seconds += drained
        stats.busy["encode"] = stats.busy.get("encode", 0.0) + drained
        if stats.frames == 0:
            raise UserError(f"{target.dst}: not written, no frame was finished")
        target.commit()  # what decoded is playable and kept, even when the input was damaged
    _print_summary(console, target.dst, stats)
    if source.errors.count:
        raise UserError(
            f"{source.name}: truncated or corrupt input ({source.errors.count} decoder errors, first: "
            f"{source.errors.first!r}); {target.dst} has the {stats.frames} frames that decoded"
        )
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


def _print_summary(console: Console, dst: Path | str, stats: RunStats) -> None:
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
