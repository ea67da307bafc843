"""Colour: MATLAB `rgb2ycbcr` (BT.601, studio range), the luma DRRN is trained on, and how
video luma codes map onto it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# MATLAB's rgb2ycbcr matrix, for RGB in 0..1 giving YCbCr in 0..255 (before the offsets).
_YCBCR_FROM_RGB = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_Y_FROM_RGB = _YCBCR_FROM_RGB[0]


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (... x 3 x H x W) -> uint8 luma (... x H x W), rounded as MATLAB does."""
    r, g, b = rgb.to(torch.float64).unbind(-3)
    y = 16 + (_Y_FROM_RGB[0] * r + _Y_FROM_RGB[1] * g + _Y_FROM_RGB[2] * b) / 255
    return y.round().clamp(0, 255).to(torch.uint8)


def ycbcr_affine(order: str = "rgb", inverse: bool = False, peak: int = 255) -> np.ndarray:
    """MATLAB rgb2ycbcr on 0..peak codes (255, or 65535 for 16-bit) as a 3 x 4 affine map (matrix |
    offset), for cv2.transform; `order` "bgr" takes (or, inverse, gives) OpenCV's channel order;
    `inverse` is ycbcr2rgb."""
    m = np.array(_YCBCR_FROM_RGB) / 255
    offset = np.array([16.0, 128.0, 128.0]) * peak / 255
    if inverse:
        m = np.linalg.inv(m)
        m, offset = (m[::-1], -m[::-1] @ offset) if order == "bgr" else (m, -m @ offset)
    elif order == "bgr":
        m = m[:, ::-1]
    return np.hstack([m, offset[:, None]])


@dataclass(frozen=True)
class LumaCoding:
    """How a video's luma codes map to DRRN's domain: studio-range Y / 255, as in training.

    8-bit studio range (Y 16..235) is already that domain. Full range (yuvj*, 'pc') is
    squeezed into 16..235 before the model and stretched back after; higher bit depths are
    scaled to 8-bit levels (a 10-bit studio code of 4 x 235 = 940 is white).
    """

    bits: int = 8
    full_range: bool = False
    stretched: bool = False  # images' deeper codes stretch 8-bit levels (MATLAB: 235 -> 235 * 257), video's shift them

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    @property
    def white(self) -> int:
        """The code of level 255."""
        return self.max_code if self.stretched else 255 << (self.bits - 8)

    def to_model(self, codes: torch.Tensor) -> torch.Tensor:
        x = codes.to(torch.float32)
        if self.full_range:
            return (16 + x / self.max_code * 219) / 255
        return x / self.white

    def to_levels(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes -> DRRN's 8-bit studio levels, rounded (float64): what metrics compare."""
        return (self.to_model(codes.to(torch.int32)).to(torch.float64) * 255).round().clamp(0, 255)

    def from_model(self, y: torch.Tensor) -> torch.Tensor:
        """-> integer codes (int32), rounded and clipped to the code range."""
        if self.full_range:
            codes = (y * 255 - 16) / 219 * self.max_code
        else:
            codes = y * self.white
        return codes.round().clamp(0, self.max_code).to(torch.int32)
