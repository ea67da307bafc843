"""`drrn-stream enhance` (also `drrn-stream IN OUT`): one video through the pipeline."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import typer

from stream.cli.options import (
    HALO,
    BatchOpt,
    ContentOpt,
    DeviceOpt,
    HaloOpt,
    PrecisionOpt,
    TileOpt,
    UnitsOpt,
    WeightsOpt,
    model_choice,
)
from stream.console import console_for, say, to_devnull
from stream.errors import UserError
from stream.files import check_input
from stream.video.deinterlace import Deinterlace

Src = Annotated[
    str,
    typer.Argument(metavar="IN", help="Input video, picture, numbered pictures (f_%05d.png) or folder; - for stdin."),
]
Dst = Annotated[
    str,
    typer.Argument(metavar="OUT", help="Output video (container from its name), picture(s) or folder; - for stdout."),
]
ScaleOpt = Annotated[int, typer.Option("--scale", min=1, max=4, help="1 sharpens in place; 2-4 upscale.")]
CodecOpt = Annotated[
    str | None,
    typer.Option("--codec", help="Encoder; default libx264 (libx265 10-bit for HDR) or what the container needs."),
]
CrfOpt = Annotated[
    int | None,
    typer.Option(
        "--crf", min=0, max=63,
        help="Encoder quality, lower is better: the CRF of x264 and x265 (0-51), libvpx and the AV1 encoders; for "
        "the MPEG family (mpeg2video, mpeg4, ...) the fixed quantiser that codes alike (18: q 1, 33: q 8). Default 18.",
    ),
]  # fmt: skip
X26X_PRESETS = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"
]
PresetOpt = Annotated[
    X26X_PRESETS | None,
    typer.Option("--preset", help="x264/x265 speed preset; default medium, veryfast where the model runs on a GPU."),
]
LogOpt = Annotated[
    Path | None, typer.Option("--log", help="Per-frame (per-picture) metrics, .csv or .jsonl (replaced only with -y).")
]
ReferenceOpt = Annotated[
    Path | None, typer.Option("--reference", help="A video or picture of the output's size to score PSNR/SSIM against.")
]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing output.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary, only errors.")]
InputFormatOpt = Annotated[
    str | None, typer.Option("--input-format", help="Input container (e.g. nut, matroska, mpegts, yuv4mpegpipe).")
]
StreamOpt = Annotated[
    int | None,
    typer.Option(
        "--stream", min=0, help="Enhance stream N (ffprobe's numbering); default: the first video, not cover art."
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 1) on damaged input instead of decoding past it; frames kept.")
]
ChunkSecondsOpt = Annotated[
    float | None,
    typer.Option("--chunk-seconds", min=0.001, help="Cut at keyframes into chunks of at least S seconds, each "
                 "kept in a work folder beside the output as it is done: a run that stops goes on with --resume."),
]  # fmt: skip
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Go on with the chunked run, or the folder's run, of this output that stopped.")
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=1, help="Chunks in N worker processes (a GPU each where there are several; "
                      "else the CPU's threads split between them).")
]  # fmt: skip
RayOpt = Annotated[
    str | None,
    typer.Option("--ray", metavar="[ADDRESS]", help="Chunks as Ray tasks, one GPU each where there are GPUs: on the "
                 "cluster at ADDRESS, or alone: RAY_ADDRESS, a cluster started here, or a new local one."),
]  # fmt: skip


def frame_rate(text: str) -> Fraction:
    """--fps: a positive number or fraction (30000/1001, as ffmpeg writes NTSC's rate)."""
    try:
        if (rate := Fraction(text)) > 0:
            return rate
    except (ValueError, ZeroDivisionError):  # not a number; 1/0
        pass
    raise typer.BadParameter(f"{text} is not a positive number or fraction such as 30000/1001")


def time_span(text: str) -> Fraction:
    """--start, --duration: seconds (90, 1.5) or ffmpeg's [HH:]MM:SS[.ms] (1:30, 00:01:30.5)."""
    try:
        parts = [Fraction(part) for part in text.split(":")]
        if len(parts) <= 3 and all(p >= 0 for p in parts):
            return sum((p * 60**i for i, p in enumerate(reversed(parts))), Fraction(0))
    except (ValueError, ZeroDivisionError):
        pass
    raise typer.BadParameter(f"{text} is not a time in seconds (90, 1.5) or [HH:]MM:SS[.ms] (1:30, 00:01:30.5)")


StartOpt = Annotated[
    Fraction | None,
    typer.Option("--start", parser=time_span, metavar="TIME", help="Begin this far into the input (seconds or "
                 "[HH:]MM:SS[.ms]): with --duration, a part to try settings on before the whole."),
]  # fmt: skip


def time_length(text: str) -> Fraction:
    """--duration: a time_span more than none (0 was said as "no frame from 0 s on", blaming the start)."""
    if (span := time_span(text)) == 0:
        raise typer.BadParameter(f"{text} is no time: give more than 0")
    return span


DurationOpt = Annotated[
    Fraction | None,
    typer.Option("--duration", parser=time_length, metavar="TIME", help="Only this much of the input (seconds or "
                 "[HH:]MM:SS[.ms])."),
]  # fmt: skip
FpsOpt = Annotated[
    Fraction | None,
    typer.Option("--fps", parser=frame_rate, metavar="RATE", help="Numbered pictures in: their frame rate as a video "
                 "(25, 29.97, 30000/1001); default 25."),
]  # fmt: skip
DeinterlaceOpt = Annotated[
    Deinterlace,
    typer.Option("--deinterlace", help="Interlaced input (DVD, broadcast, 1080i) made progressive by FFmpeg's bwdif "
                 "first, a frame for each frame; auto: the frames its decoder flags interlaced; on: every frame (a "
                 "file flagged wrongly); field: a frame for each field, at twice the rate (motion as shot, twice "
                 "the work)."),
]  # fmt: skip
OutputFormatOpt = Annotated[
    str | None, typer.Option("--output-format", help="Output container; default from the name, matroska on stdout.")
]


def enhance_command(
    src: Src, dst: Dst, scale: ScaleOpt = 2, weights: WeightsOpt = None, units: UnitsOpt = None,
    device: DeviceOpt = "auto", precision: PrecisionOpt = "auto", tile: TileOpt = None, halo: HaloOpt = HALO,
    batch: BatchOpt = None, codec: CodecOpt = None, crf: CrfOpt = None, preset: PresetOpt = None,
    log: LogOpt = None, reference: ReferenceOpt = None, overwrite: OverwriteOpt = False, quiet: QuietOpt = False,
    input_format: InputFormatOpt = None, output_format: OutputFormatOpt = None, strict: StrictOpt = False,
    stream: StreamOpt = None, chunk_seconds: ChunkSecondsOpt = None, resume: ResumeOpt = False,
    workers: WorkersOpt = 1, ray: RayOpt = None, fps: FpsOpt = None, content: ContentOpt = "auto",
    deinterlace: DeinterlaceOpt = "auto", start: StartOpt = None, duration: DurationOpt = None,
) -> None:  # fmt: skip
    """Enhance a video: DRRN on the luma in tiles, chroma upscaled, audio and subtitles copied."""
    check_input(src)  # before the imports below, which take seconds (torch)
    if not dst:
        raise UserError("the output's name is empty (a file, a folder, or - for stdout)")
    from stream.apps.enhance import run
    from stream.chunked.run import Chunking
    from stream.video.enhance import EnhanceOptions
    from stream.video.sink import EncodeOptions

    folder = Path(src).is_dir()
    if ((resume and not folder) or workers > 1 or ray is not None) and chunk_seconds is None:
        raise UserError(
            "--resume, --workers and --ray are for chunked runs: give --chunk-seconds (the one it was started with)"
        )
    options = EnhanceOptions(
        scale=scale, model=model_choice(weights, units, device, precision, tile, halo, batch, content),
        encode=EncodeOptions(codec=codec, crf=crf, preset=preset), log=log, reference=reference, overwrite=overwrite,
        input_format=input_format, output_format=output_format, strict=strict, stream=stream, fps=fps,
        deinterlace=deinterlace, start=start or Fraction(0), duration=duration,
    )  # fmt: skip
    chunking = None if chunk_seconds is None else Chunking(chunk_seconds, resume, workers, ray)
    stats = run(src, dst, options, chunking, console_for(quiet=quiet), resume=resume and folder)
    if stats is None:
        return
    if stats.damage:
        say(f"warning: {stats.damage}", style="yellow")  # even with --quiet: the output is short of frames
    if stats.reader_closed:
        quiet_stdout()
    if stats.interrupted:
        raise typer.Exit(128 + stats.signal)


def quiet_stdout() -> None:
    """Stdout's reader went away (`| head`): not an error; keep Python's exit-time flush quiet too."""
    to_devnull(sys.stdout)
