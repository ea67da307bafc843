"""Render samples/sample.mp4: a short clip this project made itself, for the README's demo.

Everything is drawn here: a zone plate, text, stripes and a bouncing disc, rendered at 4x
and area-downscaled to 128x72 so the small frames carry real fine detail, plus a stereo
chord. Two seconds at 8 fps keep the demo under a minute on two CPU cores.

    python samples/make_sample.py
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS, SUPERSAMPLE = 128, 72, 8, 2, 4


def render(t: float) -> np.ndarray:
    """One RGB frame at time t (seconds)."""
    w, h = WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = (x - w * 0.72) ** 2 + (y - h * 0.5) ** 2
    zone = 0.5 + 0.5 * np.cos(r2 / (w * 2.2) + 3 * t)  # rings that get finer outwards
    img = np.stack([0.25 + 0.5 * zone, 0.3 + 0.4 * zone, 0.55 + 0.35 * (1 - zone)], axis=-1)
    stripes = 0.9 - 0.4 * ((x[:, : int(w * 0.42)] + 40 * t) // 12 % 2)  # scrolling left
    img[:, : int(w * 0.42)] = stripes[..., None] * np.array([0.95, 0.85, 0.7])
    img = (img * 255).astype(np.uint8)
    cx = int(w * (0.25 + 0.15 * np.sin(2 * np.pi * t / SECONDS)))
    cv2.circle(img, (cx, int(h * 0.72)), h // 7, (200, 40, 40), -1, cv2.LINE_AA)
    cv2.putText(img, "drrn-stream", (int(w * 0.04), int(h * 0.3)), cv2.FONT_HERSHEY_SIMPLEX, 2.6, (20, 20, 60), 7,
                cv2.LINE_AA)  # fmt: skip
    return cv2.resize(img, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def main() -> None:
    path = Path(__file__).with_name("sample.mp4")
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=FPS, options={"crf": "14", "preset": "veryslow"})
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx = video.codec_context
    ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 1, 1, 1  # BT.709, studio range
    audio = out.add_stream("aac", rate=48000, layout="stereo")
    for i in range(FPS * SECONDS):
        frame = av.VideoFrame.from_ndarray(render(i / FPS), format="rgb24").reformat(
            format="yuv420p", dst_colorspace="itu709"
        )
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc = 1, 1, 1, 1
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    t = np.arange(48000 * SECONDS) / 48000
    left = 0.15 * (np.sin(2 * np.pi * 261.6 * t) + np.sin(2 * np.pi * 329.6 * t))
    right = 0.15 * (np.sin(2 * np.pi * 392.0 * t) + np.sin(2 * np.pi * 523.3 * t))
    pcm = np.stack([left, right]).astype(np.float32)
    for start in range(0, pcm.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start : start + 1024]), format="fltp",
                                           layout="stereo")  # fmt: skip
        frame.sample_rate, frame.pts = 48000, start
        for packet in audio.encode(frame):
            out.mux(packet)
    for packet in audio.encode(None):
        out.mux(packet)
    out.close()


if __name__ == "__main__":
    main()
