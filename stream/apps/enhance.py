"""`drrn-stream IN OUT`, decided in one place for the CLI and the Python API alike: pictures go
through the frame API, a folder file by file, a chunked run through stream.chunked, anything else
through the pipeline as one run."""

from __future__ import annotations

import shutil
import signal
import tempfile
from contextlib import closing, nullcontext
from pathlib import Path
from typing import BinaryIO

from rich.console import Console

from stream.apps.folder import enhance_folder
from stream.apps.stills import pictures
from stream.chunked.run import Chunking, enhance_chunked
from stream.console import console_for
from stream.errors import Interrupted, UserError
from stream.files import (
    HEAD_BYTES,
    HEIF_SUFFIXES,
    check_input,
    is_numbered,
    is_picture,
    suffix_by_content,
    writes_animated_png,
)
from stream.picture_io import HEIC_SUFFIXES
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.log import check_log_name
from stream.video.pipe_ends import PipeEnd, named_pipe, stdin
from stream.video.pipeline import RunStats
from stream.video.source import holds_one_frame
from stream.video.targets import STDIO


def enhance(
    src: str | Path, dst: str | Path, options: EnhanceOptions | None = None, chunking: Chunking | None = None,
    resume: bool = False,
) -> RunStats | None:  # fmt: skip
    """`drrn-stream IN OUT` from Python (the API's `stream.enhance`): run(), quiet. A stop signal in it (Ctrl-C,
    SIGTERM) ends the run as the CLI ends it, its output kept playable, and is then raised as Python raises it:
    KeyboardInterrupt for Ctrl-C, SystemExit(128 + N) for the others. (One video's run had returned its stats, a
    caller's loop going on to the next file; a folder's raised an exception of this package's, a picture's
    KeyboardInterrupt.)"""
    for name, value, kind in (("options", options, EnhanceOptions), ("chunking", chunking, Chunking)):
        if not isinstance(value, kind | None):  # a dict failed deep in, as an AttributeError
            raise TypeError(f"{name}={value!r}: expected {kind.__name__}(...), or None")
    try:
        stats = run(src, dst, options, chunking, resume=resume)
    except Interrupted as e:
        raise stopped(e.signum) from None
    if stats is not None and stats.interrupted:
        raise stopped(stats.signal)
    return stats


def stopped(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)


def run(
    src: str | Path, dst: str | Path, options: EnhanceOptions | None = None, chunking: Chunking | None = None,
    console: Console | None = None, resume: bool = False,
) -> RunStats | None:  # fmt: skip
    """Enhance a video, a picture, a numbered sequence of pictures or a folder of them (src "-":
    stdin, dst "-": stdout). -> what a whole run did (frames, time, damage, signal); None for
    pictures, folders and chunked runs, which report as they go. `resume`: a folder's run that stopped goes on
    (a chunked run's resume is the chunking's)."""
    src, dst, console = str(src), str(dst), console or console_for(quiet=True)
    check_input(src)  # "" is the current folder: it ran every file there into a folder named as the output
    if dst.endswith("/") and not Path(src).is_dir():  # out.mkv/ wrote a file out.mkv; out/ said "out: cannot tell"
        example = f"{dst}out{Path(src).suffix.lower() or '.mkv'}"
        raise UserError(f"{dst}: a folder's name (it ends in /); name the output file in it, e.g. {example}")
    options = options or EnhanceOptions()  # the CLI's defaults
    check_rate(src, dst, options, chunking)
    check_log_name(options.log, options.overwrite)
    if Path(src).is_dir():
        enhance_folder(Path(src), Path(dst), options, chunking is not None, console, resume)
        return None
    picture_in, picture_out = is_picture(src), is_picture(dst)  # by name, and for some names by content
    if picture_in and picture_out and chunking is None:
        check_picture_options(dst, options)
        pictures(src, dst, options, console)
        return None
    if picture_in and Path(src).suffix.lower() in HEIF_SUFFIXES:  # FFmpeg reads a photo's tiles, not it
        raise UserError(f"{src}: a HEIF or AVIF photo in makes a picture out (.png, .jpg, .heic, .avif, ...)")
    animated = Path(dst).suffix.lower() in (".webp", ".avif") or writes_animated_png(src, dst)  # pictures that move
    one_picture = picture_out and not is_numbered(dst) and not animated
    named = options.input_format  # a picture pipe's demuxer (png_pipe) names what the bytes say
    if one_picture and (named is None or named.endswith("_pipe")) and (pipe := pipe_in(src)) is not None:
        with closing(pipe) if isinstance(pipe, PipeEnd) and pipe.owned else nullcontext():
            if (suffix := picture_suffix(pipe)) is None:
                raise many_pictures(dst)  # a pipe is read once: a video in it is not judged by its frames
            with tempfile.TemporaryDirectory(prefix="drrn-stream-") as folder:  # read as a picture file is
                spooled = Path(folder) / f"picture{suffix}"
                with spooled.open("wb") as file:
                    shutil.copyfileobj(pipe, file)
                if is_picture(spooled) and chunking is None:
                    check_picture_options(dst, options)
                    pictures(str(spooled), dst, options, console, shown="<stdin>" if src == STDIO else src)
                    return None
                return run(spooled, dst, options, chunking, console)  # a GIF: a video of one frame
    if Path(dst).suffix.lower() in HEIC_SUFFIXES:  # libheif writes pictures; FFmpeg writes no HEIC
        raise UserError(f"{dst}: HEIC is written from a picture in; a video's or a GIF's frames make .png, .jpg, .webp "
                        "or .avif")  # fmt: skip
    if one_picture and options.deinterlace == "field":  # it failed after the model: "encoding failed"
        raise UserError(f"{dst}: --deinterlace field makes two frames of each: number the pictures, e.g. "
                        f"frames_%05d{Path(dst).suffix}")  # fmt: skip
    if one_picture and not holds_one_frame(src, options.input_format, options.stream, options.demuxer):
        raise many_pictures(dst)
    if chunking is not None:
        enhance_chunked(src, dst, options, chunking, console)
        return None
    return enhance_file(src, dst, options, console)


def many_pictures(dst: str) -> UserError:
    return UserError(f"{dst}: a video makes many pictures: number them, e.g. frames_%05d{Path(dst).suffix}, "
                     "or make an animation (.gif, .apng, .webp)")  # fmt: skip


def pipe_in(src: str) -> BinaryIO | PipeEnd | None:
    """stdin, or a pipe by name (opened here: a picture in it is told by its first bytes), or None for a file."""
    if src == STDIO:
        return stdin()
    return named_pipe(Path(src)) if Path(src).is_fifo() else None


def picture_suffix(pipe: BinaryIO | PipeEnd) -> str | None:
    """The suffix of the picture a pipe begins with (peeked, nothing read), or None where it holds something else."""
    return suffix_by_content(pipe.peek(HEAD_BYTES)[:HEAD_BYTES])


def check_picture_options(dst: str, options: EnhanceOptions) -> None:
    """What is for videos alone, refused for pictures in and out rather than silently ignored (as --fps is):
    `--start 0.08 --duration 0.08` made every picture of a sequence, `--codec libx265` a PNG."""
    encode = options.encode
    given = {"--start": options.start != 0, "--duration": options.duration is not None,
             "--stream": options.stream is not None, "--codec": encode.codec is not None,
             "--crf": encode.crf is not None, "--preset": encode.preset is not None,
             "--deinterlace": options.deinterlace not in ("auto", "off")}  # fmt: skip
    if flags := [flag for flag, on in given.items() if on]:
        raise UserError(f"{dst}: pictures out take no {', '.join(flags)} (they are for videos)")


def check_rate(src: str, dst: str, options: EnhanceOptions, chunking: Chunking | None) -> None:
    """--fps is the rate of numbered pictures made into a video: a video in has its own rate and
    pictures out have none, so it is refused there rather than silently ignored."""
    if options.fps is None:
        return
    if not (is_picture(src) and is_numbered(src)):
        raise UserError(f"{src}: --fps is for numbered pictures in (frames_%05d.png); a video keeps its own rate")
    if is_picture(dst):
        raise UserError(f"{dst}: --fps is the rate of a video made of pictures; pictures out have none")
    if chunking is not None:
        raise UserError("--fps: numbered pictures are enhanced in one run; leave out --chunk-seconds")
