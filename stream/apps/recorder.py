"""Writing the live preview's pictures as they are shown: `--record` (what the window showed,
H.264) and `--output -` (the enhanced frames, raw video in NUT to a pipe).

Its own module because both are one job, frames at the times they were given, which has
nothing to do with the window or the model; PyAV is imported here and nowhere else in the preview.
"""

from __future__ import annotations

from contextlib import suppress
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from kernels.errors import reason
from stream.errors import UserError
from stream.video.pipe_ends import for_pyav, signals_passed_on
from stream.video.targets import FRAGMENTED, MP4_FAMILY, FileTarget

PipeClosed = (BrokenPipeError, av.error.PyAVCallbackError)  # a pipe that closed at the end: PyAV wraps the error
# A recording cut off where nothing can finish it (the display's X connection lost: Qt ends the process at once)
# still plays, but its last second: each packet leaves PyAV's buffer as it is muxed, and MP4 and MOV are written in
# fragments of a second (Matroska plays as it grows)
FLUSHED = {"flush_packets": "1"}
FRAGMENTED_BY_SECOND = FRAGMENTED | {"frag_duration": "1000000"}
# x264 holds no frames back (no lookahead, no B-frames): what was shown is in the file as it is shown
H264 = {"crf": "18", "tune": "zerolatency"}
# Where frames keep the times they were shown at (ms): AVI counts frames at a header's rate (1000 fps, an index
# entry a millisecond), MPEG-TS is a broadcast's; the others hold no H.264
RECORDED_IN = {*MP4_FAMILY, "matroska"}


class Recorder:
    """Writes frames at the times they are given (variable rate, ms): H.264 to a file (grown beside itself, renamed
    when closed, removed if no frame came), or raw video in NUT to a pipe (stdout), which ffmpeg and ffplay read as
    it comes. Opened at once, before the camera and the model: a container other than MP4, Matroska or MOV is
    said then."""

    def __init__(self, target: FileTarget | BinaryIO) -> None:
        self.file, self.pipe = (target, None) if isinstance(target, FileTarget) else (None, target)
        self.name = str(target.dst) if isinstance(target, FileTarget) else "stdout"
        self.frames, self.start, self.sized, self.closed, self.broken = 0, 0.0, False, False, False
        try:
            if isinstance(target, FileTarget):
                self.container = av.open(str(target.open(keep_leftover=True)), "w", options=dict(FLUSHED))
            else:
                self.container = av.open(for_pyav(target), "w", format="nut")
        except (OSError, av.FFmpegError, ValueError) as e:
            self._discard()
            raise UserError(f"{self.name}: cannot record ({reason(e)})") from None
        kind = self.container.format.name
        if kind in MP4_FAMILY:
            self.container.options.update(FRAGMENTED_BY_SECOND)  # (read as the header is written, at the first frame)
        if self.file is not None and kind not in RECORDED_IN:  # WebM, GIF, pictures, Y4M; AVI, MPEG-TS
            self.container.close()
            self._discard()
            raise UserError(f"{self.name}: --record writes H.264 at each frame's time into MP4, Matroska or MOV, not "
                            f"{kind}; name a .mp4, .mkv or .mov")  # fmt: skip
        codec, options = ("libx264", H264) if self.file is not None else ("rawvideo", {})
        self.stream = self.container.add_stream(codec, rate=30, options=options)
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, 1000)

    def write(self, image: np.ndarray, now: float) -> None:
        if not self.sized:  # the first frame's size; a source that changes size is scaled to it
            self.stream.width, self.stream.height = self._coded_size(image)
            self.start, self.sized = now, True
        if self.file is not None:  # 4:2:0 H.264 needs even sizes: an odd row or column repeated, none lost
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = max(self.frames, round((now - self.start) * 1000))  # ms, strictly increasing
        frame.time_base = Fraction(1, 1000)
        size = {"width": self.stream.width, "height": self.stream.height}
        try:
            with signals_passed_on():  # stdout (video/pipe_ends.py), written from the main thread
                for packet in self.stream.encode(frame.reformat(format="yuv420p", **size)):
                    self.container.mux(packet)
        except Exception:  # the file's or the pipe's end (a full disk, a closed reader)
            self.broken = True  # (a 0-byte file had replaced the one -y was to replace)
            raise  # (a stop signal is raised between whole packets: what is written plays, and is kept)
        self.frames = frame.pts + 1

    def _coded_size(self, image: np.ndarray) -> tuple[int, int]:
        """H.264's even size for a file; a pipe's frames as they are (raw video takes odd sizes)."""
        h, w = image.shape[:2]
        return (w + w % 2, h + h % 2) if self.file is not None else (w, h)

    def close(self) -> None:
        """The stream finished and, for a file, put in place; a file no frame reached is removed."""
        if self.closed:
            return
        self.closed = True
        if self.broken:  # what failed has been said: what was made of it goes
            with suppress(Exception):
                self.container.close()
            self._discard()
            return
        try:
            if self.sized:
                with signals_passed_on():
                    for packet in self.stream.encode(None):
                        self.container.mux(packet)
            self.container.close()
            if self.pipe is not None:
                self.pipe.flush()  # its reader gets the end now, and a closed one raises here
        except Exception:
            self._discard()
            raise
        except BaseException:  # a second stop signal while it finishes: what is written plays (flushed, fragments)
            if self.recorded:
                self.file.commit()  # type: ignore[union-attr]
            raise
        if self.recorded:
            self.file.commit()  # type: ignore[union-attr]
        else:
            self._discard()

    @property
    def recorded(self) -> bool:
        """Whether a recording was put in place."""
        return self.file is not None and self.sized and not self.broken

    def _discard(self) -> None:
        if self.file is not None:
            self.file.discard()
