"""PSNR and SSIM on luma, as the super-resolution literature reports them.

SSIM is Wang et al. 2004 as in their MATLAB `ssim_index`: an 11x11 Gaussian window with
sigma 1.5, K = (0.01, 0.03), L = 255, 'valid' filtering, the mean of the SSIM map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5
_K1, _K2, _L = 0.01, 0.03, 255.0


def to_levels(y: torch.Tensor) -> torch.Tensor:
    """[0, 1] float luma -> 0..255 levels, rounded and clipped like a saved uint8 image."""
    return (y.to(torch.float64) * 255).round().clamp(0, 255)


def shave(img: torch.Tensor, border: int) -> torch.Tensor:
    return img[..., border : img.shape[-2] - border, border : img.shape[-1] - border] if border else img


def psnr(a: torch.Tensor, b: torch.Tensor, border: int = 0) -> float:
    """PSNR in dB of two images on the 0..255 scale, `border` pixels shaved from each side."""
    diff = shave(a.to(torch.float64), border) - shave(b.to(torch.float64), border)
    return psnr_of_mse(diff.pow(2).mean().item())


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the 0..255 scale; infinite for equal images."""
    return math.inf if mse == 0 else 10 * math.log10(_L**2 / mse)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    x = torch.arange(_SSIM_WINDOW, dtype=torch.float64, device=device) - (_SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    window = torch.outer(g, g)
    return (window / window.sum())[None, None]  # 1 x 1 x 11 x 11


def smallest_scored(border: int) -> int:
    """The smallest side a picture can be scored at with `border` pixels shaved: SSIM's window must fit inside."""
    return _SSIM_WINDOW + 2 * border


def ssim(a: torch.Tensor, b: torch.Tensor, border: int = 0) -> float:
    """Mean SSIM of two single-channel images (H x W) on the 0..255 scale."""
    x = shave(a.to(torch.float64), border)[None, None]
    y = shave(b.to(torch.float64), border)[None, None]
    window = _gaussian_window(x.device)
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)  # 'valid': (H-10) x (W-10)
    sxx = F.conv2d(x * x, window) - mu_x**2
    syy = F.conv2d(y * y, window) - mu_y**2
    sxy = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ssim_map.mean().item()
