"""The live preview's source side: a camera, file or URL opened by OpenCV, read as it comes.

Its own module because reading is the one part of the preview that knows about capture
devices, and the one loop that must never wait for the model: the reader keeps only the
newest frame in a mailbox, so a slow model skips stale frames instead of building a queue.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from stream.console import opencv_silenced
from stream.errors import UserError
from stream.files import opencv_name
from stream.video.source import open_input, pick_video

AV_LOG_QUIET = "-8"

T = TypeVar("T")


@dataclass
class Shot:
    seq: int
    image: np.ndarray  # BGR, as captured
    captured: float  # perf_counter time


class Mailbox(Generic[T]):
    """Holds only the newest item: writers overwrite, readers never see a stale backlog."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()

    def put(self, item: T) -> None:
        with self._cond:
            self._item = item
            self._cond.notify_all()

    def newest(self) -> T | None:
        with self._cond:
            return self._item

    def wait_newer(self, seq: int, timeout: float) -> T | None:
        """The newest item if it is a shot newer than `seq`, waiting up to `timeout` seconds."""

        def newer() -> bool:
            return isinstance(self._item, Shot) and self._item.seq > seq

        with self._cond:
            return self._item if self._cond.wait_for(newer, timeout) else None


def open_capture(
    source: str, size: tuple[int, int] | None = None, fps: float | None = None
) -> tuple[cv2.VideoCapture, float | None]:
    """-> (capture, frame interval to pace a file at its own rate, or None for live sources).

    A camera is asked for `size` (W, H) and `fps`; what it grants is reported by `granted`.
    """
    camera = source.isdigit() or source.startswith("/dev/")
    if not camera and (size or fps):
        raise UserError(f"{source}: --size and --camera-fps are asked of cameras, not files or streams")
    is_file = not camera and Path(source).is_file()
    # FFmpeg inside OpenCV logs at its own level (OpenCV's logging does not reach it): "moov atom not found" and
    # "Cannot open video device" came before the one line that says what went wrong. Read at OpenCV's first use.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", AV_LOG_QUIET)
    with opencv_silenced(), opencv_name(source) if is_file else nullcontext(source) as name:
        capture = cv2.VideoCapture(int(source) if source.isdigit() else name)
    if not capture.isOpened():
        if camera and sys.platform.startswith("linux"):
            found = ", ".join(sorted(glob.glob("/dev/video*"))) or "none found"
            raise UserError(f"camera {source}: cannot open it (cameras: {found})")
        if camera:
            raise UserError(f"camera {source}: cannot open it")
        if is_file:
            raise why_unreadable(source)
        raise UserError(f"{source}: cannot open (no such camera, file or stream)")
    if size:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    if fps:
        capture.set(cv2.CAP_PROP_FPS, fps)
    rate = capture.get(cv2.CAP_PROP_FPS) if is_file else 0
    return capture, (1 / rate if rate and rate > 0 else None)


def why_unreadable(path: str) -> UserError:
    """Why OpenCV opened no video from a file, as `enhance` says it: "not a readable media file (...)", "no
    video stream" (OpenCV only says it did not)."""
    with open_input(path) as container:
        pick_video(container, None, path)
    return UserError(f"{path}: OpenCV cannot read its video; `drrn-stream` may (it reads with PyAV)")


def granted(capture: cv2.VideoCapture) -> str:
    """What the source delivers: 'WxH at F fps' (F as the driver reports it)."""
    w, h = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS)
    return f"{w}x{h}" + (f" at {fps:g} fps" if fps and fps > 0 else "")


def coding(capture: cv2.VideoCapture) -> str:
    """FFmpeg's name for how the source delivers frames, from its FOURCC: "mjpeg" (most USB cameras
    at 720p and up), "h264"; "rawvideo" for a camera's uncompressed modes (YUYV, NV12) or none said."""
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").strip("\0 ").lower()
    return _FOURCC_CODECS.get(fourcc, "rawvideo" if fourcc in _RAW_FOURCCS or not fourcc else fourcc)


_FOURCC_CODECS = {
    "mjpg": "mjpeg", "jpeg": "mjpeg", "avc1": "h264", "h264": "h264", "x264": "h264", "hev1": "hevc", "hvc1": "hevc",
    "hevc": "hevc", "vp80": "vp8", "vp90": "vp9", "av01": "av1", "mpng": "png",
}  # fmt: skip
_RAW_FOURCCS = {"yuyv", "yuy2", "uyvy", "nv12", "i420", "yv12", "bgr3", "rgb3", "grey", "y800", "y16"}


class Reader(threading.Thread):
    """Reads frames as they come and keeps only the newest; a file is paced at its frame rate."""

    def __init__(
        self, capture: cv2.VideoCapture, interval: float | None, shots: Mailbox[Shot], stop: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self.capture, self.interval, self.shots, self.stop = capture, interval, shots, stop
        self.ended = threading.Event()
        self.read = 0  # frames read

    def run(self) -> None:
        seq, start = 0, time.perf_counter()
        while not self.stop.is_set():
            ok, image = self.capture.read()
            if not ok:
                break
            seq = self.read = seq + 1
            if self.interval:
                time.sleep(max(0.0, start + seq * self.interval - time.perf_counter()))
            self.shots.put(Shot(seq, image, time.perf_counter()))
        self.ended.set()
