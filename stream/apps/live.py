"""`drrn-stream live`: a camera (or a file, or a URL) through DRRN, shown as it comes.

Three loops: the reader keeps only the newest frame (a slow model never builds a queue, so
latency stays bounded), the model thread enhances the newest frame it has not seen, and
the main thread draws at display rate, so the window answers keys and the mouse even when
one enhanced frame takes seconds on a CPU. The window shows the bicubic upscale and DRRN
side by side, or one picture with a draggable split between them.

This module holds the model thread and the main loop that ties the parts together: the
source side is capture.py, the drawing window.py, the writers recorder.py, and the depth
(its one owner, fixed or kept within a latency budget) latency.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from stream.apps.api import Comparison, FrameEnhancer
from stream.apps.capture import Mailbox, Reader, Shot, coding, granted, open_capture
from stream.apps.latency import Choice, Depth
from stream.apps.recorder import PipeClosed, Recorder
from stream.apps.window import View, Window, check_display, compose, save_screenshot, status_line
from stream.console import counted, say
from stream.errors import LEFT_RUNNING, UserError

__all__ = ["LiveOptions", "LiveStats", "Preview", "Result", "Worker"]
READER_JOIN_S = 2.0  # how long closing waits for the reader (a file's or a live camera's gives a frame well within)


@dataclass
class Result:
    shot: Shot
    comparison: Comparison  # at the full output size, whatever size it was processed at
    model_ms: float
    done: float  # perf_counter time
    choice: Choice  # the depth and processing size it actually ran at
    cold: bool = False  # the first frame at this choice: its time includes warm-up (CUDA graph capture)


class Worker(threading.Thread):
    """Enhances the newest frame it has not seen yet; frames that arrive meanwhile are skipped.

    Each frame runs whole at one depth, read from `depth` once before it starts, and its Result
    records that depth. A choice at a reduced processing size is brought back to the full
    output size, so that everything after sees one size.
    """

    def __init__(
        self,
        enhancer: FrameEnhancer,
        shots: Mailbox[Shot],
        results: Mailbox[Result],
        stop: threading.Event,
        depth: Depth,
    ) -> None:
        super().__init__(daemon=True)
        self.enhancer, self.shots, self.results, self.stop, self.depth = enhancer, shots, results, stop, depth
        self.seen: set[Choice] = set()
        self.paused = False
        self.done_seq = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                shot = self.shots.wait_newer(self.done_seq, timeout=0.1)
                if shot is not None and not self.paused:
                    self.results.put(self.process(shot))
                    self.done_seq = shot.seq
        except BaseException as e:
            self.error = e
            self.stop.set()

    def process(self, shot: Shot) -> Result:
        """One frame, at the depth read now: keys pressed meanwhile apply from the next frame."""
        choice = self.depth.next()
        cold = choice not in self.seen
        self.seen.add(choice)
        start = time.perf_counter()
        comparison = self.enhance(shot.image, choice)
        done = time.perf_counter()
        return Result(shot, comparison, (done - start) * 1000, done, choice, cold)

    def enhance(self, image: np.ndarray, choice: Choice) -> Comparison:
        if choice.size == 1:
            return self.enhancer.compare(image, order="bgr", units=choice.units)
        h, w = image.shape[:2]
        small = cv2.resize(
            image, (max(round(w * choice.size), 1), max(round(h * choice.size), 1)), interpolation=cv2.INTER_AREA
        )
        c = self.enhancer.compare(small, order="bgr", units=choice.units)
        full = (w * self.enhancer.scale, h * self.enhancer.scale)
        output = cv2.resize(c.output, full, interpolation=cv2.INTER_CUBIC)
        bicubic = cv2.resize(image, full, interpolation=cv2.INTER_CUBIC)  # of the whole frame: a fair comparison
        return Comparison(output, bicubic, c.psnr_vs_bicubic)  # PSNR at the processing size


@dataclass
class LiveOptions:
    window: bool = True  # False: headless (servers, tests)
    max_frames: int | None = None  # stop after this many enhanced frames
    record: Recorder | None = None  # what was shown, as H.264 (opened by the caller, before the camera and model)
    output: BinaryIO | None = None  # the enhanced frames with their capture times, raw video in NUT
    layout: str = "split"
    budget_ms: float | None = None  # keep capture-to-display latency within this by choosing the depth
    camera_size: tuple[int, int] | None = None
    camera_fps: float | None = None
    screenshots: Path = Path()


@dataclass
class LiveStats:
    frames: int = 0  # enhanced frames shown
    read: int = 0  # frames the source gave (those that came while the model ran are shown as they came, or skipped)
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
            f"{counted(self.frames, 'enhanced frame')} of {self.read} read in {self.seconds:.1f} s; latency "
            f"{self.latency_ms:.0f} ms"
            + (f" ({self.over_budget} over the budget)" if budgeted else "")
            + f", {depths}PSNR vs bicubic {self.psnr:.2f} dB"
        )


class Preview:
    """The main loop's state: what was last shown, keys, the recorder and output, the statistics."""

    def __init__(self, source: str, make_enhancer: Callable[[str], FrameEnhancer], options: LiveOptions) -> None:
        """`make_enhancer` builds the model for the source's coding ("mjpeg", "rawvideo": capture.coding)."""
        if options.window:
            check_display()  # before the camera and the model, not after
        self.source, self.options = source, options
        self.capture, interval = open_capture(source, options.camera_size, options.camera_fps)
        try:
            self.enhancer = enhancer = make_enhancer(coding(self.capture))
            restorer = enhancer.luma.restorer
            self.depth = Depth(restorer.units, restorer.variable_depth, options.budget_ms)
        except BaseException:
            self.capture.release()
            raise
        self.stats = LiveStats(source=granted(self.capture))
        self.shots: Mailbox[Shot] = Mailbox()
        self.results: Mailbox[Result] = Mailbox()
        self.stop = threading.Event()
        self.reader = Reader(self.capture, interval, self.shots, self.stop)
        self.worker = Worker(enhancer, self.shots, self.results, self.stop, self.depth)
        self.recorder = options.record
        self.output = Recorder(options.output) if options.output else None
        self.view = View(layout=options.layout)
        self.window = Window(self.view) if options.window else None
        self.shown_seq = self.shown_live = self.shot_count = 0
        self.start = time.perf_counter()
        self.canvas: np.ndarray | None = None
        self.shown_status = ""  # what the status bar says now
        self.latencies: list[float] = []
        self.said_fixed = False  # the notice that +/- do nothing, said once

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
        stats.read = self.reader.read
        if stats.read == 0 and self.reader.ended.is_set():  # it had ended with "latency nan ms", exit 0
            raise UserError(f"{self.source}: no frame came from it (cut short or damaged?)")
        stats.seconds = time.perf_counter() - self.start
        stats.latency_ms = sum(self.latencies) / len(self.latencies) if self.latencies else float("nan")
        stats.psnr = stats.psnr / stats.frames if stats.frames else float("nan")
        return stats

    def step(self) -> bool:
        """Show what is new; True when the preview should end."""
        shot, result = self.shots.newest(), self.results.newest()
        if result is not None and result.shot.seq != self.shown_seq:
            self.show(shot or result.shot, result)
            self.count(result)  # after drawing it: capture-to-display
        elif shot is not None and shot.seq != self.shown_live and self.window is not None:
            self.show(shot, result)
        if self.options.max_frames is not None and self.stats.frames >= self.options.max_frames:
            return True
        if self.reader.ended.is_set() and self.shown_seq == (shot.seq if shot else 0):
            return True  # a file has ended and its last frame is shown
        if self.window is None or not self.window.opened:  # headless, or nothing to show yet
            time.sleep(0.005)
            return False
        return self.on_key(self.window.key()) or self.window.closed()

    def count(self, result: Result) -> None:
        """A newly enhanced frame: its latency, the controller's lesson, the output stream."""
        self.shown_seq = result.shot.seq
        latency = (time.perf_counter() - result.shot.captured) * 1000
        self.latencies.append(latency)
        self.stats.frames += 1
        self.stats.psnr += result.comparison.psnr_vs_bicubic
        self.stats.choices.append(result.choice)
        if self.options.budget_ms and latency > self.options.budget_ms:
            self.stats.over_budget += 1
        if not result.cold:
            pixels = result.comparison.output.shape[0] * result.comparison.output.shape[1]
            self.depth.observe(result.choice, pixels, result.model_ms, latency)
        if self.output is not None and not self.stats.reader_closed:
            try:
                self.output.write(result.comparison.output, result.shot.captured)
            except BrokenPipeError:
                self.stats.reader_closed = True  # the reader went away: a quiet end, as in `enhance - -`
                self.stop.set()

    def show(self, shot: Shot, result: Result | None) -> None:
        self.shown_live, self.shown_status = shot.seq, self.status(result)
        self.canvas = compose(self.view, shot, result, self.enhancer.scale, self.shown_status)
        if self.recorder:
            self.recorder.write(self.canvas, time.perf_counter())
        if self.window is not None:
            self.window.show(self.canvas)
        self.shot_count += 1

    def status(self, result: Result | None) -> str:
        """The status bar for `result`: the depth it ran at, not the one keys have set since."""
        return status_line(
            result.choice if result else None,
            fps=1000 / result.model_ms if result and result.model_ms else 0,  # the model's, not the pauses' too
            latency_ms=self.latencies[-1] if self.latencies else 0,
            psnr=result.comparison.psnr_vs_bicubic if result else float("nan"),
            budget_ms=self.options.budget_ms,
            paused=self.worker.paused,
        )

    def on_key(self, key: int) -> bool:
        """q or Esc ends; space pauses; s saves a screenshot; +/- change the (greatest) depth."""
        if key in (ord("q"), 27):
            return True
        if key == ord(" "):
            self.worker.paused = not self.worker.paused
        elif key == ord("s") and self.canvas is not None:
            save_screenshot(self.canvas, self.options.screenshots, self.shown_seq)
        elif key in (ord("+"), ord("="), ord("-"), ord("_")):
            changed = self.depth.step(1 if key in (ord("+"), ord("=")) else -1)  # from the next frame
            if not changed and not self.said_fixed:
                self.said_fixed = True
                say(f"an ONNX file runs the depth it was exported with (B1U{self.depth.units}); +/- do nothing")
        return False

    def close(self) -> None:
        """Stop the threads and close everything, each step even if an earlier one fails."""
        self.stop.set()
        with ExitStack() as stack:
            if self.window is not None:
                stack.callback(self.window.close)
            if self.recorder is not None:
                stack.callback(self.recorder.close)
            if self.output is not None:
                stack.callback(self._close_output)
            stack.callback(self.capture.release)
            if self.worker.ident is not None:
                stack.callback(self.worker.join)
            if self.reader.ident is not None:
                stack.callback(self._let_go_of_reader)

    def _let_go_of_reader(self) -> None:
        """The reader joined, for a while: a camera that gives no frame holds it in OpenCV's C++ code, where it is
        left running (stream.errors.LEFT_RUNNING: the CLI exits without the finalisation that would abort on it)."""
        self.reader.join(READER_JOIN_S)
        if self.reader.is_alive():
            LEFT_RUNNING.add(self.reader)

    def _close_output(self) -> None:
        assert self.output is not None
        if self.stats.reader_closed:
            return  # nothing reaches the reader any more: no trailer to write
        try:
            self.output.close()
        except PipeClosed:  # the pipe closed at the end
            self.stats.reader_closed = True  # what was written is all its reader wanted
