"""`drrn-stream IN OUT`, decided in one place for the CLI and the Python API alike: pictures go
through the frame API, a folder file by file, a chunked run through stream.chunked, anything else
through the pipeline as one run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from stream.apps.folder import enhance_folder
from stream.apps.stills import pictures
from stream.chunked.run import Chunking, enhance_chunked
from stream.console import console_for
from stream.errors import UserError
from stream.files import HEIF_SUFFIXES, is_numbered, is_picture, writes_animated_png
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.pipe_ends import stdin
from stream.video.pipeline import RunStats
from stream.video.source import holds_one_frame
from stream.video.targets import STDIO


def enhance(
    src: str | Path, dst: str | Path, options: EnhanceOptions | None = None, chunking: Chunking | None = None,
    console: Console | None = None,
) -> RunStats | None:  # fmt: skip
    """Enhance a video, a picture, a numbered sequence of pictures or a folder of them (src "-":
    stdin, dst "-": stdout). -> what a whole run did (frames, time, damage, signal); None for
    pictures, folders and chunked runs, which report as they go."""
    src, dst, console = str(src), str(dst), console or console_for(quiet=True)
    options = options or EnhanceOptions()  # the CLI's defaults
    check_rate(src, dst, options, chunking)
    if Path(src).is_dir():
        enhance_folder(Path(src), Path(dst), options, chunking is not None, console)
        return None
    picture_in, picture_out = is_picture(src), is_picture(dst)  # by name, and for some names by content
    if picture_in and picture_out and chunking is None:
        pictures(src, dst, options, console)
        return None
    if picture_in and Path(src).suffix.lower() in HEIF_SUFFIXES:  # FFmpeg reads a photo's tiles, not it
        raise UserError(f"{src}: a HEIF or AVIF photo in makes a picture out (.png, .jpg, .heic, .avif, ...)")
    animated = Path(dst).suffix.lower() in (".webp", ".avif") or writes_animated_png(src, dst)  # pictures that move
    one_picture = picture_out and not is_numbered(dst) and not animated
    named = options.input_format  # a picture pipe's demuxer (png_pipe) names what the bytes say
    if one_picture and src == STDIO and (named is None or named.endswith("_pipe")) and (suffix := stdin_picture()):
        with tempfile.TemporaryDirectory(prefix="drrn-stream-") as folder:  # read as a picture file is
            spooled = Path(folder) / f"stdin{suffix}"
            with spooled.open("wb") as file:
                shutil.copyfileobj(stdin(), file)
            if is_picture(spooled) and chunking is None:
                pictures(str(spooled), dst, options, console, shown="<stdin>")
                return None
            return enhance(spooled, dst, options, chunking, console)  # a GIF: a video of one frame
    if one_picture and not holds_one_frame(src, options.input_format, options.stream, options.demuxer):
        raise UserError(f"{dst}: a video makes many pictures: number them, e.g. frames_%05d{Path(dst).suffix}, "
                        "or make an animation (.gif, .apng, .webp)")  # fmt: skip
    if chunking is not None:
        enhance_chunked(src, dst, options, chunking, console)
        return None
    return enhance_file(src, dst, options, console)


# How a picture's file begins, and the name it is read by: `cat photo.png | drrn-stream - out.png`
PICTURE_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
                 (b"BM", ".bmp"), (b"GIF8", ".gif"))  # fmt: skip
HEIF_BRANDS = {b"heic": ".heic", b"heix": ".heic", b"mif1": ".heic", b"avif": ".avif"}


def stdin_picture() -> str | None:
    """The suffix of the picture stdin begins with (peeked, nothing read), or None where it holds something else."""
    head = stdin().peek(16)[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return HEIF_BRANDS[head[8:12]]
    return next((suffix for magic, suffix in PICTURE_MAGIC if head.startswith(magic)), None)


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
