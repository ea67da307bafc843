"""Chroma (and alpha) at the output's size: the one upscale of the planes DRRN does not restore,
shared by the pipeline's sink and the frame API; and the colour under transparent pixels, filled
before any upscale."""

from __future__ import annotations

import cv2
import numpy as np

_FILL_SIGMAS = (1, 2, 4, 8, 16, 32)  # px: a transparent pixel takes the nearest scale that reaches a visible one


def upscale_plane(
    plane: np.ndarray, factors: tuple[int, int], size: tuple[int, int], max_code: int | None = None
) -> np.ndarray:
    """One chroma (or alpha) plane upscaled bicubically by exact integer factors (x, y), then cropped to `size` (w, h),
    its codes held to `max_code` (a 10-bit plane's 1023: OpenCV clips only at its type's 65535, and the overshoot
    past a saturated edge came out of FFV1 and libx265 wrapped round to near 0, a corrupt picture).

    Stretching to the target size instead would misplace the right and bottom edges for odd sizes
    (a 63-wide 4:2:0 frame has 32 chroma columns covering 64 luma columns).
    """
    (fx, fy), (w, h) = factors, size
    out = cv2.resize(plane, (plane.shape[1] * fx, plane.shape[0] * fy), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return out if max_code is None or max_code >= np.iinfo(out.dtype).max else np.minimum(out, max_code, out=out)


def fill_transparent(plane: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`plane` with the pixels `alpha` leaves fully transparent given the colour of the visible
    ones nearest them (each a mean weighted by opacity, over ever wider Gaussians), so that upscaling a sticker
    blends its edge with its own colour, not with whatever a transparent pixel holds (a GIF's: any palette entry,
    often white or black), which would ring as a light or dark fringe once restored. `alpha` at the plane's size or
    at a multiple of it (4:2:0 chroma: a chroma sample is hidden where all it covers is). A copy; `plane` itself
    where nothing is transparent or nothing is visible."""
    if alpha.shape != plane.shape:
        alpha = cv2.resize(alpha, plane.shape[::-1], interpolation=cv2.INTER_AREA)
    hidden = alpha == 0
    if not hidden.any() or hidden.all():
        return plane
    weight = alpha.astype(np.float32)
    weighted = plane.astype(np.float32) * weight
    filled, todo = plane.copy(), hidden
    for sigma in _FILL_SIGMAS:
        total = cv2.GaussianBlur(weight, (0, 0), sigma)
        reached = todo & (total > 1e-3 * weight.max())
        filled[reached] = np.rint(cv2.GaussianBlur(weighted, (0, 0), sigma)[reached] / total[reached])
        todo = todo & ~reached
        if not todo.any():
            return filled
    filled[todo] = np.rint(weighted.sum() / weight.sum())  # beyond the widest: the mean of what is visible
    return filled
