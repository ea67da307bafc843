"""`drrn-stream IN OUT`: set up the pipeline for one file, run it, and write the output safely.

The output is written to a temporary file beside it and renamed at the end, so an existing
file is never clobbered by a failed run; after Ctrl-C the frames done are kept.
"""

from __future__ import annotations

import math
import numbers
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, get_args

import av
from rich.console import Console

from kernels.choice import Loaded, ModelChoice, as_ints, expect, whole
from kernels.errors import reason
from kernels.inference import Restores
from kernels.tiling import Tiling
from stream.console import console_for, counted, say, say_notices
from stream.content import for_content, judge_source
from stream.errors import Interrupted, UserError, on_stop_signals
from stream.video.carry import Carried
from stream.video.deinterlace import Deinterlace
from stream.video.frames import FrameSource
from stream.video.log import FrameLog, check_log_name
from stream.video.observers import LOG_FIELDS, REFERENCE_FIELDS, FrameScores, ProgressBar
from stream.video.pipe_ends import stdin
from stream.video.pipeline import Observer, Pipeline, RunStats
from stream.video.processor import LumaEnhancer
from stream.video.sink import EncodeOptions, VideoSink
from stream.video.source import VideoSource
from stream.video.targets import STDIO, FileTarget, PipeTarget, open_target

SCALES = range(1, 5)  # 1 sharpens in place; 2-4 upscale, as DRRN was trained (x2, x3, x4)


@dataclass(frozen=True)
class EnhanceOptions:
    scale: int = 2  # 1 sharpens in place; 2..4 upscale the luma bicubically, then restore it
    model: ModelChoice = field(default_factory=ModelChoice)  # which weights, how deep, where, how
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    log: Path | None = None
    reference: Path | None = None  # a video of the output's size to score against
    overwrite: bool = False
    input_format: str | None = None  # None: probe the input
    output_format: str | None = None  # None: from the output's name (matroska on a pipe)
    queue_frames: int = 8  # frames between stages: bounds memory, hides I/O jitter
    stream: int | None = None  # the input's stream to enhance (ffprobe's numbering); None: the first, not cover art
    strict: bool = False  # damaged input fails the run (exit 1; the frames that decoded are still kept)
    fps: Fraction | None = None  # the rate numbered pictures are read at; None: ffmpeg's 25
    deinterlace: Deinterlace = "auto"  # interlaced frames made progressive first (bwdif), else upscaled combed
    start: Fraction = Fraction(0)  # seconds into the input where the output begins: a part, to try settings on
    duration: Fraction | None = None  # seconds of it; None: to the end

    def __post_init__(self) -> None:
        """The CLI's options check their ranges; the API's callers get the same bounds before any work
        (deinterlace="yes" ran as "off", log="x.csv" failed deep in as an AttributeError)."""
        as_ints(self, "scale", "queue_frames", "stream")
        expect(self, "scale", whole(self.scale, 1) and self.scale in SCALES, "1 (sharpens in place) to 4")
        expect(self, "model", isinstance(self.model, ModelChoice), "a ModelChoice")  # a dict failed deep in
        expect(self, "encode", isinstance(self.encode, EncodeOptions), "an EncodeOptions")
        for name in ("overwrite", "strict"):  # overwrite="no" is true: it replaced an existing output
            expect(self, name, isinstance(getattr(self, name), bool), "True or False")
        for name in ("log", "reference"):  # a path as text, as the CLI's callers and ModelChoice.weights take it
            if isinstance(value := getattr(self, name), str):
                object.__setattr__(self, name, Path(value))
            expect(self, name, getattr(self, name) is None or isinstance(getattr(self, name), Path), "a path, or None")
        for name in ("input_format", "output_format"):
            expect(self, name, getattr(self, name) is None or isinstance(getattr(self, name), str), "a name, or None")
        modes = get_args(Deinterlace)
        expect(self, "deinterlace", self.deinterlace in modes, f"one of {', '.join(modes)}")
        expect(self, "queue_frames", whole(self.queue_frames, 1), "a whole number of frames from 1")
        expect(self, "stream", whole(self.stream, 0, none=True), "a stream's number from 0 (ffprobe's), or None")
        expect(self, "start", is_seconds(self.start), "seconds from 0 (a number)")
        expect(self, "duration", self.duration is None or is_seconds(self.duration, above_zero=True),
               "seconds above 0, or None")  # fmt: skip
        expect(self, "fps", self.fps is None or is_seconds(self.fps, above_zero=True), "a rate above 0, or None")
        for name in ("start", "duration", "fps"):  # exact, as the CLI's: 0.1 is 1/10, not the float's nearest
            if (value := getattr(self, name)) is not None and not isinstance(value, Fraction):
                object.__setattr__(self, name, Fraction(str(value)))

    def decisive(self) -> dict:
        """What decides an output's pixels and packets, as asked, for a run that goes on after a stop (a chunked
        run's, a folder's): it must be given the same (the device aside: a run may go on elsewhere)."""
        model = self.model.record()
        del model["device"]
        return {
            "scale": self.scale, "model": model, "codec": self.encode.codec, "crf": self.encode.quality,
            "preset": self.encode.preset, "stream": self.stream, "deinterlace": self.deinterlace,
        }  # fmt: skip

    @staticmethod
    def changed(before: dict, now: dict) -> list[str]:
        """The names of the decisive options (decisive()) that differ between two runs, the model's by their own
        (--units or --tile changed was said as "model")."""

        def flat(options: dict) -> dict:
            return {k: v for k, v in options.items() if k != "model"} | dict(options.get("model") or {})

        before, now = flat(before), flat(now)
        return sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))

    @property
    def demuxer(self) -> dict[str, str] | None:
        """The input's demuxer options: --fps is image2's framerate (pictures carry no rate)."""
        return None if self.fps is None else {"framerate": str(self.fps)}


def is_seconds(value: object, above_zero: bool = False) -> bool:
    """A finite number (int, float, Fraction; not a bool or text) from 0, or above it."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return value > 0 if above_zero else value >= 0


def frames_per_batch(width: int, height: int, tiling: Tiling) -> int:
    """Frames to restore together so that a batch holds about `tiling.batch` tiles."""
    if tiling.tile is None:
        return tiling.batch
    tiles = math.ceil(width / tiling.tile) * math.ceil(height / tiling.tile)
    return max(1, tiling.batch // tiles)


def restoring_pipeline(
    frames: FrameSource, output: Path | BinaryIO, carried: Carried, restorer: Restores, options: EnhanceOptions,
    observers: list[Observer], format: str | None, notice: Callable[[str], None], keep_bicubic: bool = False,
) -> Pipeline:  # fmt: skip
    """The one way to wire a run: `frames` restored by `restorer` and encoded into `output` with
    the `carried` streams, each written frame shown to the `observers`; whole runs and chunks alike."""
    encode = options.encode.for_model_on(restorer.device.type)
    sink = VideoSink(output, frames.info, options.scale, carried, encode, format=format, notice=notice)
    if frames.info.has_alpha and not sink.keeps_alpha:
        frames.drop_alpha()
    processor = LumaEnhancer(restorer, options.scale, keep_bicubic=keep_bicubic)
    batch = frames_per_batch(sink.width, sink.height, restorer.tiling)
    return Pipeline(frames, processor, sink, batch, observers, queue_frames=options.queue_frames)


def enhance_file(src: str | Path, dst: str | Path, options: EnhanceOptions, console: Console | None = None) -> RunStats:
    """Enhance one video (a file, or "-" for stdin/stdout); returns what ran (frames, time, busy shares)."""
    console = console or console_for(quiet=True)
    src, dst = str(src), str(dst)
    target = open_target(src, dst, options.overwrite, options.output_format)
    check_log_name(options.log)
    with ExitStack() as cleanup:
        source = cleanup.enter_context(
            VideoSource(
                stdin() if src == STDIO else Path(src), options.input_format, options.stream, options.demuxer,
                options.deinterlace, options.start, options.duration,
            )
        )  # fmt: skip
        info = source.info
        reference = open_reference(options, info.width * options.scale, info.height * options.scale)
        if reference is not None:
            cleanup.enter_context(reference)
        model = load_model(for_content(options.model, judge_source(source)), console)
        # opened once the input and the model are there: a run that fails before left an existing log a header alone
        fields = LOG_FIELDS + (REFERENCE_FIELDS if options.reference else [])
        log = cleanup.enter_context(FrameLog(options.log, fields))
        cleanup.callback(target.discard)  # a no-op once committed
        scores = FrameScores(log, info, reference, border=options.scale)
        notices: list[str] = []  # what the output's setup says, after the header that names the run
        pipeline = restoring_pipeline(source, target.open(), source.carried, model.restorer, options, [scores],
                                      target.format, notices.append, keep_bicubic=reference is not None)  # fmt: skip
        sink = pipeline.sink
        say(f"{source.name}: {source.which}{info.width}x{info.height} {info.source_pix_fmt}{source.scan} -> "
            f"{sink.width}x{sink.height} {sink.pix_fmt}; {model.ran}", console)  # fmt: skip
        say_notices(tuple(notices), console)
        stats = run_to_the_end(pipeline, target, ProgressBar(console, info.frames, log))
        if stats.reader_closed:  # a quiet end, unless a second stop signal gave up on a reader that took nothing
            if stats.interrupted:
                say(f"interrupted: {target.dst} cut short ({counted(stats.frames, 'frame')} written)", console)
            return stats
    print_summary(console, target.dst, stats, log)
    if source.interlaced_from is not None:  # the header had said the input was progressive, by its first frame
        say(f"frames flagged interlaced from frame {source.interlaced_from} on: deinterlaced by bwdif", console)
    if source.errors.count:
        stats.damage = damage_report(source, target.dst, stats.frames)
        if options.strict and not stats.interrupted:
            raise UserError(stats.damage)
    if source.ended_at_gap and source.gap:
        missing, later = source.gap
        gap = (f"{missing.name} is missing: the sequence ends before it, as ffmpeg reads it; "
               f"{counted(later, 'picture')} after it left out (renumber them to take them in)")  # fmt: skip
        stats.damage = f"{stats.damage}; {gap}" if stats.damage else f"{source.name}: {gap}"
    return stats


def load_model(choice: ModelChoice, console: Console) -> Loaded:
    """The choice built, what the user should hear about it said."""
    model = choice.load()
    say_notices(model.ran.notices, console)
    return model


def run_to_the_end(pipeline: Pipeline, target: FileTarget | PipeTarget, progress: ProgressBar) -> RunStats:
    """Run the pipeline, then finish the container and put it in place, whatever stopped the run
    (a reader of stdout that went away ends it quietly). From the start to the finished file a
    stop signal stops the run (the pipeline's handler), never the finishing."""
    sink = pipeline.sink
    pipeline.on_stopping = lambda signum: say(
        f"stopping ({signal.Signals(signum).name}): writing the frames done; a second signal stops at once",
        progress.console,
    )  # the frames done may take a while: a batch in the model, a slow reader of stdout
    with on_stop_signals(pipeline.on_signal):
        try:
            try:
                with progress:
                    pipeline.observers.append(progress)
                    stats = pipeline.run()
            except BaseException:
                with suppress(Exception):  # the run's own error is the one to report
                    sink.close()
                raise
            finish(pipeline, target, stats)
        except BrokenPipeError:  # during the run, or as the container was finished
            if not target.is_pipe:
                raise
            return RunStats(frames=sink.frames_written, reader_closed=True, signal=(pipeline.signals or [0])[0])
        except OSError as e:  # stdout on a full disk, /dev/full: "No space left on device", naming nothing
            if e.filename is None and not isinstance(e, av.FFmpegError):  # (whose filename is read-only)
                raise OSError(e.errno, e.strerror, str(target.dst)) from None
            raise
    stats.signal = (pipeline.signals or [0])[0]  # also one that came while the file was finished
    return stats


def finish(pipeline: Pipeline, target: FileTarget | PipeTarget, stats: RunStats) -> None:
    """Drain the encoder, finish the container, and put the output in place: what was restored is
    kept, even after a signal or from damaged input."""
    drain_start = time.perf_counter()
    try:
        pipeline.sink.close()
    except av.FFmpegError as e:
        raise UserError(f"{target.dst}: encoding failed ({reason(e)})") from None
    drained = time.perf_counter() - drain_start  # the frames in the encoder's lookahead are encoded here
    stats.seconds += drained
    stats.busy["encode"] = stats.busy.get("encode", 0.0) + drained
    if stats.frames == 0:
        if pipeline.signals:
            raise Interrupted(pipeline.signals[0])
        raise UserError(f"{target.dst}: not written, no frame was finished")
    target.commit()


def damage_report(source: VideoSource, dst: str | Path, frames: int) -> str:
    """One line on damaged input that was decoded past."""
    errors = source.errors
    lost = f", {counted(errors.frames_lost, 'frame')} lost" if errors.frames_lost else ""
    return (
        f"{source.name}: damaged input, decoded past {counted(errors.count, 'error')}{lost} "
        f"(first: {errors.first}); {dst} has the {counted(frames, 'frame')} that decoded"
    )


def open_reference(options: EnhanceOptions, width: int, height: int) -> VideoSource | None:
    """--reference: a video of the output's size (the same part of it, with --start and --duration),
    or a one-line error."""
    if (path := options.reference) is None:
        return None
    reference = VideoSource(path, start=options.start, duration=options.duration)
    if (reference.info.width, reference.info.height) != (width, height):
        reference.close()
        raise UserError(f"{path}: is {reference.info.width}x{reference.info.height}, the output is {width}x{height}")
    return reference


def print_summary(console: Console, dst: Path | str, stats: RunStats, log: FrameLog) -> None:
    lead = "interrupted: kept" if stats.interrupted else "wrote"
    say(f"{lead} {dst} ({counted(stats.frames, 'frame')} in {stats.seconds:.1f} s, {stats.fps:.2f} fps)", console)
    say(f"PSNR vs bicubic: {log.psnr_vs_bicubic()}", console)
    if against := log.reference_summary():
        say(against, console)
