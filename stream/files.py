"""File names and writes: pictures and numbered sequences of them, and writing so that a failed
or interrupted write never leaves half a file under the real name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stream.errors import UserError

PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
# What a folder in (`drrn-stream in_dir out_dir`) takes as video: the containers ffmpeg reads and writes by name.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv",
                  ".wmv", ".ogv", ".3gp", ".nut", ".mxf", ".y4m", ".gif", ".apng"}  # fmt: skip
NUMBER = re.compile(r"%0?(\d*)d")  # printf's %d, %05d in a name: a numbered sequence (frames_%05d.png)


def is_picture(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PICTURE_SUFFIXES


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_numbered(path: str | Path) -> bool:
    return bool(NUMBER.search(Path(path).name))


def check_input(src: str | Path) -> None:
    """A named input that is not there: said at once (the CLI asks before importing torch), not
    after seconds of imports. "-" (stdin) and numbered sequences (frames_%05d.png) pass."""
    if str(src) != "-" and not is_numbered(src) and not Path(src).exists():
        raise UserError(f"{src}: no such file")
    if Path(src).is_file():
        check_still_webp(src)


def webp_frames(path: str | Path) -> int:
    """How many frames a WebP file holds (0: not a WebP; 1: a still), from its RIFF chunks (an animation's
    frames are ANMF chunks), without decoding."""
    frames = 0
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
            return 0
        while len(chunk := f.read(8)) == 8:
            frames += chunk[:4] == b"ANMF"
            size = int.from_bytes(chunk[4:], "little")
            f.seek(size + size % 2, 1)  # chunks are padded to an even size
    return max(frames, 1)


def check_still_webp(path: str | Path) -> None:
    """Refuse an animated WebP: FFmpeg's WebP decoder reads none of its frames and OpenCV's imread the
    first alone, so it would fail late or silently lose the rest of the animation."""
    if (frames := webp_frames(path)) > 1:
        raise UserError(f"{path}: an animated WebP ({frames} frames), which FFmpeg's WebP decoder does not read: "
                        "make it a GIF, APNG or video first (libwebp's anim_dump, Pillow)")  # fmt: skip


def partial_path(dst: Path) -> Path:
    """Where `dst` grows until it is complete: hidden, beside it (one file system, so the rename
    is atomic), with its suffix (so muxers and numpy still know the format)."""
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


@contextmanager
def write_atomically(dst: Path) -> Iterator[Path]:
    """Yields the path to write to; it replaces `dst` when the block succeeds and is removed when it fails."""
    tmp = partial_path(dst)
    try:
        yield tmp
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
