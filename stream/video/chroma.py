"""Chroma (and alpha) at the output's size: the one upscale of the planes DRRN does not restore,
shared by the pipeline's sink and the frame API."""

from __future__ import annotations

import cv2
import numpy as np


def upscale_plane(plane: np.ndarray, factors: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """One chroma (or alpha) plane upscaled bicubically by exact integer factors (x, y), then cropped to `size` (w, h).

    Stretching to the target size instead would misplace the right and bottom edges for odd sizes
    (a 63-wide 4:2:0 frame has 32 chroma columns covering 64 luma columns).
    """
    (fx, fy), (w, h) = factors, size
    return cv2.resize(plane, (plane.shape[1] * fx, plane.shape[0] * fy), interpolation=cv2.INTER_CUBIC)[:h, :w]
