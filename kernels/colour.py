"""Colour conversion: MATLAB `rgb2ycbcr` (BT.601, studio range), the luma DRRN is trained on."""

from __future__ import annotations

import torch

# First row of MATLAB's rgb2ycbcr matrix, for RGB in 0..1 giving Y in 0..255.
_Y_FROM_RGB = (65.481, 128.553, 24.966)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (... x 3 x H x W) -> uint8 luma (... x H x W), rounded as MATLAB does."""
    r, g, b = rgb.to(torch.float64).unbind(-3)
    y = 16 + (_Y_FROM_RGB[0] * r + _Y_FROM_RGB[1] * g + _Y_FROM_RGB[2] * b) / 255
    return y.round().clamp(0, 255).to(torch.uint8)
