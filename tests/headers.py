"""The truth for the header readers' tests (stream.hevc, stream.av1, stream.vp8): FFmpeg's own header parser, its
trace_headers bitstream filter, which logs every syntax element of every packet at the TRACE level."""

from __future__ import annotations

import re
from pathlib import Path

import av
import av.logging
import numpy as np
from av.bitstream import BitStreamFilterContext


def panning_clip(
    path: Path, encoder: str, options: dict[str, str], size: tuple[int, int] = (96, 80), frames: int = 12,
    pix_fmt: str = "yuv420p", **context: int,
) -> Path:  # fmt: skip
    """`frames` frames of a texture panning and fading in (motion and fades: P and B frames, weighted prediction,
    varied quantisers), coded by `encoder` with `options` and codec context settings (`context`: qmin, gop_size)."""
    width, height = size
    texture = np.random.default_rng(1).integers(0, 256, (height, width + 3 * frames, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        video = out.add_stream(encoder, rate=25, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        for name, value in context.items():
            setattr(video.codec_context, name, value)
        for i in range(frames):
            rgb = (texture[:, 3 * i : 3 * i + width] * min(1.0, 0.4 + 0.1 * i)).astype(np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        out.mux(video.encode(None))
    return path


def video_packets(path: Path) -> tuple[bytes | None, list[bytes]]:
    """A file's video extradata and the payloads of its video packets, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.extradata, [bytes(p) for p in container.demux(stream) if p.size]


def traced_fields(path: Path, names: str) -> list[tuple[str, int]]:
    """(name, value) of each syntax element whose name is one of `names` (a regex alternation), as trace_headers
    parses the video stream, in order."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.TRACE)
    try:
        with av.open(str(path)) as container, av.logging.Capture(True) as logs:
            stream = container.streams.video[0]
            trace = BitStreamFilterContext("trace_headers", stream)
            for packet in container.demux(stream):
                if packet.size:
                    trace.filter(packet)
    finally:
        av.logging.set_level(level)
    found = (re.search(rf"\b({names})\s.*= (-?\d+)", line) for _, _, line in logs)
    return [(field.group(1), int(field.group(2))) for field in found if field]
