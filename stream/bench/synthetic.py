"""Generated test pictures and clips: content with edges and texture, made on the spot."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """Frame i of a moving pattern (H x W x 3 uint8 RGB), so the model and encoder have work to do."""
    y, x = np.mgrid[0:height, 0:width]
    img = 128 + 60 * np.sin((x + 3 * i) / 3.0) * np.cos(y / 4.0) + 40 * ((x // 8 + y // 8 + i) % 2)
    rgb = np.stack([img, np.roll(img, i, axis=1), 255 - img], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_clip(path: Path, width: int, height: int, frames: int, fps: int = 25, gop: int | None = None) -> Path:
    """An H.264 clip of `frames` pattern frames, video only; a keyframe every `gop` frames if given."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if gop:
            video.codec_context.options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path
