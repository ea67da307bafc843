"""`drrn-stream photo.png photo_x2.png`: still images, one or a numbered sequence, through the frame API.

They are read and written by stream.picture_io (PNG, JPEG, WebP, TIFF, BMP, HEIC, AVIF; 8 or 16 bits; grey,
RGB, RGBA), upright, with their EXIF, ICC profile and XMP.
Colour goes through MATLAB's rgb2ycbcr (BT.601 matrix, studio range, what DRRN was trained
on): DRRN restores Y, Cb and Cr are upscaled bicubically, and so is an alpha channel.
--log gets a row per picture and --reference (a picture of the output's size; numbered for a
sequence) is scored as `eval` scores pictures: the luma of MATLAB rgb2ycbcr at 8 bits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from kernels.choice import HALO
from kernels.host_memory import room_bytes
from kernels.metrics import psnr, ssim
from kernels.tiling import CPU_TILE, windows_pixels, windows_run
from stream.apps.api import Comparison, FrameEnhancer
from stream.console import counted, listed, loud, progress, say, say_notices
from stream.content import for_content, judge_picture
from stream.errors import UserError
from stream.eval.images import luma
from stream.files import check_writable, is_numbered, misnamed, numbered_files, numbered_name, write_atomically
from stream.picture_io import (
    CARRIES_METADATA,
    check_side,
    damage,
    depth_held_back,
    dropped,
    eight_bit,
    holds_alpha,
    read_picture,
    write_picture,
)
from stream.video.chroma import fill_transparent, upscale_plane
from stream.video.enhance import EnhanceOptions
from stream.video.log import FrameLog
from stream.video.observers import REFERENCE_FIELDS
from stream.video.targets import check_not_input, check_target

# How a picture's colour goes, said in its run's header line
COLOUR_SAID = ("colour by MATLAB rgb2ycbcr (BT.601, studio range): DRRN on Y (a grey picture's grey), bicubic on Cb, "
               "Cr and any alpha")  # fmt: skip
PICTURE_LOG_FIELDS = ["picture", "psnr_vs_bicubic"]  # --log: a row per picture, its name and PSNR against bicubic
# A picture is held whole, its output in several copies: peak resident memory measured up to 1.2 GB (the libraries,
# the model and its 768 px window) and 25 bytes more per output pixel (x2 at 1 unit on a 2-core Xeon: 8 and 16 bits,
# grey to RGBA, into PNG and JPEG: 1.29-1.51 GB at 12 Mpx out, 1.69-2.37 GB at 48 Mpx; docs/PERFORMANCE.md).
PICTURE_BASE_BYTES, PICTURE_BYTES_PER_PIXEL = 1.2e9, 25
# Past the CPU's default window (tiles of 768 plus the halo), each window pixel run at once holds activations of
# its own: about 1.1 KB in int8 and 1.5 KB in fp32 and bf16 (x2 at 1 unit on a 2000x1500 output, AVX2 EPYC,
# 2026-12-08: --tile 0 peaked at 3.7 and 4.9 GB where the default tiles took 1.2 and 2.0). The CPU's alone: a GPU's
# activations are in its own memory.
WINDOW_PIXEL_BYTES, DEFAULT_WINDOW_PIXELS = 1536, (CPU_TILE + 2 * HALO) ** 2


@dataclass(frozen=True)
class Picture:
    """One picture's run: where it is read, where it is written, and what it is scored against."""

    source: Path
    target: Path
    reference: Path | None = None  # --reference: what the output is scored against
    shown: str = ""  # its name as the user gave it, where `source` is not (a link named as what it is; stdin spooled)

    @property
    def name(self) -> str:
        """The name its log row and its warnings give it."""
        return Path(self.shown).name if self.shown else self.source.name


def picture_jobs(src: str, dst: str, reference: Path | None = None, shown: str = "") -> list[Picture]:
    """One picture (`shown` as the user named it), or each file of a numbered sequence (frames_%05d.png), its
    output and its reference (numbered too for a sequence) taking the input's number."""
    numbered = [is_numbered(p) for p in (src, dst)]
    if numbered[0] != numbered[1]:
        numbered_out = f"{Path(dst).stem}_%05d{Path(dst).suffix}"
        raise UserError(f"{src}: a numbered sequence in makes one out: name it so (e.g. {numbered_out})" if numbered[0]
                        else f"{dst}: numbered, for a sequence; one picture in makes one picture out")  # fmt: skip
    if reference is not None and is_numbered(reference) != numbered[0]:
        raise UserError(f"{reference}: a numbered sequence in is scored against a numbered reference, one picture "
                        "against one picture")  # fmt: skip
    if not numbered[0]:
        if not Path(src).is_file():
            raise UserError(f"{src}: no such file")
        return [Picture(Path(src), Path(dst), reference, shown)]
    if not (found := numbered_files(Path(src))):
        raise UserError(f"{src}: no files match it in {Path(src).parent}")
    return [
        Picture(p, numbered_name(Path(dst), n), None if reference is None else numbered_name(reference, n))
        for n, p in found
    ]


def enhance_picture(enhancer: FrameEnhancer, image: np.ndarray, bicubic: bool = True) -> Comparison:
    """An image as OpenCV holds it (H x W grey, H x W x 3 BGR, H x W x 4 BGRA; uint8 or uint16),
    enhanced, in the same layout at the enhancer's scale, with the bicubic upscale it started from
    (without alpha) if asked for."""
    if image.ndim == 2 or image.shape[2] == 1:
        return enhancer.compare(image.reshape(image.shape[:2]), bicubic=bicubic)
    bgr = np.ascontiguousarray(image[..., :3])
    if image.shape[2] == 4:  # what transparent pixels hold would fringe the edges once upscaled
        bgr = np.dstack([fill_transparent(np.ascontiguousarray(bgr[..., c]), image[..., 3]) for c in range(3)])
    result = enhancer.compare(bgr, order="bgr", bicubic=bicubic)
    if image.shape[2] == 4:
        alpha = upscale_plane(np.ascontiguousarray(image[..., 3]), (enhancer.scale,) * 2, result.output.shape[1::-1])
        result.output = np.dstack([result.output, alpha])
    return result


def check_memory(job: Picture, image: np.ndarray, enhancer: FrameEnhancer) -> None:
    """A picture too big for the memory left refused in a line before its minutes of work, where the kernel's OOM
    killer would end the run without a word (a 48 MP photo x4 needs about 20 GB; whole, --tile 0, far more)."""
    room, scale, restorer = room_bytes(), enhancer.scale, enhancer.luma.restorer
    height, width = (n * scale for n in image.shape[:2])
    need = PICTURE_BASE_BYTES + PICTURE_BYTES_PER_PIXEL * height * width
    if restorer.device.type == "cpu":
        need += WINDOW_PIXEL_BYTES * max(0, windows_pixels(height, width, restorer.tiling) - DEFAULT_WINDOW_PIXELS)
    if room is not None and need > room:
        whole = restorer.tiling.tile is None or restorer.tiling.tile > CPU_TILE
        if whole:
            less = f"--tile {CPU_TILE}, the CPU default"
        elif restorer.tiling.batch > 1:
            less = "--batch 1, the CPU default"
        else:
            less = "a smaller --scale"
        raise UserError(f"{job.source}: x{scale} makes a {width}x{height} picture, which needs about "
                        f"{need / 1e9:.1f} GB of memory, and {room / 1e9:.1f} GB is all it can have here ({less}, or "
                        "the picture cut into parts)")  # fmt: skip


def check_files(jobs: list[Picture], overwrite: bool, scale: int) -> None:
    """Before any model time: every output's folder exists and takes files, no output exists unless -y
    or is its input (a picture was replaced by its own result), and every reference is there."""
    for job in jobs:
        check_not_input(job.source, job.target)
        check_target(job.target, overwrite)
        if job.reference is not None and not job.reference.is_file():
            raise UserError(f"{job.reference}: no such file (the reference for {job.name})")
    for target in {job.target.parent: job.target for job in jobs}.values():  # once a folder
        check_writable(target)
    for job in jobs:
        if job.reference is not None:
            check_reference(job.source, job.reference, scale)


def check_reference(source: Path, reference: Path, scale: int) -> None:
    """A reference read and of the output's size, before any model time: a sequence's last one of the wrong size
    (or no picture) failed the run once the others were written, and a rerun was refused for them."""
    (h, w), (rh, rw) = (read_picture(path)[0].shape[:2] for path in (source, reference))
    if (rh, rw) != (h * scale, w * scale):
        raise UserError(f"{reference}: is {rw}x{rh}, the output is {w * scale}x{h * scale}")


def against_reference(result: Comparison, reference: Path, border: int) -> dict[str, float]:
    """PSNR and SSIM of the output and of its bicubic upscale against the reference picture, as
    `eval` scores pictures (MATLAB rgb2ycbcr luma at 8 bits), `border` pixels shaved."""
    assert result.bicubic is not None
    truth = luma(eight_bit(read_picture(reference)[0]))  # upright, in any format a picture is read in
    out, bicubic = luma(eight_bit(result.output)), luma(eight_bit(result.bicubic))
    assert truth.shape == out.shape, "checked before: check_reference"
    return {
        "psnr_ref": psnr(out, truth, border), "ssim_ref": ssim(out, truth, border),
        "psnr_ref_bicubic": psnr(bicubic, truth, border), "ssim_ref_bicubic": ssim(bicubic, truth, border),
    }  # fmt: skip


def enhance_pictures(
    jobs: list[Picture], enhancer: FrameEnhancer, log: FrameLog, console: Console
) -> tuple[list[str], dict[Picture, str]]:
    """Enhance each picture, each output written whole or not at all, and its row in the log; the windows of the
    picture running are counted on the console (a phone's photo is many, for minutes on a CPU). A picture that
    cannot be read or written is said and the others go on, as a folder's files do (a sequence stopped at its first
    unreadable picture, the pictures after it left undone). -> the metadata the outputs' format lost; the pictures
    that failed, with why."""
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    lost: list[str] = []
    failed: dict[Picture, str] = {}
    with progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=None)
        counting = windows_run.set(lambda done, windows: bar.update(task, completed=done, total=windows))
        try:
            for n, job in enumerate(jobs, 1):
                bar.reset(task, description=f"{job.name}, windows", total=None)
                try:
                    lost += [name for name in enhance_one(job, enhancer, log) if name not in lost]
                except UserError as e:
                    failed[job] = str(e)
                    if len(jobs) > 1:
                        say(f"[{n}/{len(jobs)}] failed: {e}", loud(console), style="red")
        finally:
            windows_run.reset(counting)
    return lost, failed


def enhance_one(job: Picture, enhancer: FrameEnhancer, log: FrameLog) -> list[str]:
    """One picture: read upright, enhanced, written with its metadata (stream.picture_io), its row logged; -> the
    metadata its output's format lost."""
    image, metadata = read_picture(job.source)
    check_memory(job, image, enhancer)
    check_side(job.target, image.shape[1] * enhancer.scale, image.shape[0] * enhancer.scale)
    transparent = is_transparent(image)
    if image.ndim == 3 and image.shape[2] == 4 and not holds_alpha(job.target):
        image = image[..., :3]  # JPEG holds none: what the alpha hid shows, as viewers show it once it is dropped
    result = enhance_picture(enhancer, image, bicubic=job.reference is not None)  # the bicubic only to score it
    row: dict[str, float | str] = {"picture": job.name, "psnr_vs_bicubic": result.psnr_vs_bicubic}
    if job.reference is not None:
        row |= against_reference(result, job.reference, border=enhancer.scale)
    with write_atomically(job.target) as tmp:
        write_picture(tmp, result.output, metadata, target=job.target)
    log.add(row)
    return dropped(job.target, metadata, result.output, alpha=transparent)


def is_transparent(image: np.ndarray) -> bool:
    """Whether some pixel is not opaque (an alpha channel all opaque, as many a PNG has, hides nothing)."""
    return image.ndim == 3 and image.shape[2] == 4 and int(image[..., 3].min()) < np.iinfo(image.dtype).max


def pictures(
    src: str, dst: str, options: EnhanceOptions, console: Console, shown: str | None = None, warn: bool = True
) -> str:
    """A picture (or a numbered sequence) in, the same out: through the frame API, not the video pipeline. -> the
    warnings (said here too, even with --quiet, as a video's damage is, unless not to `warn`: a folder's run says
    them itself) where inputs were damaged or the outputs lost metadata, else ""; with --strict, a damaged input
    fails the run once every output is written. `shown`: the input's name in the header, where `src` is not the
    user's (stdin, spooled to a file; a link named as what the picture is), and in its row and its errors."""
    if Path(src).is_file() and (actual := misnamed(Path(src))) not in (None, ".gif"):  # (a GIF is a video's)
        return as_what_it_is(src, actual, dst, options, console, shown or src, warn)
    with naming_as(src, shown):
        jobs = picture_jobs(src, dst, options.reference, shown or "")
        check_files(jobs, options.overwrite, options.scale)
        with FrameLog(options.log, PICTURE_LOG_FIELDS + (REFERENCE_FIELDS if options.reference else [])) as log:
            enhancer = FrameEnhancer(options.scale, for_content(options.model, judge_picture(jobs[0].source)))
            say(f"{shown or src} -> {dst}: {enhancer.ran}, x{options.scale}; {COLOUR_SAID}", console)
            lost, failed = enhance_pictures(jobs, enhancer, log, console)
        if len(failed) == len(jobs) == 1:
            raise UserError(next(iter(failed.values())))
        written = [job for job in jobs if job not in failed]
        say(f"wrote {counted(len(written), 'picture')}", console)
        if against := log.reference_summary():
            say(against, console)
        damaged = [f"{job.name}: damaged input, {hurt}" for job in written if (hurt := damage(job.source))]
        if damaged and options.strict:
            raise UserError(
                f"{damaged[0]}; {dst} has what decoded" + (f" ({len(damaged)} damaged)" if damaged[1:] else "")
            )
        shallow = [f"{job.name}: {held}" for job in written if (held := depth_held_back(job.source))]
        warnings = damaged + shallow + ([lost_metadata(dst, lost)] if lost else [])
        if warn:
            say_notices(tuple(f"warning: {warning}" for warning in warnings), loud(console))
        if failed:
            first = next(iter(failed.values()))
            raise UserError(f"{len(failed)} of {counted(len(jobs), 'picture')} failed (first: {first}); "
                            f"the other {len(written)} written")  # fmt: skip
        return "; ".join(warnings)


@contextmanager
def naming_as(src: str, shown: str | None) -> Iterator[None]:
    """An error that names the file read names it `shown`, as the user did (it said /tmp/drrn-stream-x/stdin.png)."""
    try:
        yield
    except UserError as e:
        if not shown or src not in str(e):
            raise
        raise UserError(str(e).replace(src, shown)) from None


KIND_NAMES = {".png": "a PNG", ".jpg": "a JPEG", ".tif": "a TIFF", ".bmp": "a BMP", ".webp": "a WebP",
              ".heic": "a HEIC", ".avif": "an AVIF"}  # fmt: skip


def as_what_it_is(src: str, actual: str, dst: str, options: EnhanceOptions, console: Console, shown: str,
                  warn: bool) -> str:  # fmt: skip
    """A picture named as another kind, read through a link named as what it is, and said."""
    with tempfile.TemporaryDirectory(prefix="drrn-stream-") as folder:
        link = Path(folder) / f"picture{actual}"  # (the name and a suffix: 256 bytes and more, too long a name)
        link.symlink_to(Path(src).absolute())
        warnings = pictures(str(link), dst, options, console, shown, warn)
    named = f"{shown}: {KIND_NAMES[actual]} by its contents, read as one (its name says {Path(src).suffix})"
    if warn:
        say(f"warning: {named}", loud(console))
    return "; ".join(filter(None, [named, warnings]))


def lost_metadata(dst: str, lost: list[str]) -> str:
    """The warning for what the outputs' format could not hold."""
    suffix = Path(dst).suffix.lower()
    why = "TIFF and BMP get the pixels alone" if suffix not in CARRIES_METADATA else f"not carried into {suffix}"
    return f"{Path(dst).name}: written without the input's {listed(lost)} ({why})"
