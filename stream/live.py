"""`drrn-stream live`: a camera (or a file, or a URL) through DRRN, shown as it comes.

Three loops: the reader keeps only the newest frame (a slow model never builds a queue, so
latency stays bounded), the model thread enhances the newest frame it has not seen, and
the main thread draws at display rate, so the window answers keys and the mouse even when
one enhanced frame takes seconds on a CPU. The window shows the bicubic upscale and DRRN
side by side, or one picture with a draggable split between them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from stream.api import Comparison, FrameEnhancer
from stream.errors import UserError

WINDOW = "drrn-stream live"
_KEY_WAIT_MS = 15
_MAX_UNITS = 50


@dataclass
class Shot:
    seq: int
    image: np.ndarray  # BGR, as captured
    captured: float  # perf_counter time


@dataclass
class Result:
    shot: Shot
    comparison: Comparison
    model_ms: float
    done: float  # perf_counter time


class Mailbox:
    """Holds only the newest item: writers overwrite, readers never see a stale backlog."""

    def __init__(self) -> None:
        self._item: Shot | Result | None = None
        self._cond = threading.Condition()

    def put(self, item: Shot | Result) -> None:
        with self._cond:
            self._item = item
            self._cond.notify_all()

    def newest(self) -> Shot | Result | None:
        with self._cond:
            return self._item

    def wait_newer(self, seq: int, timeout: float) -> Shot | None:
        """The newest shot if it is newer than `seq`, waiting up to `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: isinstance(self._item, Shot) and self._item.seq > seq, timeout)
            item = self._item
            return item if isinstance(item, Shot) and item.seq > seq else None


def open_capture(source: str) -> tuple[cv2.VideoCapture, float | None]:
    """-> (capture, frame interval to pace a file at its own rate, or None for live sources)."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise UserError(f"{source}: cannot open (no such camera, file or stream)")
    is_file = not source.isdigit() and Path(source).is_file()
    fps = capture.get(cv2.CAP_PROP_FPS) if is_file else 0
    return capture, (1 / fps if fps and fps > 0 else None)


class Reader(threading.Thread):
    """Reads frames as they come and keeps only the newest; a file is paced at its frame rate."""

    def __init__(self, capture: cv2.VideoCapture, interval: float | None, shots: Mailbox, stop: threading.Event):
        super().__init__(daemon=True)
        self.capture, self.interval, self.shots, self.stop = capture, interval, shots, stop
        self.ended = threading.Event()

    def run(self) -> None:
        seq, start = 0, time.perf_counter()
        while not self.stop.is_set():
            ok, image = self.capture.read()
            if not ok:
                break
            seq += 1
            if self.interval:
                time.sleep(max(0.0, start + seq * self.interval - time.perf_counter()))
            self.shots.put(Shot(seq, image, time.perf_counter()))
        self.ended.set()


class Worker(threading.Thread):
    """Enhances the newest frame it has not seen yet; frames that arrive meanwhile are skipped."""

    def __init__(self, enhancer: FrameEnhancer, shots: Mailbox, results: Mailbox, stop: threading.Event):
        super().__init__(daemon=True)
        self.enhancer, self.shots, self.results, self.stop = enhancer, shots, results, stop
        self.paused = False
        self.done_seq = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                shot = self.shots.wait_newer(self.done_seq, timeout=0.1)
                if shot is None or self.paused:
                    continue
                start = time.perf_counter()
                comparison = self.enhancer.compare(shot.image, order="bgr")
                done = time.perf_counter()
                self.results.put(Result(shot, comparison, (done - start) * 1000, done))
                self.done_seq = shot.seq
        except BaseException as e:
            self.error = e
            self.stop.set()


class Recorder:
    """Writes the frames that were shown, at the times they were shown (H.264, variable rate)."""

    def __init__(self, path: Path) -> None:
        self.path, self.container, self.stream, self.start = path, None, None, 0.0
        self.frames = 0

    def write(self, canvas: np.ndarray, now: float) -> None:
        h, w = canvas.shape[0] // 2 * 2, canvas.shape[1] // 2 * 2  # 4:2:0 needs even sizes
        if self.container is None:
            try:
                self.container = av.open(str(self.path), "w")
            except (OSError, av.FFmpegError, ValueError) as e:
                raise UserError(f"{self.path}: cannot record ({e})") from None
            self.stream = self.container.add_stream("libx264", rate=30, options={"crf": "18"})
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
            self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, 1000)
            self.start = now
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[:h, :w]), format="bgr24")
        frame.pts = max(self.frames, round((now - self.start) * 1000))  # ms, strictly increasing
        frame.time_base = Fraction(1, 1000)
        for packet in self.stream.encode(frame.reformat(format="yuv420p")):
            self.container.mux(packet)
        self.frames = frame.pts + 1

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()


@dataclass
class View:
    """What the window shows and how; changed by keys and the mouse."""

    layout: str = "split"  # "split": one picture, bicubic left of a draggable line; "side": two panes
    split: float = 0.5  # the split line, as a fraction of the width
    dragging: bool = False
    width: int = 1  # of the picture last shown

    def on_mouse(self, event: int, x: int, _y: int, flags: int, _param: object) -> None:
        if event == cv2.EVENT_LBUTTONDOWN:
            self.dragging = True
        elif event == cv2.EVENT_LBUTTONUP:
            self.dragging = False
        if self.dragging or (event == cv2.EVENT_MOUSEMOVE and flags & cv2.EVENT_FLAG_LBUTTON):
            self.split = min(max(x / self.width, 0.0), 1.0)


def compose(view: View, shot: Shot | None, result: Result | None, scale: int, status: str) -> np.ndarray:
    """The picture to show: bicubic and DRRN (side by side, or split), with a status bar."""
    if result is not None:
        bicubic, drrn = result.comparison.bicubic, result.comparison.output
    else:  # nothing enhanced yet: the live input, upscaled
        assert shot is not None
        h, w = shot.image.shape[:2]
        bicubic = drrn = cv2.resize(shot.image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    if view.layout == "side":
        live = bicubic
        if shot is not None and result is not None and shot.seq != result.shot.seq:
            h, w = shot.image.shape[:2]
            live = cv2.resize(shot.image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        canvas = np.hstack([live, drrn])
        labels = [("bicubic (live)", 0), ("DRRN", live.shape[1])]
    else:
        x = round(view.split * drrn.shape[1])
        canvas = drrn.copy()
        canvas[:, :x] = bicubic[:, :x]
        cv2.line(canvas, (x, 0), (x, canvas.shape[0]), (255, 255, 255), 1)
        labels = [("bicubic", max(0, x - 90)), ("DRRN", x + 6)]
    bar = 22
    canvas = np.vstack([np.zeros((bar, canvas.shape[1], 3), np.uint8), canvas])
    size = min(0.45, canvas.shape[1] / (len(status) * 19))  # fit the status to narrow pictures
    cv2.putText(canvas, status, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)
    for text, x in labels:
        cv2.putText(canvas, text, (x + 4, bar + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
    return canvas


def check_display() -> None:
    """OpenCV aborts the process when it cannot open a window; say so in one line instead."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display to open a window on (DISPLAY is not set); use --no-window")


@dataclass
class LiveStats:
    frames: int = 0  # enhanced frames shown
    latency_ms: float = 0.0  # capture to display, mean
    psnr: float = 0.0  # DRRN against bicubic, mean
    seconds: float = 0.0


def run_live(
    source: str,
    enhancer: FrameEnhancer,
    window: bool = True,
    max_frames: int | None = None,
    record: Path | None = None,
    layout: str = "split",
    screenshots: Path = Path(),
) -> LiveStats:
    """Show (or, without a window, just run) the preview until q, the source's end, or max_frames."""
    if window:
        check_display()
    capture, interval = open_capture(source)
    shots, results, stop = Mailbox(), Mailbox(), threading.Event()
    reader, worker = Reader(capture, interval, shots, stop), Worker(enhancer, shots, results, stop)
    recorder = Recorder(record) if record else None
    view, stats = View(layout=layout), LiveStats()
    restorer = enhancer.luma.restorer
    latencies: list[float] = []
    if window:
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no toolbar
            cv2.setMouseCallback(WINDOW, view.on_mouse)
        except cv2.error as e:
            raise UserError(f"cannot open a window ({str(e).strip().splitlines()[-1]}); use --no-window") from None
    reader.start()
    worker.start()
    start, shown_seq, shown_live, shot_count = time.perf_counter(), 0, 0, 0
    try:
        while not stop.is_set():
            shot, result = shots.newest(), results.newest()
            assert shot is None or isinstance(shot, Shot)
            assert result is None or isinstance(result, Result)
            new_result = result is not None and result.shot.seq != shown_seq
            new_shot = shot is not None and shot.seq != shown_live
            if new_result:
                shown_seq = result.shot.seq
                stats.frames += 1
                latencies.append((time.perf_counter() - result.shot.captured) * 1000)
                stats.psnr += result.comparison.psnr_vs_bicubic
            if shot is not None and (new_result or (new_shot and window)):
                shown_live = shot.seq
                elapsed = time.perf_counter() - start
                status = (
                    f"DRRN B1U{restorer.units}  {stats.frames / elapsed:.2f} fps  "
                    f"latency {latencies[-1] if latencies else 0:.0f} ms  "
                    f"PSNR vs bicubic {result.comparison.psnr_vs_bicubic if result else float('nan'):.2f} dB"
                    + ("  [paused]" if worker.paused else "")
                )
                canvas = compose(view, shot, result, enhancer.scale, status)
                if recorder:
                    recorder.write(canvas, time.perf_counter())
                if window:
                    cv2.imshow(WINDOW, canvas)
                    view.width = canvas.shape[1]
                shot_count += 1
            if max_frames is not None and stats.frames >= max_frames:
                break
            if reader.ended.is_set() and shown_seq == (shot.seq if shot else 0):
                break  # a file has ended and its last frame is shown
            if window:
                key = cv2.waitKey(_KEY_WAIT_MS) & 0xFF
                if key in (ord("q"), 27):
                    break
                if key == ord(" "):
                    worker.paused = not worker.paused
                elif key == ord("s") and shot_count:
                    path = screenshots / f"drrn-live-{time.strftime('%Y%m%d-%H%M%S')}-{shown_seq}.png"
                    cv2.imwrite(str(path), canvas)
                elif key in (ord("+"), ord("=")):
                    restorer.units = min(restorer.units + 1, _MAX_UNITS)
                elif key in (ord("-"), ord("_")):
                    restorer.units = max(restorer.units - 1, 1)
            else:
                time.sleep(0.005)
    finally:
        stop.set()
        reader.join(timeout=2)
        worker.join()
        capture.release()
        if recorder:
            recorder.close()
        if window:
            cv2.destroyAllWindows()
    if worker.error is not None:
        raise worker.error
    stats.seconds = time.perf_counter() - start
    stats.latency_ms = sum(latencies) / len(latencies) if latencies else float("nan")
    stats.psnr = stats.psnr / stats.frames if stats.frames else float("nan")
    return stats
