"""Reading evaluation images as the SR literature does: MATLAB rgb2ycbcr luma, uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from kernels.colour import rgb_to_y
from stream.errors import UserError
from stream.files import PICTURE_SUFFIXES, check_folder, is_hidden, opencv_name


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    check_folder(folder)
    images = sorted(  # hidden files are no pictures of the set, as a batch has it
        p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and not is_hidden(p)
    )
    if not images:
        raise UserError(f"{folder}: no images in it ({', '.join(sorted(PICTURE_SUFFIXES))})")
    return images


def read_luma(path: str | Path) -> torch.Tensor:
    """H x W uint8 luma: the grey values of a greyscale image, else Y of MATLAB rgb2ycbcr."""
    with opencv_name(path) as name:
        img = cv2.imread(name, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{path}: not a readable image")
    if img.dtype != np.uint8:
        raise UserError(f"{path}: {img.dtype} images are not supported; evaluation expects 8-bit")
    if img.ndim == 3 and img.shape[2] == 4 and grey_with_alpha(path):  # OpenCV gives grey and alpha as BGRA
        return torch.from_numpy(np.ascontiguousarray(img[:, :, 0]))
    return luma(img)


def grey_with_alpha(path: str | Path) -> bool:
    """Whether a picture is grey with alpha (a PNG's colour type 4), which is scored on its grey values as a grey
    one is (MATLAB's imread gives it as grey): read as BGRA and put through rgb2ycbcr, it scored 1.3 dB apart."""
    from PIL import Image

    with Image.open(path) as picture:
        return picture.mode in ("LA", "La")


def luma(img: np.ndarray) -> torch.Tensor:
    """H x W uint8 luma of an 8-bit image as OpenCV holds it (grey, BGR or BGRA), as read_luma reads one."""
    if img.ndim == 2:
        return torch.from_numpy(img)
    rgb = torch.from_numpy(np.ascontiguousarray(img[:, :, 2::-1])).permute(2, 0, 1)  # BGR(A) -> 3 x H x W
    return rgb_to_y(rgb)
