"""`drrn-stream live`: a camera (or a file, or a URL) through DRRN, shown as it comes.

Three loops: the reader keeps only the newest frame (a slow model never builds a queue, so
latency stays bounded), the model thread enhances the newest frame it has not seen, and
the main thread draws at display rate, so the window answers keys and the mouse even when
one enhanced frame takes seconds on a CPU. The window shows the bicubic upscale and DRRN
side by side, or one picture with a draggable split between them.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from kernels.errors import reason
from stream.apps.api import Comparison, FrameEnhancer
from stream.apps.latency import Choice, DepthController
from stream.console import say
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
    comparison: Comparison  # at the full output size, whatever size it was processed at
    model_ms: float
    done: float  # perf_counter time
    choice: Choice | None  # the depth and processing size it was made at (None: a model without depths)
    cold: bool = False  # the first frame at this choice: its time includes warm-up (CUDA graph capture)


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


def open_capture(
    source: str, size: tuple[int, int] | None = None, fps: float | None = None
) -> tuple[cv2.VideoCapture, float | None]:
    """-> (capture, frame interval to pace a file at its own rate, or None for live sources).

    A camera is asked for `size` (W, H) and `fps`; what it grants is reported by `granted`.
    """
    camera = source.isdigit() or source.startswith("/dev/")
    if not camera and (size or fps):
        raise UserError(f"{source}: --size and --camera-fps are asked of cameras, not files or streams")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its warnings would bury our one line
    try:
        capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        if camera and sys.platform.startswith("linux"):
            found = ", ".join(sorted(glob.glob("/dev/video*"))) or "none found"
            raise UserError(f"camera {source}: cannot open it (cameras: {found})")
        if camera:
            raise UserError(f"camera {source}: cannot open it")
        raise UserError(f"{source}: cannot open (no such camera, file or stream)")
    if size:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    if fps:
        capture.set(cv2.CAP_PROP_FPS, fps)
    is_file = not camera and Path(source).is_file()
    rate = capture.get(cv2.CAP_PROP_FPS) if is_file else 0
    return capture, (1 / rate if rate and rate > 0 else None)


def granted(capture: cv2.VideoCapture) -> str:
    """What the source delivers: 'WxH at F fps' (F as the driver reports it)."""
    w, h = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS)
    return f"{w}x{h}" + (f" at {fps:g} fps" if fps and fps > 0 else "")


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
    """Enhances the newest frame it has not seen yet; frames that arrive meanwhile are skipped.

    Each frame runs whole at one depth, set between frames: the controller's choice, else
    `units` (which keys change). A choice at a reduced processing size is brought back to the
    full output size, so that everything after sees one size.
    """

    def __init__(
        self,
        enhancer: FrameEnhancer,
        shots: Mailbox,
        results: Mailbox,
        stop: threading.Event,
        controller: DepthController | None = None,
        units: int | None = None,
    ):
        super().__init__(daemon=True)
        self.enhancer, self.shots, self.results, self.stop = enhancer, shots, results, stop
        self.controller, self.units = controller, units
        self.seen: set[Choice] = set()
        self.paused = False
        self.done_seq = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                shot = self.shots.wait_newer(self.done_seq, timeout=0.1)
                if shot is None or self.paused:
                    continue
                choice = self.controller.choice if self.controller else Choice(self.units, 1.0) if self.units else None
                cold = choice not in self.seen
                self.seen.add(choice)
                start = time.perf_counter()
                comparison = self.enhance(shot.image, choice)
                done = time.perf_counter()
                self.results.put(Result(shot, comparison, (done - start) * 1000, done, choice, cold))
                self.done_seq = shot.seq
        except BaseException as e:
            self.error = e
            self.stop.set()

    def enhance(self, image: np.ndarray, choice: Choice | None) -> Comparison:
        if choice is None:
            return self.enhancer.compare(image, order="bgr")
        self.enhancer.luma.restorer.units = choice.units
        if choice.size == 1:
            return self.enhancer.compare(image, order="bgr")
        h, w = image.shape[:2]
        small = cv2.resize(
            image, (max(round(w * choice.size), 1), max(round(h * choice.size), 1)), interpolation=cv2.INTER_AREA
        )
        c = self.enhancer.compare(small, order="bgr")
        full = (w * self.enhancer.scale, h * self.enhancer.scale)
        output = cv2.resize(c.output, full, interpolation=cv2.INTER_CUBIC)
        bicubic = cv2.resize(image, full, interpolation=cv2.INTER_CUBIC)  # of the whole frame: a fair comparison
        return Comparison(output, bicubic, c.psnr_vs_bicubic)  # PSNR at the processing size


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
                self.target if to_pipe else str(self.target), "w", format="nut" if to_pipe else None
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
        for packet in self.stream.encode(frame.reformat(format="yuv420p", **size)):
            self.container.mux(packet)
        self.frames = frame.pts + 1

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()
            if not isinstance(self.target, Path):
                self.target.flush()  # a pipe: its reader gets the end now, and a closed one raises here


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
class LiveOptions:
    window: bool = True  # False: headless (servers, tests)
    max_frames: int | None = None  # stop after this many enhanced frames
    record: Path | None = None  # what was shown, as H.264
    output: BinaryIO | None = None  # the enhanced frames with their capture times, raw video in NUT
    layout: str = "split"
    budget_ms: float | None = None  # keep capture-to-display latency within this by choosing the depth
    camera_size: tuple[int, int] | None = None
    camera_fps: float | None = None
    screenshots: Path = Path()


@dataclass
class LiveStats:
    frames: int = 0  # enhanced frames shown
    latency_ms: float = 0.0  # capture to display, mean
    psnr: float = 0.0  # DRRN against bicubic, mean
    seconds: float = 0.0
    source: str = ""  # what the source delivers, e.g. "640x480 at 30 fps"
    over_budget: int = 0  # frames shown later than the budget
    choices: list[Choice] = field(default_factory=list)  # the depth and processing size of each frame shown
    reader_closed: bool = False  # the reader of --output went away (a quiet end)

    def summary(self, budgeted: bool) -> str:
        """The closing line: frames, latency, the depths and sizes used, PSNR against bicubic."""
        units, sizes = [c.units for c in self.choices], sorted({c.size for c in self.choices})
        depths = f"depth {min(units)}..{max(units)}, mean {sum(units) / len(units):.1f}; " if units else ""
        depths += f"size {', '.join(f'{s:.0%}' for s in sizes)}; " if sizes and sizes != [1.0] else ""
        return (
            f"{self.frames} enhanced frames in {self.seconds:.1f} s; latency {self.latency_ms:.0f} ms"
            + (f" ({self.over_budget} over the budget)" if budgeted else "")
            + f", {depths}PSNR vs bicubic {self.psnr:.2f} dB"
        )


class Preview:
    """The main loop's state: what was last shown, keys, the recorder and output, the statistics."""

    def __init__(self, source: str, enhancer: FrameEnhancer, options: LiveOptions) -> None:
        if options.window:
            check_display()
        self.enhancer, self.options = enhancer, options
        self.capture, interval = open_capture(source, options.camera_size, options.camera_fps)
        self.stats = LiveStats(source=granted(self.capture))
        self.shots, self.results, self.stop = Mailbox(), Mailbox(), threading.Event()
        units = enhancer.luma.restorer.units
        self.controller = DepthController(options.budget_ms, units) if options.budget_ms else None
        self.reader = Reader(self.capture, interval, self.shots, self.stop)
        self.worker = Worker(enhancer, self.shots, self.results, self.stop, self.controller, units)
        self.recorder = Recorder(options.record) if options.record else None
        self.output = Recorder(options.output) if options.output else None
        self.view = View(layout=options.layout)
        self.shown_seq = self.shown_live = self.shot_count = 0
        self.start = time.perf_counter()
        self.canvas: np.ndarray | None = None
        self.window_open = False
        self.latencies: list[float] = []

    def run(self) -> LiveStats:
        """Show (or, without a window, just run) the preview until q, the source's end, or max_frames."""
        self.reader.start()
        self.worker.start()
        try:
            while not self.stop.is_set() and not self.step():
                pass
        finally:
            self.close()
        if self.worker.error is not None:
            raise self.worker.error
        stats = self.stats
        stats.seconds = time.perf_counter() - self.start
        stats.latency_ms = sum(self.latencies) / len(self.latencies) if self.latencies else float("nan")
        stats.psnr = stats.psnr / stats.frames if stats.frames else float("nan")
        return stats

    def step(self) -> bool:
        """Show what is new; True when the preview should end."""
        shot, result = self.shots.newest(), self.results.newest()
        assert shot is None or isinstance(shot, Shot)
        assert result is None or isinstance(result, Result)
        if result is not None and result.shot.seq != self.shown_seq:
            self.show(shot or result.shot, result)
            self.count(result)  # after drawing it: capture-to-display
        elif shot is not None and shot.seq != self.shown_live and self.options.window:
            self.show(shot, result)
        if self.options.max_frames is not None and self.stats.frames >= self.options.max_frames:
            return True
        if self.reader.ended.is_set() and self.shown_seq == (shot.seq if shot else 0):
            return True  # a file has ended and its last frame is shown
        if not self.window_open:  # headless, or nothing to show yet
            time.sleep(0.005)
            return False
        return self.on_key(cv2.waitKey(_KEY_WAIT_MS) & 0xFF)

    def count(self, result: Result) -> None:
        """A newly enhanced frame: its latency, the controller's lesson, the output stream."""
        self.shown_seq = result.shot.seq
        latency = (time.perf_counter() - result.shot.captured) * 1000
        self.latencies.append(latency)
        self.stats.frames += 1
        self.stats.psnr += result.comparison.psnr_vs_bicubic
        if result.choice is not None:
            self.stats.choices.append(result.choice)
        if self.options.budget_ms and latency > self.options.budget_ms:
            self.stats.over_budget += 1
        if self.controller is not None and result.choice is not None and not result.cold:
            pixels = result.comparison.output.shape[0] * result.comparison.output.shape[1]
            self.controller.observe(result.choice, pixels, result.model_ms, latency)
        if self.output is not None and not self.stats.reader_closed:
            try:
                self.output.write(result.comparison.output, result.shot.captured)
            except BrokenPipeError:
                self.stats.reader_closed = True  # the reader went away: a quiet end, as in `enhance - -`
                self.stop.set()

    def show(self, shot: Shot, result: Result | None) -> None:
        self.shown_live = shot.seq
        self.canvas = compose(self.view, shot, result, self.enhancer.scale, self.status(result))
        if self.recorder:
            self.recorder.write(self.canvas, time.perf_counter())
        if self.options.window:
            self.open_window()
            cv2.imshow(WINDOW, self.canvas)
            self.view.width = self.canvas.shape[1]
        self.shot_count += 1

    def open_window(self) -> None:
        """The window appears with the first picture, not empty while the model warms up."""
        if self.window_open:
            return
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no toolbar
            cv2.setMouseCallback(WINDOW, self.view.on_mouse)
        except cv2.error as e:
            raise UserError(f"cannot open a window ({reason(e)}); use --no-window") from None
        self.window_open = True

    def status(self, result: Result | None) -> str:
        choice = result.choice if result else None
        units = choice.units if choice else self.worker.units
        depth = f"DRRN B1U{units}" + (f" at {choice.size:.0%} size" if choice and choice.size < 1 else "")
        budget = f" (budget {self.options.budget_ms:g} ms)" if self.options.budget_ms else ""
        elapsed = time.perf_counter() - self.start
        return (
            f"{depth}  {self.stats.frames / elapsed:.2f} fps  "
            f"latency {self.latencies[-1] if self.latencies else 0:.0f} ms{budget}  "
            f"PSNR vs bicubic {result.comparison.psnr_vs_bicubic if result else float('nan'):.2f} dB"
            + ("  [paused]" if self.worker.paused else "")
        )

    def on_key(self, key: int) -> bool:
        """q or Esc ends; space pauses; s saves a screenshot; +/- change the (greatest) depth."""
        if key in (ord("q"), 27):
            return True
        if key == ord(" "):
            self.worker.paused = not self.worker.paused
        elif key == ord("s") and self.canvas is not None:
            path = self.options.screenshots / f"drrn-live-{time.strftime('%Y%m%d-%H%M%S')}-{self.shown_seq}.png"
            cv2.imwrite(str(path), self.canvas)
            say(f"saved {path}")
        elif key in (ord("+"), ord("="), ord("-"), ord("_")):
            step = 1 if key in (ord("+"), ord("=")) else -1
            if self.controller is not None:
                self.controller.limit(min(max(self.controller.max_units + step, 1), _MAX_UNITS))
            elif self.worker.units:
                self.worker.units = min(max(self.worker.units + step, 1), _MAX_UNITS)  # from the next frame
        return False

    def close(self) -> None:
        """Stop the threads and close everything, each step even if an earlier one fails."""
        self.stop.set()
        with ExitStack() as stack:
            if self.window_open:
                stack.callback(cv2.destroyAllWindows)
            if self.recorder is not None:
                stack.callback(self.recorder.close)
            if self.output is not None:
                stack.callback(self._close_output)
            stack.callback(self.capture.release)
            if self.worker.ident is not None:
                stack.callback(self.worker.join)
            if self.reader.ident is not None:
                stack.callback(self.reader.join, 2)

    def _close_output(self) -> None:
        assert self.output is not None
        if self.stats.reader_closed:
            return  # nothing reaches the reader any more: no trailer to write
        try:
            self.output.close()
        except (BrokenPipeError, av.error.PyAVCallbackError):  # the pipe closed at the end: PyAV wraps the error
            self.stats.reader_closed = True  # what was written is all its reader wanted
