"""File names and writes: pictures and numbered sequences of them, and writing so that a failed
or interrupted write never leaves half a file under the real name."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from stream.errors import UserError
from stream.heif_boxes import top_boxes
from stream.png_text import chunks as png_chunks
from stream.webp import is_animated_webp

# JPEG's names: .jfif is what browsers on Windows save a downloaded JPEG as
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}
PICTURE_SUFFIXES = {".png", *JPEG_SUFFIXES, ".webp", ".tif", ".tiff", ".bmp"}  # what OpenCV reads (eval, training)
# Pictures of the HEIF family (phones' photos): read by libheif or libavif (stream.picture_io); an image sequence
# under these names (an animated AVIF) is a video.
HEIF_SUFFIXES = {".heic", ".heif", ".avif"}
# What a folder in (`drrn-stream in_dir out_dir`) takes as video: the containers ffmpeg reads and writes by name.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv",
                  ".wmv", ".ogv", ".3gp", ".nut", ".mxf", ".y4m", ".gif", ".apng"}  # fmt: skip
NAME_MAX = 255  # bytes in a file's name, on Linux's file systems and macOS's
# printf's %d or %05d in a picture's name: a numbered sequence (frames_%05d.png). Not a width without the zero
# (spaces in names), which is a URL's escape in a download's name: my%20dog.png, a file, not a pattern
NUMBER = re.compile(r"%(0\d+)?d")


# How a picture's file begins, and the name it is read by: `cat photo.png | drrn-stream - out.png`
PICTURE_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
                 (b"BM", ".bmp"), (b"GIF8", ".gif"))  # fmt: skip
HEIF_BRANDS = {b"heic": ".heic", b"heix": ".heic", b"mif1": ".heic", b"avif": ".avif"}
HEAD_BYTES = 16  # as many as tell them apart
# The names of one kind: a file named by one of them is what its name says where its first bytes say another
SAME_KIND = (JPEG_SUFFIXES, {".tif", ".tiff"}, HEIF_SUFFIXES)  # (HEIF's brands do not always tell HEIC from AVIF)


def suffix_by_content(head: bytes) -> str | None:
    """The suffix of the picture whose file begins with `head` (HEAD_BYTES), or None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return HEIF_BRANDS[head[8:12]]
    return next((suffix for magic, suffix in PICTURE_MAGIC if head.startswith(magic)), None)


def misnamed(path: Path) -> str | None:
    """The suffix of what a picture file is, where its name says another kind (a PNG saved as .jpg, a WebP or an
    AVIF as .png: common among downloads): read by its name, it was judged, checked for damage and turned by
    another format's rules. None where the name is right, or the file is not one of these pictures."""
    try:
        with path.open("rb") as file:
            actual = suffix_by_content(file.read(HEAD_BYTES))
    except OSError:
        return None  # said as the file is read
    named = path.suffix.lower()
    if actual is None or actual == named or any({actual, named} <= kind for kind in SAME_KIND):
        return None
    return actual


def is_picture(path: str | Path) -> bool:
    """By its name; an animation in a picture's name (a file of many frames: WebP, APNG as .png, AVIF) is a video."""
    return Path(path).suffix.lower() in PICTURE_SUFFIXES | HEIF_SUFFIXES and not is_animation(path)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES or is_animation(path)


def is_animation(path: str | Path) -> bool:
    """A .webp, .png or HEIF-family file that holds an animation (read only where the name says one of them)."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix in HEIF_SUFFIXES:
            return is_image_sequence(path)
        return (suffix == ".webp" and is_animated_webp(path)) or (suffix == ".png" and is_animated_png(path))
    except OSError:  # unreadable: a still by its name, which fails where it is read (a folder's other files still run)
        return False


def is_image_sequence(path: str | Path) -> bool:
    """A HEIF-family file (ISO BMFF) that holds a track (a moov box: an animated AVIF, a HEIF sequence), not only
    image items (a still photo: its meta box)."""
    if not Path(path).is_file():
        return False
    with open(path, "rb") as f:
        return any(kind == b"moov" for kind, _, _ in top_boxes(f))


def is_animated_png(path: str | Path) -> bool:
    """An APNG of more than one frame. Browsers animate it under a .png name; OpenCV's imread reads its first frame
    alone."""
    return Path(path).is_file() and (png_animation(path) or (0, 0))[0] > 1


def png_animation(path: str | Path) -> tuple[int, int] | None:
    """An APNG's frames and plays (0: forever), from its acTL chunk before the first picture data (IDAT); None for
    a PNG without one, or what is not a PNG."""
    with open(path, "rb") as f:
        for kind, start, _ in png_chunks(f):
            if kind == b"IDAT":
                break
            if kind == b"acTL":
                f.seek(start + 8)  # its length and type
                data = f.read(8)
                return int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big")
    return None


def writes_animated_png(src: str | Path, dst: str | Path) -> bool:
    """A .png named out of an animated PNG (or APNG) in: written as the APNG it was, not refused as many pictures
    (a folder of animated .png stickers keeps their names and their motion)."""
    animated_in = Path(src).suffix.lower() == ".apng" or is_animated_png(src)
    return Path(dst).suffix.lower() == ".png" and not is_numbered(dst) and animated_in


def is_numbered(path: str | Path) -> bool:
    """A numbered sequence's name: a picture's (a video's is its file's own: an image2 muxer wrote clip%05d.mp4
    as pictures) with NUMBER in it."""
    return Path(path).suffix.lower() in PICTURE_SUFFIXES | HEIF_SUFFIXES and bool(NUMBER.search(Path(path).name))


def numbered_name(pattern: Path, n: int) -> Path:
    """frames_%05d.png and 7 -> frames_00007.png."""
    spec = NUMBER.search(pattern.name).group(0)  # type: ignore[union-attr]
    return pattern.with_name(pattern.name.replace(spec, spec % n, 1))


def numbered_files(pattern: Path) -> list[tuple[int, Path]]:
    """The files a numbered sequence's pattern names, by number: those named as the pattern writes their numbers, as
    FFmpeg's image2 reads them (%02d: s_01, not s_1 or s_001, which all took number 1, their outputs written over
    one another without a word)."""
    head, _, tail = NUMBER.split(pattern.name, maxsplit=1)
    shape = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    found = ((int(m.group(1)), p) for p in pattern.parent.glob("*") if (m := shape.fullmatch(p.name)))
    return sorted((n, p) for n, p in found if p.name == numbered_name(pattern, n).name)


def sequence_gap(pattern: Path) -> tuple[Path, int] | None:
    """The first picture missing from a numbered sequence where later ones are there, and how many those are:
    FFmpeg's image2 ends a sequence at its first gap (and had been said to be damaged input there)."""
    numbers = [n for n, _ in numbered_files(pattern)]
    missing = next((n for n, m in enumerate(numbers, numbers[0]) if n != m), None) if numbers else None
    return None if missing is None else (numbered_name(pattern, missing), sum(n > missing for n in numbers))


def check_input(src: str | Path) -> None:
    """A named input that is not there: said at once (the CLI asks before importing torch), not
    after seconds of imports. "-" (stdin) and numbered sequences (frames_%05d.png) pass."""
    if not str(src):  # Path("") is the current folder: it ran every file there into the output
        raise UserError("the input's name is empty (a file, a folder, or - for stdin)")
    if str(src) != "-" and not is_numbered(src) and not Path(src).exists():
        raise UserError(f"{src}: no such file")


@contextmanager
def opencv_name(path: str | Path) -> Iterator[str]:
    """A name OpenCV's bindings take for the file at `path`, for the block: they take names as UTF-8 and
    crash the process (a segmentation fault) on one that is not, as a Linux file system allows (a name
    made on an old Latin-1 machine; PyAV and Python read it). Such a file is handed over as
    /proc/self/fd/N, open for the block."""
    name = str(path)
    if not any("\udc80" <= c <= "\udcff" for c in name):  # no byte that is not UTF-8 (os.fsdecode's escapes)
        yield name
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise UserError(f"{name}: cannot open ({e.strerror})") from None
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def is_hidden(path: Path) -> bool:
    """A dot file: no picture or video of a folder's (a Mac's ._photo.png beside photo.png, its resource fork)."""
    return path.name.startswith(".")


def check_folder(folder: Path) -> None:
    """A one-line error unless `folder` is a folder: "no such folder", or "not a folder" where a file is."""
    if not folder.is_dir():
        raise UserError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")


def partial_path(dst: Path) -> Path:
    """Where `dst` grows until it is complete: hidden, beside it (one file system, so the rename
    is atomic), with its suffix (so muxers and numpy still know the format). A name near the file
    system's 255 bytes keeps its start and a digest of the rest (a 250-character name, which ffmpeg
    writes, failed as "File name too long" naming the hidden file)."""
    return hidden_beside(dst, dst.stem, f".partial{dst.suffix}")


def free_name(dst: Path, word: str) -> Path:
    """`dst` named with `word` and the first number no file has: out.recovered-1.mp4, out.recovered-2.mp4, ..."""
    names = (dst.with_name(f"{dst.stem}.{word}-{n}{dst.suffix}") for n in itertools.count(1))
    return next(name for name in names if not name.exists())


def hidden_beside(dst: Path, stem: str, tail: str) -> Path:
    """`.{stem}{tail}` beside `dst`, a stem too long for the file system's 255 bytes cut to its start and a digest
    of the rest."""
    name_bytes = os.fsencode(stem)  # as the file system has it: a name need not be UTF-8
    if len(os.fsencode(f".{stem}{tail}")) > NAME_MAX:
        stem = name_bytes[: NAME_MAX - 64].decode(errors="ignore") + hashlib.sha256(name_bytes).hexdigest()[:16]
    return dst.with_name(f".{stem}{tail}")


def check_writable(dst: Path) -> None:
    """Before any model time: that `dst`'s folder takes the partial file it is written as (a picture into a
    folder not writable failed after its model time, naming its hidden partial file)."""
    if not partial_path(dst).exists():  # one left by a run killed outright is replaced when written
        started_partial(dst).unlink()


def link_target(path: Path) -> Path:
    """What a link leads to, where output is written as ffmpeg writes it (the link kept); a loop of links is one
    line, where Path.resolve raised "unexpected RuntimeError: Symlink loop"."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 says a loop as RuntimeError, later ones as OSError (ELOOP)
        raise UserError(f"{path}: too many levels of symbolic links") from None


def started_partial(dst: Path) -> Path:
    """`dst`'s partial file, made empty; where it cannot be, a one-line error naming `dst`, not the hidden file."""
    tmp = partial_path(dst)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666))
    except OSError as e:
        raise UserError(f"{dst}: cannot write ({e.strerror})") from None
    return tmp


@contextmanager
def write_atomically(dst: Path) -> Iterator[Path]:
    """Yields the path to write to (made first: an output that cannot be written fails before the work);
    it replaces `dst` when the block succeeds (a link's target, the link kept, as a video's output and ffmpeg write
    it: a picture or an export had replaced the link with a file) and is removed when it fails."""
    dst = link_target(dst) if dst.is_symlink() else dst
    tmp = partial_path(dst)
    try:  # made within: a stop signal as it is made (a chunk's, as the one before is said done) left it behind
        started_partial(dst)
        yield tmp
        try:
            tmp.replace(dst)
        except OSError as e:  # a folder of its name: "error: .x.partial.npz: Is a directory"
            raise UserError(f"{dst}: cannot write ({e.strerror})") from None
    finally:
        with suppress(OSError):  # on a read-only file system its error had replaced the one-line one
            tmp.unlink(missing_ok=True)


def write_new(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """`data` under a name no file has: stem.suffix, else stem-2.suffix, and so on; nothing is left where
    the write fails (a full disk)."""
    n = 1
    while True:
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            file = path.open("xb")  # a name taken is never replaced
        except FileExistsError:
            n += 1
            continue
        try:
            with file:
                file.write(data)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return path
