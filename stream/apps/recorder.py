"""Writing the live preview's pictures as they are shown: `--record` (what the window showed,
H.264) and `--output -` (the enhanced frames, raw video in NUT to a pipe).

Its own module because both are one job, frames at the times they were given, which has
nothing to do with the window or the model; PyAV is imported here and nowhere else in the preview.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from stream.errors import UserError
from stream.video.pipe_ends import for_pyav, signals_passed_on

PipeClosed = (BrokenPipeError, av.error.PyAVCallbackError)  # a pipe that closed at the end: PyAV wraps the error


class Recorder:
    """Writes frames at the times they are given (variable rate, ms): H.264 to a file, or raw
    video in NUT to a pipe (stdout), which ffmpeg and ffplay read as it comes."""

    def __init__(self, target: Path | BinaryIO) -> None:
        self.target, self.container, self.stream, self.start = target, None, None, 0.0
        self.frames = 0

    def _open(self, width: int, height: int, now: float) -> None:
        to_pipe = not isinstance(self.target, Path)
        try:
            self.container = av.open(
                for_pyav(self.target) if to_pipe else str(self.target), "w", format="nut" if to_pipe else None
            )
        except (OSError, av.FFmpegError, ValueError) as e:
            raise UserError(f"{self.target}: cannot record ({e})") from None
        codec, options = ("rawvideo", {}) if to_pipe else ("libx264", {"crf": "18"})
        self.stream = self.container.add_stream(codec, rate=30, options=options)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, 1000)
        self.start = now

    def write(self, image: np.ndarray, now: float) -> None:
        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2  # 4:2:0 needs even sizes
        if self.container is None:
            self._open(w, h, now)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="bgr24")
        frame.pts = max(self.frames, round((now - self.start) * 1000))  # ms, strictly increasing
        frame.time_base = Fraction(1, 1000)
        size = {"width": self.stream.width, "height": self.stream.height}  # a source that changes size: scaled
        with signals_passed_on():  # stdout (video/pipe_ends.py), written from the main thread
            for packet in self.stream.encode(frame.reformat(format="yuv420p", **size)):
                self.container.mux(packet)
        self.frames = frame.pts + 1

    def close(self) -> None:
        if self.container is not None:
            with signals_passed_on():
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
                self.container.close()
            if not isinstance(self.target, Path):
                self.target.flush()  # a pipe: its reader gets the end now, and a closed one raises here
