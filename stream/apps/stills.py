"""`drrn-stream photo.png photo_x2.png`: still images, one or a numbered sequence, through the frame API.

OpenCV reads and writes them (PNG, JPEG, WebP, TIFF, BMP; 8 or 16 bits; grey, RGB, RGBA).
Colour goes through MATLAB's rgb2ycbcr (BT.601 matrix, studio range, what DRRN was trained
on): DRRN restores Y, Cb and Cr are upscaled bicubically, and so is an alpha channel.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from stream.apps.api import FrameEnhancer
from stream.console import counted, say
from stream.errors import UserError
from stream.files import NUMBER, is_numbered, write_atomically
from stream.video.chroma import upscale_plane
from stream.video.enhance import EnhanceOptions
from stream.video.targets import check_output

# PNG, TIFF, BMP and (OpenCV's default) WebP are written losslessly; JPEG at quality 95.
EIGHT_BIT_SUFFIXES = {".jpg", ".jpeg", ".webp", ".bmp"}  # 16-bit pictures are written at 8 bits there
_WRITE_OPTIONS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95]}


def picture_pairs(src: str, dst: str) -> list[tuple[Path, Path]]:
    """(input, output) for one picture, or for each file of a numbered sequence (frames_%05d.png)."""
    numbered = [is_numbered(p) for p in (src, dst)]
    if numbered[0] != numbered[1]:
        raise UserError(f"{dst}: a numbered sequence in needs one out, and one picture one picture")
    if not numbered[0]:
        if not Path(src).is_file():
            raise UserError(f"{src}: no such file")
        return [(Path(src), Path(dst))]
    folder, name = Path(src).parent, Path(src).name
    head, _, tail = NUMBER.split(name, maxsplit=1)
    pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    found = sorted((int(m.group(1)), p) for p in folder.glob("*") if (m := pattern.fullmatch(p.name)))
    if not found:
        raise UserError(f"{src}: no files match it in {folder}")
    out = Path(dst)
    spec = NUMBER.search(out.name).group(0)  # type: ignore[union-attr]
    return [(p, out.with_name(out.name.replace(spec, spec % n, 1))) for n, p in found]


def enhance_picture(enhancer: FrameEnhancer, image: np.ndarray) -> np.ndarray:
    """An image as OpenCV holds it (H x W grey, H x W x 3 BGR, H x W x 4 BGRA; uint8 or uint16),
    enhanced, in the same layout at the enhancer's scale."""
    if image.ndim == 2 or image.shape[2] == 1:
        return enhancer(image.reshape(image.shape[:2]))
    out = enhancer(np.ascontiguousarray(image[..., :3]), order="bgr")
    if image.shape[2] == 4:
        alpha = upscale_plane(np.ascontiguousarray(image[..., 3]), (enhancer.scale,) * 2, out.shape[1::-1])
        out = np.dstack([out, alpha])
    return out


def check_targets(pairs: list[tuple[Path, Path]], overwrite: bool) -> None:
    """Before any model time: every output's folder exists, and no output exists unless -y."""
    for _, target in pairs:
        check_output(target, overwrite)


def enhance_pictures(pairs: list[tuple[Path, Path]], enhancer: FrameEnhancer) -> None:
    """Enhance each (input, output) pair; each output is written whole or not at all."""
    for source, target in pairs:
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype not in (np.uint8, np.uint16):
            raise UserError(f"{source}: not a readable 8- or 16-bit image")
        out = enhance_picture(enhancer, image)
        if out.dtype == np.uint16 and target.suffix.lower() in EIGHT_BIT_SUFFIXES:
            out = np.rint(out / 257).astype(np.uint8)  # OpenCV would clip, not scale
        with write_atomically(target) as tmp:
            if not cv2.imwrite(str(tmp), out, _WRITE_OPTIONS.get(target.suffix.lower(), [])):
                raise UserError(f"{target}: cannot write this image format")


def pictures(src: str, dst: str, options: EnhanceOptions, console: Console) -> None:
    """A picture (or a numbered sequence) in, the same out: through the frame API, not the video pipeline."""
    pairs = picture_pairs(src, dst)
    check_targets(pairs, options.overwrite)
    enhancer = FrameEnhancer(options.scale, options.model)
    say(f"{src} -> {dst}: {enhancer.ran}, x{options.scale}; colour by MATLAB rgb2ycbcr (BT.601, studio range): "
        "DRRN on Y, bicubic on Cb, Cr and alpha", console)  # fmt: skip
    enhance_pictures(pairs, enhancer)
    say(f"wrote {counted(len(pairs), 'picture')}", console)
