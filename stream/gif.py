"""How a GIF's 256 colours were made, read from a decoded frame: what decides which set restores it.

A GIF carries no quantiser; its loss is the palette and the dither that hides the palette's steps, and
the sets restore those very differently (docs/QUALITY.md, "GIFs"): a palette of the picture's own
colours, error-diffused or not dithered, is nearly clean LR; an ordered (Bayer) dither lays a
crosshatch on it that the set for lightly coded input sharpens; FFmpeg's fixed 3-3-2 palette (what
`ffmpeg -i in.mp4 out.gif` writes without filters) is dithered so hard that every set restores it below
bicubic, unless the dither is smoothed off first (smooth_dither, which the source applies to such a GIF).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import cv2
import numpy as np

PERIOD = 8  # the Bayer matrix's side (FFmpeg's paletteuse and swscale): its crosshatch repeats every 8 pixels
SIDE = 512  # the centre analysed, at most: enough for the statistic, bounded work on a large frame
# ordered_dither_peak from which a GIF is taken as ordered-dithered (FAINT_ORDERED: the set for compressed input
# restores it best), and from which the dither is strong (ORDERED: the heavy set), fitted on B100's x2 LR made
# GIFs at 64 px, every dither paletteuse has and Bayer at each of its scales (benchmarks.gif_input; docs/QUALITY.md,
# "GIFs"): 2.5 and 8 give +1.671 dB over bicubic in the mean over the dithers, the best pair +1.672 (2.5 and 5);
# on the clips' frames at 128 px, whose flat content reads higher, +1.459 where their best is +1.483 (2 and 12)
FAINT_ORDERED, ORDERED = 2.5, 8.0
OPENING = 12  # the frames a GIF is judged by (stream.video.source): decoded ahead, held until the run takes them
TELLING = 16  # colours a frame needs to tell its palette: fewer (a fade's black, a flat title) fit any palette

# The Gaussian (sigma, px) that smooths the fixed palette's dither off a GIF before anything restores it: on
# B100's x2 LR made so (benchmarks.gif_input) the heavy set gains +0.93 dB over bicubic of the GIF as it is, where
# unsmoothed it lost 0.67; on the clips' frames +2.74, where it lost 2.37. Chosen on every fourth B100 image
# (benchmarks.gif_input --blur): 0.4 and 0.6 gave +0.20 and +0.10 where 0.5 gave +0.74
FIXED_PALETTE_BLUR = 0.5


def smooth_dither(y: np.ndarray) -> np.ndarray:
    """A plane (uint8 or uint16 codes) under FIXED_PALETTE_BLUR's Gaussian, rounded to codes again."""
    return cv2.GaussianBlur(y, (0, 0), FIXED_PALETTE_BLUR)


def on_fixed_palette(rgb: np.ndarray) -> bool:
    """Whether every pixel of an H x W x 3 RGB frame is on swscale's 3-3-2 palette (rgb8 or bgr8): two
    channels on 8 levels (multiples of 36), the other on 4 (of 85)."""
    eighths = [not (rgb[..., c] % 36).any() for c in range(3)]
    quarters = [not (rgb[..., c] % 85).any() for c in range(3)]
    return eighths[1] and ((eighths[0] and quarters[2]) or (eighths[2] and quarters[0]))


def ordered_dither_peak(y: np.ndarray) -> float:
    """An 8-periodic pattern's share of a luma's fine detail: the mean power at the frequencies k/8 (the
    lattice a pattern repeating every 8 pixels puts its power on, 2 and 4 included) over the mean power
    at the other frequencies of at least 1/8 cycle a pixel, of the luma less its Gaussian blur (sigma 2:
    a natural picture's power falls with frequency, and would weigh on the lattice's lowest, 1/8). About
    1 for natural detail and for noise."""
    h, w = (min(n, SIDE) // PERIOD * PERIOD for n in y.shape)
    if not (h and w):
        return 0.0
    top, left = (y.shape[0] - h) // 2 // PERIOD * PERIOD, (y.shape[1] - w) // 2 // PERIOD * PERIOD
    centre = y[top : top + h, left : left + w].astype(np.float64)
    power = np.abs(np.fft.fft2(centre - cv2.GaussianBlur(centre, (0, 0), 2))) ** 2
    fy, fx = np.abs(np.fft.fftfreq(h))[:, None], np.abs(np.fft.fftfreq(w))[None, :]
    high = np.maximum(fy, fx) >= 1 / PERIOD
    lattice = np.zeros_like(high)
    lattice[:: h // PERIOD, :: w // PERIOD] = True
    return float(power[lattice & high].mean() / max(power[high & ~lattice].mean(), 1e-12))


def opening_palette(frames: Iterable[np.ndarray]) -> str:
    """A GIF's palette from its opening frames (RGB): what most of those with TELLING colours or more say (the
    earliest of equals), else what the first says. One frame misleads: a fade's black, a flat title, is on every
    palette, and black is on the fixed one's lattice, so a GIF of its own colours opening on black was taken for
    FFmpeg's fixed palette, blurred and restored by the heavy set."""
    said, first = [], None
    for rgb in frames:
        first = rgb if first is None else first
        if colours(rgb) >= TELLING:
            said.append(gif_palette(rgb))
    if said:
        return Counter(said).most_common(1)[0][0]
    return gif_palette(first) if first is not None else "own"


def colours(rgb: np.ndarray) -> int:
    """How many colours the centre (SIDE px at most) of an RGB frame shows."""
    h, w = (min(n, SIDE) for n in rgb.shape[:2])
    top, left = (rgb.shape[0] - h) // 2, (rgb.shape[1] - w) // 2
    centre = rgb[top : top + h, left : left + w].astype(np.uint32)
    return len(np.unique(centre[..., 0] << 16 | centre[..., 1] << 8 | centre[..., 2]))


def gif_palette(rgb: np.ndarray) -> str:
    """An H x W x 3 RGB frame's palette: "fixed" (swscale's 3-3-2), "ordered" or "faint ordered" (an ordered
    dither's crosshatch, by its strength), or "own" (of the picture's colours, error-diffused or not dithered)."""
    import torch  # here, not at import: the CLI starts without torch (kernels.colour's rgb_to_y needs it)

    from kernels.colour import rgb_to_y

    if on_fixed_palette(rgb):
        return "fixed"
    peak = ordered_dither_peak(rgb_to_y(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)).numpy())
    return "ordered" if peak >= ORDERED else "faint ordered" if peak >= FAINT_ORDERED else "own"
