"""Animated WebP (stickers, web animations), which FFmpeg's WebP decoder does not read (it takes stills alone).

An animation is told from a still by its RIFF chunks, without decoding, and unpacked frame by frame by Pillow,
whose wheels bring libwebp's own animation decoder: it composites each frame onto the canvas (offsets, blending,
disposal) as a browser shows it. The frames go into a temporary lossless video (FFV1 in Matroska, RGBA, each
frame's timestamp and duration in the animation's milliseconds) that the pipeline then reads as any other, so
the timing, the transparency and everything downstream are the video path's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, NamedTuple

from stream.errors import UserError

MILLISECONDS = Fraction(1, 1000)  # an animation's timing unit (ANMF's duration)
ANMF_HEADER = 16  # an ANMF's own fields before its chunks: X, Y, width, height, duration (3 bytes each), flags
# Frames said to last this long or less are shown for DEFAULT_DURATION, as browsers show them (Chrome and Firefox
# alike, for GIF and WebP; FFmpeg's GIF demuxer likewise): a 0 ms frame would otherwise share its successor's time
FLEETING, DEFAULT_DURATION = 10, 100


class WebPLayout(NamedTuple):
    """What a WebP file's chunks say of it."""

    frames: int  # 0: not a WebP; 1: a still; more: an animation
    lossless: bool  # every picture coded by the lossless bitstream (VP8L; the lossy one is "VP8 ")


def webp_chunks(f: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """A WebP's chunks, from a file object at its start: each one's FourCC and where its data starts; an ANMF
    (an animation's frame: its offset, size, duration and flags, then its own chunks) is followed by the chunks
    inside it, as they end where it does. None for what is not a WebP."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
        return
    while len(chunk := f.read(8)) == 8:
        fourcc, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        yield fourcc, f.tell()
        f.seek(ANMF_HEADER if fourcc == b"ANMF" else size + size % 2, 1)  # chunks are padded to an even size


def webp_layout(path: str | Path) -> WebPLayout:
    """A WebP file's frames (ANMF chunks) and bitstreams, from its RIFF chunks, without decoding."""
    with open(path, "rb") as f:
        fourccs = [fourcc for fourcc, _ in webp_chunks(f)]
    if not fourccs:
        return WebPLayout(0, False)
    kinds = {fourcc for fourcc in fourccs if fourcc in (b"VP8 ", b"VP8L")}
    return WebPLayout(max(fourccs.count(b"ANMF"), 1), kinds == {b"VP8L"})


def is_animated_webp(path: str | Path) -> bool:
    """A WebP file of more than one frame (any other file, or a name not there: False)."""
    return Path(path).is_file() and webp_layout(path).frames > 1


def unpack_animation(path: str | Path) -> IO[bytes]:
    """The animation's frames as a temporary lossless video (an anonymous file, gone when closed), at its start."""
    import av  # imported here: the CLI tells an animation from a still before PyAV loads, and only one needs Pillow
    import numpy as np
    from PIL import Image

    unpacked = tempfile.TemporaryFile()
    try:
        with Image.open(path) as animation, av.open(unpacked, "w", format="matroska") as out:
            video = out.add_stream("ffv1")
            video.width, video.height = animation.size
            video.pix_fmt = "bgra"
            video.time_base = video.codec_context.time_base = MILLISECONDS
            start = 0
            for index in range(animation.n_frames):
                animation.seek(index)
                animation.load()  # the frame's duration is set as it is decoded
                duration = animation.info["duration"]
                duration = duration if duration > FLEETING else DEFAULT_DURATION
                rgba = np.asarray(animation.convert("RGBA"))
                frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="bgra")
                frame.pts, frame.time_base = start, MILLISECONDS
                for packet in video.encode(frame):  # FFV1 codes each frame at once: this frame's packet
                    packet.duration = duration
                    out.mux(packet)
                start += duration
            out.mux(video.encode(None))
    except (OSError, ValueError, EOFError) as e:
        unpacked.close()
        raise UserError(f"{path}: an animated WebP that cannot be decoded ({e})") from None
    unpacked.seek(0)
    return unpacked
