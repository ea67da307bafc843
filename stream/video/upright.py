"""Frames turned upright where the output's container cannot say how they are shown.

A phone stores its video as the sensor saw it, with the turn that shows it upright beside it (a display matrix).
MP4's family and Matroska carry that turn, and the sink writes it there, the pixels untouched; every other container
FFmpeg writes (MPEG-TS, AVI, FLV, GIF, APNG, WebP, pictures, Y4M, ...) drops it, and a phone's portrait clip came
out on its side. There the frames are turned themselves, as ffmpeg's autorotate does, by FFmpeg's transpose and flip
filters, which move the chroma with the luma in any layout.
"""

from __future__ import annotations

from fractions import Fraction

import av

from stream.video.targets import MP4_FAMILY

KEEPS_ROTATION = {*MP4_FAMILY, "matroska", "webm"}  # muxers, by trial
# How a frame turned `rotation` degrees counter-clockwise (frames.VideoInfo.rotation) is shown upright
_FILTERS = {90: [("transpose", "cclock")], 180: [("hflip", ""), ("vflip", "")], 270: [("transpose", "clock")]}


def quarter_turns(rotation: int) -> int:
    """The rotation as 0, 90, 180 or 270 degrees counter-clockwise (a matrix's few degrees off are none)."""
    return round(rotation / 90) % 4 * 90


def upright_size(rotation: int, width: int, height: int) -> tuple[int, int]:
    return (height, width) if quarter_turns(rotation) in (90, 270) else (width, height)


class Upright:
    """Turns frames (of any one size and layout, made on the first) upright; their pts, time base and colour kept."""

    def __init__(self, rotation: int) -> None:
        self.filters = _FILTERS[quarter_turns(rotation)]
        self.graph: av.filter.Graph | None = None

    def _built(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                  time_base=frame.time_base or Fraction(1))  # fmt: skip
        turns = [graph.add(name, args) for name, args in self.filters]
        kept = graph.add("format", frame.format.name)  # the layout the encoder takes (4:2:2's chroma turned back)
        graph.link_nodes(source, *turns, kept, graph.add("buffersink")).configure()
        return graph

    def turn(self, frame: av.VideoFrame) -> av.VideoFrame:
        self.graph = self.graph or self._built(frame)
        self.graph.push(frame)
        turned = self.graph.pull()
        turned.pts, turned.time_base = frame.pts, frame.time_base
        turned.color_range, turned.colorspace = frame.color_range, frame.colorspace
        turned.color_primaries, turned.color_trc = frame.color_primaries, frame.color_trc
        return turned
