"""The Python API: enhance a file, or single frames held in numpy arrays.

from stream import EnhanceOptions, FrameEnhancer, ModelChoice, enhance

enhance("in.mp4", "out.mp4", EnhanceOptions(scale=2, model=ModelChoice(units=9)))
sharper = FrameEnhancer(scale=2)(rgb)  # H x W x 3 uint8 -> 2H x 2W x 3 uint8
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

from kernels.choice import ModelChoice, as_int, expect, whole
from kernels.colour import LumaCoding, ycbcr_affine
from kernels.host_memory import row_bands
from stream.console import say_notices
from stream.video.chroma import upscale_plane
from stream.video.enhance import SCALES
from stream.video.frames import Restored
from stream.video.processor import LumaEnhancer

__all__ = ["Comparison", "FrameEnhancer"]

Order = Literal["rgb", "bgr", "ycbcr"]


@dataclass
class Comparison:
    output: np.ndarray  # DRRN's result, the input's layout at s times the size
    bicubic: np.ndarray | None  # the bicubic upscale DRRN started from, same layout; None where not asked for
    psnr_vs_bicubic: float  # of the luma, in dB


class FrameEnhancer:
    """DRRN on single frames, 8- or 16-bit: H x W grey (used as luma, as SR papers do) or H x W x 3 colour.

    Colour frames become YCbCr codes by MATLAB rgb2ycbcr (studio range, as DRRN was trained);
    DRRN restores Y and Cb and Cr are upscaled exactly as `enhance` upscales a 4:4:4 video's
    chroma, so a frame gets the same result here as in a video. `order="ycbcr"` takes and
    gives those codes directly (Y, Cb, Cr planes stacked, studio range).
    """

    def __init__(self, scale: int = 2, model: ModelChoice | None = None) -> None:
        self.scale = as_int(scale)
        expect(self, "scale", whole(self.scale, 1) and self.scale in SCALES, "1 (sharpens in place) to 4")
        if not isinstance(model, ModelChoice | None):
            raise TypeError(f"model={model!r}: expected a ModelChoice (ModelChoice(units=9), ...), or None")
        loaded = (model or ModelChoice()).load()
        say_notices(loaded.ran.notices)
        self.luma = LumaEnhancer(loaded.restorer, scale, keep_bicubic=True)
        self.ran = loaded.ran  # what runs: the weights, depth, device, precision, tiling

    def __call__(self, image: np.ndarray, order: Order = "rgb") -> np.ndarray:
        return self.compare(image, order, bicubic=False).output

    def compare(
        self, image: np.ndarray, order: Order = "rgb", units: int | None = None, bicubic: bool = True
    ) -> Comparison:
        """DRRN's output, `units` deep (None: the model's own depth), with the bicubic upscale it
        started from (unless `bicubic` is False: a big photo's output alone is what it needs), and the PSNR
        between them."""
        if order not in get_args(Order):  # "BGR" was taken as RGB: the colours swapped without a word
            raise ValueError(f"order={order!r}: expected one of {', '.join(get_args(Order))}")
        units = as_int(units)
        if not whole(units, 1, none=True):  # 0 ran the model's own depth, -1 a model of its own
            raise ValueError(f"units={units!r}: expected a whole number from 1, or None")
        if not isinstance(image, np.ndarray):
            raise TypeError(f"expected a numpy array (H x W or H x W x 3), got {type(image).__name__}")
        if (
            image.dtype.kind != "u"
            or image.dtype.itemsize not in (1, 2)
            or image.ndim not in (2, 3)
            or (image.ndim == 3 and image.shape[2] != 3)
        ):
            raise ValueError(f"expected H x W or H x W x 3 uint8 or uint16, got {image.shape} {image.dtype}")
        if 0 in image.shape:  # it failed deep in the model as a division by zero
            raise ValueError(f"expected an image of at least one pixel, got {image.shape}")
        image = image.astype(image.dtype.newbyteorder("="), copy=False)  # 16-bit PGM, FITS, raw: big-endian
        peak = np.iinfo(image.dtype).max
        coding = LumaCoding(bits=16, stretched=True) if peak > 255 else LumaCoding()
        if image.ndim == 2:
            restored = self.luma([image], coding, units)[0]
            return Comparison(restored.y, bicubic_codes(restored, peak) if bicubic else None, restored.psnr_vs_bicubic)
        ycbcr = image if order == "ycbcr" else codes(image, ycbcr_affine(order, peak=peak))  # H x W x 3
        restored = self.luma([np.ascontiguousarray(ycbcr[..., 0])], coding, units)[0]
        size = (restored.y.shape[1], restored.y.shape[0])
        chroma = [upscale_plane(np.ascontiguousarray(ycbcr[..., c]), (self.scale, self.scale), size) for c in (1, 2)]
        lumas = [restored.y, bicubic_codes(restored, peak)] if bicubic else [restored.y]
        images = [np.dstack([y, *chroma]) for y in lumas]  # sH x sW x 3
        if order != "ycbcr":
            images = [codes(i, ycbcr_affine(order, inverse=True, peak=peak), out=i) for i in images]
        return Comparison(images[0], images[1] if bicubic else None, restored.psnr_vs_bicubic)


def bicubic_codes(restored: Restored, peak: int) -> np.ndarray:
    """The bicubic luma DRRN started from, in the input's codes (from 8-bit levels: for 16-bit
    input this comparison picture has 8-bit precision, the output does not)."""
    assert restored.bicubic_levels is not None
    return restored.bicubic_levels if peak == 255 else restored.bicubic_levels.astype(np.uint16) * 257


def codes(image: np.ndarray, affine: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A 3 x 4 colour map applied to integer pixels in float32, rounded back to their type (OpenCV's
    own uint8 path rounds in fixed point, off by one on 5% of pixels against MATLAB's rgb2ycbcr), into `out`
    (which may be `image`) or a new array. In bands of rows (BAND_PIXELS): float32 copies of a whole 12 MP photo
    x2 took 0.6 GB each."""
    peak, out = np.iinfo(image.dtype).max, np.empty_like(image) if out is None else out
    for rows in row_bands(*image.shape[:2]):
        out[rows] = np.rint(cv2.transform(image[rows].astype(np.float32), affine)).clip(0, peak)
    return out
