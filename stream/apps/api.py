"""The Python API: enhance a file, or single frames held in numpy arrays.

from stream.apps.api import EnhanceOptions, FrameEnhancer, enhance_file

enhance_file(Path("in.mp4"), Path("out.mp4"), EnhanceOptions(scale=2))
sharper = FrameEnhancer(scale=2)(rgb)  # H x W x 3 uint8 -> 2H x 2W x 3 uint8
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kernels.colour import LumaCoding, rgb_to_ycbcr, ycbcr_to_rgb
from kernels.inference import Precision
from kernels.resize import imresize
from kernels.tiling import Tiling
from stream.restorer import make_restorer
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.processor import LumaEnhancer

__all__ = ["Comparison", "EnhanceOptions", "FrameEnhancer", "enhance_file"]


@dataclass
class Comparison:
    output: np.ndarray  # DRRN's result, the input's layout at s times the size
    bicubic: np.ndarray  # the bicubic upscale DRRN started from, same layout
    psnr_vs_bicubic: float  # of the luma, in dB


class FrameEnhancer:
    """DRRN on single frames: H x W grey (used as luma, as SR papers do) or H x W x 3 colour.

    Colour frames go through MATLAB rgb2ycbcr: DRRN restores Y, Cb and Cr are upscaled
    bicubically, and the result comes back in the input's channel order.
    """

    def __init__(
        self,
        scale: int = 2,
        weights: Path | None = None,
        units: int | None = None,
        device: str = "auto",
        precision: Precision = "auto",
        tile: int | None = None,  # None: the device's default; 0: whole frames
        halo: int = Tiling.halo,
    ) -> None:
        restorer, self.weights = make_restorer(weights, units, device, precision, tile, halo)
        self.luma = LumaEnhancer(restorer, scale, keep_bicubic=True)
        self.scale, self.device = scale, restorer.device

    def __call__(self, image: np.ndarray, order: str = "rgb") -> np.ndarray:
        return self.compare(image, order).output

    def compare(self, image: np.ndarray, order: str = "rgb") -> Comparison:
        """DRRN's output with the bicubic upscale it started from, and the PSNR between them."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"expected H x W or H x W x 3 uint8, got {image.shape} {image.dtype}")
        if image.ndim == 2:
            restored = self.luma([image], LumaCoding())[0]
            assert restored.bicubic_levels is not None
            return Comparison(restored.y, restored.bicubic_levels, restored.psnr_vs_bicubic)
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1] if order == "bgr" else image))
        ycbcr = rgb_to_ycbcr(rgb.to(self.device).permute(2, 0, 1).to(torch.float32) / 255)  # 3 x H x W
        y_codes = (ycbcr[0] * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        restored = self.luma([y_codes], LumaCoding())[0]
        assert restored.bicubic_levels is not None
        chroma = imresize(ycbcr[1:], self.scale) if self.scale > 1 else ycbcr[1:]  # 2 x sH x sW
        images = []
        for y in (restored.y, restored.bicubic_levels):
            out = ycbcr_to_rgb(torch.cat([torch.from_numpy(y).to(self.device, torch.float32)[None] / 255, chroma]))
            out = (out * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            images.append(out[..., ::-1].copy() if order == "bgr" else out)
        return Comparison(images[0], images[1], restored.psnr_vs_bicubic)
