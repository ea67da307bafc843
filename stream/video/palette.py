"""GIF's 256 colours: a palette made for each frame, as FFmpeg's own GIF recipe makes it.

GIF holds at most 256 colours a frame. swscale's fixed 3-3-2 palette (what `ffmpeg -i in out.gif`
gets without filters) bands every gradient an upscale makes, so each frame gets the palette of its
own colours (palettegen, stats_mode=single) and is mapped onto it with FFmpeg's default error
diffusion (paletteuse, new=1): frame by frame, so memory stays bounded and no second pass is needed.
Transparency survives: palettegen keeps an entry for it, paletteuse maps alpha below half to it.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

PALETTE_INPUT = "bgra"  # the packed RGB (with alpha) palettegen and paletteuse take


class Palettes:
    """Frames in PALETTE_INPUT (with pts) -> the same frames in pal8, each with its own palette, in order."""

    def __init__(self, width: int, height: int, time_base: Fraction, dither: str = "sierra2_4a") -> None:
        """`dither`: paletteuse's (FFmpeg's default; benchmarks.gif_input measures the others)."""
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format=PALETTE_INPUT, time_base=time_base)
        split, palettegen = self.graph.add("split"), self.graph.add("palettegen", "stats_mode=single")
        paletteuse, sink = self.graph.add("paletteuse", f"new=1:dither={dither}"), self.graph.add("buffersink")
        source.link_to(split)
        split.link_to(paletteuse, 0, 0)
        split.link_to(palettegen, 1, 0)
        palettegen.link_to(paletteuse, 0, 1)
        paletteuse.link_to(sink)
        self.graph.configure()

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """The frames mapped so far (None: the end, and the rest)."""
        self.graph.push(frame)
        mapped = []
        while True:
            try:
                mapped.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return mapped


def paletted(rgb: np.ndarray, dither: str = "sierra2_4a") -> np.ndarray:
    """One H x W x 3 RGB picture as a GIF frame of it decodes: on a palette of its own 256 colours, mapped with
    `dither` (what benchmarks and tests make GIF input of)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=PALETTE_INPUT)
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    palettes = Palettes(frame.width, frame.height, frame.time_base, dither)
    (mapped,) = palettes.push(frame) + palettes.push(None)
    return mapped.to_ndarray(format="rgb24")
