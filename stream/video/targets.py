"""Where `enhance` writes: a named file (grown beside itself, renamed when complete) or stdout."""

from __future__ import annotations

import fcntl
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import av

from stream.errors import UserError
from stream.files import (
    PICTURE_SUFFIXES,
    check_folder,
    free_name,
    is_numbered,
    link_target,
    numbered_files,
    numbered_name,
    partial_path,
    writes_animated_png,
)
from stream.video.pipe_ends import PipeEnd, named_pipe, stdout

STDIO = "-"  # read stdin / write stdout
PIPE_DEFAULT_FORMAT = "matroska"
MP4_FAMILY = {"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "f4v", "psp"}  # FFmpeg's muxers of ISO BMFF (movenc)
# MP4 and MOV on a pipe, which cannot be sought back in to write the index at the end: fragmented, the index
# first and each fragment's own before it, as ffmpeg must be told (-movflags frag_keyframe+empty_moov)
FRAGMENTED = {"movflags": "+frag_keyframe+empty_moov+default_base_moof"}


def written_extensions() -> set[str]:
    """Every file extension some muxer of this PyAV build writes (mp4, mkv, webm, png, ...)."""
    extensions = set()
    for name in av.formats_available:
        try:
            extensions |= av.ContainerFormat(name, "w").extensions
        except ValueError:  # a demuxer only
            continue
    return extensions


def writes(format: str) -> bool:
    """Whether this PyAV build has a muxer of this name."""
    try:
        av.ContainerFormat(format, "w")
    except ValueError:
        return False
    return True


def check_output(dst: Path, overwrite: bool, format: str | None = None) -> None:
    """Before any model time: a container known from the name (unless `format` names it), an
    existing output replaced only with -y, into a folder that exists."""
    if format is None and dst.suffix.lower().lstrip(".") not in written_extensions():
        raise UserError(f"{dst}: cannot tell the container format from the name; give --output-format")
    if format is not None and not writes(format):
        raise UserError(f"{dst}: cannot write (no container format {format!r})")  # as the input's is said
    check_target(dst, overwrite)


def check_not_input(src: str | Path, dst: Path) -> None:
    """An output that is its input (by another name, a link) is refused, -y or not."""
    if str(src) != STDIO and Path(src).exists() and dst.exists() and os.path.samefile(src, dst):
        raise UserError(f"{dst}: the output would overwrite the input")


def check_target(dst: Path, overwrite: bool) -> None:
    """An existing output replaced only with -y (never a folder), into a folder that exists."""
    if dst.is_dir():
        raise UserError(f"{dst}: is a folder")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    check_folder(dst.parent)


class FileTarget:
    """A named output, written beside itself and renamed at the end, so a failed run never
    clobbers an existing file."""

    def __init__(self, src: str, dst: str, overwrite: bool, format: str | None) -> None:
        self.dst, self.format = Path(dst), format
        check_not_input(src, self.dst)
        if self.dst.is_dir():
            raise UserError(f"{dst}: is a folder")
        check_output(self.dst, overwrite, format)
        # As ffmpeg writes them: a link's target is replaced (the link kept), a device or FIFO (/dev/null, a pipe
        # by name) written as it is; -y had replaced either with a file of its own, /dev/null too (as root)
        # (by the link's own: /dev/stdout on a pipe resolves to /proc/PID/fd/pipe:[N], a name nothing is at)
        self.special = self.dst.exists() and not self.dst.is_file()  # (a folder is refused above)
        self.written = link_target(self.dst) if self.dst.is_symlink() and not self.special else self.dst
        self.tmp = self.written if self.special else partial_path(self.written)
        self._held: int | None = None  # the partial file, open and locked while this run writes it
        self.recovered: Path | None = None  # where open(keep_leftover=True) put what a killed run left
        self._pipe: PipeEnd | None = None  # where the output is a pipe by name

    def open(self, keep_leftover: bool = False) -> Path | PipeEnd:
        """Where to write: the partial file, emptied, and locked against a second run onto the same output (which
        had emptied it under the first, and had its own result replaced by the first's, or removed). With
        `keep_leftover`, one a run killed outright left (no run holds it) is first put beside the output as
        `recovered`: a live recording cannot be made again, as an enhanced file can."""
        if self.special:  # a pipe by name is written as stdout is; a device (/dev/null) by FFmpeg
            if self.written.is_fifo():
                pipe = named_pipe(self.written, writing=True)
                self._locked(pipe.fileno(), pipe.close)  # two runs' streams had been spliced into one reader
                self._pipe = pipe
                return pipe
            return self.tmp
        if self._held is None:
            try:  # fails now, not after the first batch, if the folder is not writable
                held = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as e:
                raise UserError(f"{self.dst}: cannot write ({e.strerror})") from None
            self._locked(held, lambda: os.close(held))
            if keep_leftover and os.fstat(held).st_size:
                self.recovered = free_name(self.written, "recovered")
                os.rename(self.tmp, self.recovered)  # (still held: no run writes it)
                os.close(held)
                return self.open()
            self._held = held
        os.ftruncate(self._held, 0)
        return self.tmp

    def _locked(self, fd: int, let_go: Callable[[], None]) -> None:
        """`fd` locked for this run, or let go and refused where another run holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            let_go()
            raise UserError(f"{self.dst}: another run is writing it now") from None

    @property
    def is_pipe(self) -> bool:
        """A pipe by name: a reader that goes away ends the run as stdout's does."""
        return self._pipe is not None

    def commit(self) -> None:
        if not self.special:
            os.replace(self.tmp, self.written)
        self._let_go()

    def discard(self) -> None:
        """The partial file removed, where this run wrote it (not where another run holds it)."""
        if self._held is not None:
            self.tmp.unlink(missing_ok=True)
        self._let_go()

    def _let_go(self) -> None:
        if self._held is not None:
            os.close(self._held)
            self._held = None
        if self._pipe is not None:
            self._pipe.close()


class PipeTarget:
    """stdout: the stream goes out as it is made, in a container that needs no seeking."""

    def __init__(self, format: str | None) -> None:
        self.dst, self.format = "stdout", format or PIPE_DEFAULT_FORMAT
        if not writes(self.format):
            raise UserError(f"stdout: cannot write (no container format {self.format!r})")
        if os.isatty(1):
            raise UserError("stdout is a terminal; redirect it to a file or a pipe")
        self.stream = stdout()

    is_pipe = True  # a reader that goes away ends the run quietly

    def open(self) -> BinaryIO | PipeEnd:
        return self.stream

    def commit(self) -> None:
        self.stream.flush()
        self.discard()

    def discard(self) -> None:
        if isinstance(self.stream, PipeEnd):
            self.stream.close()  # (what it opened of its own; stdout stays open)


class PicturesTarget(FileTarget):
    """frames_%05d.png: the image2 muxer writes a whole picture per frame, numbered from 1;
    there is nothing to rename, and the pictures done are kept whatever stops the run."""

    def __init__(self, src: str, dst: str, overwrite: bool, format: str | None) -> None:
        first = numbered_name(Path(dst), 1)
        pictures = "image2" if Path(dst).suffix.lower() in PICTURE_SUFFIXES else None  # FFmpeg knows no .jfif
        found = [p for _, p in numbered_files(Path(dst))]
        if folders := [p for p in found if p.is_dir()]:  # image2 wrote past it: frames lost unsaid, exit 0
            raise UserError(f"{folders[0]}: is a folder")  # (-y cannot replace one: never offered)
        if found and not overwrite:  # not only the first: with it
            more = f" (and {len(found) - 1} more)" if found[1:] else ""  # gone, the others were replaced unasked
            raise UserError(f"{found[0]}: exists{more}; pass -y to replace {'them' if more else 'it'}")
        super().__init__(src, str(first), overwrite, format or pictures)
        self.dst = self.tmp = Path(dst)

    def open(self) -> Path:
        if not os.access(self.dst.parent, os.W_OK):
            raise UserError(f"{self.dst.parent}: cannot write there")
        return self.dst

    def commit(self) -> None:
        pass

    def discard(self) -> None:
        """A failed run keeps the pictures done; the one it was writing (image2 writes each as NAME.tmp, then
        renames it: a full disk had left a cut picture under its own name) goes."""
        for n in itertools.count(1):
            picture = numbered_name(self.dst, n)
            cut = picture.with_name(f"{picture.name}.tmp")
            if cut.exists():
                cut.unlink()
            elif not picture.exists():
                return


def open_target(src: str, dst: str, overwrite: bool, format: str | None) -> FileTarget | PipeTarget:
    """The output `dst` names, checked before any model time: "-" is stdout."""
    if dst == STDIO:
        return PipeTarget(format)
    if format is None and writes_animated_png(src, dst):
        format = "apng"  # not image2, which the name says: one picture
    return (PicturesTarget if is_numbered(dst) else FileTarget)(src, dst, overwrite, format)
