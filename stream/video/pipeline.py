"""source -> model worker -> sink, as three threads joined by bounded queues.

PyAV and torch release the GIL in their hot loops, so threads overlap decoding, the model
and encoding. The queues hold a few frames each, so memory stays flat however long the
video. Any stage's error stops the others; Ctrl-C stops decoding and the model, and the
sink still finishes the container, so the frames done make a playable file.
"""

from __future__ import annotations

import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import av
import torch

from kernels.metrics import psnr, ssim
from stream.video.frames import Frame
from stream.video.log import FrameLog
from stream.video.processor import LumaEnhancer
from stream.video.sink import VideoSink
from stream.video.source import VideoSource

_POLL_S = 0.1


class _Stopped(Exception):
    """Raised inside a stage when another stage (or Ctrl-C) has stopped the run."""


@dataclass
class RunStats:
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    reader_closed: bool = False  # stdout's reader went away (`| head`): the run ends quietly
    log: FrameLog | None = None
    busy: dict[str, float] = field(default_factory=dict)  # seconds each stage worked, not waiting on a queue
    first_frame_s: float = math.nan  # when the first frame was written: start-up (model warm-up) ends here

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else math.nan


@dataclass
class _Stage:
    """A thread plus the flag its consumer reads to know no more items will come."""

    name: str
    target: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    busy: float = 0.0  # seconds spent working; the rest went to waiting on the queues


@contextmanager
def _timed(stage: _Stage) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stage.busy += time.perf_counter() - start


class Pipeline:
    def __init__(
        self,
        source: VideoSource,
        enhancer: LumaEnhancer,
        sink: VideoSink,
        log: FrameLog,
        frames_per_batch: int,
        reference: VideoSource | None = None,
        on_frame: Callable[[Frame, FrameLog], None] | None = None,
        queue_frames: int = 8,
    ) -> None:
        self.source, self.enhancer, self.sink, self.log = source, enhancer, sink, log
        self.frames_per_batch, self.reference, self.on_frame = frames_per_batch, reference, on_frame
        self.to_model: queue.Queue = queue.Queue(maxsize=queue_frames)
        self.to_sink: queue.Queue = queue.Queue(maxsize=queue_frames)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.stages = [_Stage("decode", self._source_loop), _Stage("model", self._model_loop),
                       _Stage("encode", self._sink_loop)]  # fmt: skip
        self.first_frame_at: float | None = None

    # --- plumbing ---------------------------------------------------------------------

    def _put(self, q: queue.Queue, item: object) -> None:
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self.stop.is_set():
                    raise _Stopped from None

    def _get(self, q: queue.Queue, producer: _Stage) -> object | None:
        """The next item, or None once the producer is done and the queue is empty."""
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if producer.done.is_set() and q.empty():
                    return None

    def _run_stage(self, stage: _Stage) -> None:
        try:
            stage.target()
        except _Stopped:
            pass
        except BaseException as e:
            self.errors.append(e)
            self.stop.set()
        finally:
            stage.done.set()

    # --- stages -----------------------------------------------------------------------

    def _source_loop(self) -> None:
        items = iter(self.source)
        while not self.stop.is_set():
            with _timed(self.stages[0]):
                item = next(items, None)
            if item is None:
                return
            self._put(self.to_model, item)

    def _model_loop(self) -> None:
        source = self.stages[0]
        held: list[object] = []  # items in order, waiting for the frames among them
        frames: list[Frame] = []
        while not self.stop.is_set():
            item = self._get(self.to_model, source)
            if item is None:
                break
            if not frames and not isinstance(item, Frame):  # nothing to wait for: a packet goes straight on
                self._put(self.to_sink, item)
                continue
            held.append(item)
            if isinstance(item, Frame):
                frames.append(item)
            if frames and (len(frames) >= self.frames_per_batch or self.to_model.empty()):
                self._restore(frames)
                for held_item in held:
                    self._put(self.to_sink, held_item)
                held, frames = [], []
        if not self.stop.is_set():
            if frames:
                self._restore(frames)
            for held_item in held:
                self._put(self.to_sink, held_item)

    def _restore(self, frames: list[Frame]) -> None:
        with _timed(self.stages[1]):
            results = self.enhancer([f.y for f in frames], self.source.info.coding)
        for frame, restored in zip(frames, results, strict=True):
            frame.restored = restored

    def _sink_loop(self) -> None:
        worker = self.stages[1]
        references = (r for r in self.reference if isinstance(r, Frame)) if self.reference else None
        while True:
            item = self._get(self.to_sink, worker)
            if item is None:
                break
            with _timed(self.stages[2]):
                if isinstance(item, Frame):
                    self.sink.write_frame(item)
                    self.log.add(self._metrics(item, references))
                    self.first_frame_at = self.first_frame_at or time.perf_counter()
                    if self.on_frame:
                        self.on_frame(item, self.log)
                elif isinstance(item, av.Packet):
                    self.sink.write_packet(item)

    def _metrics(self, frame: Frame, references: Iterator[Frame] | None) -> dict[str, float]:
        assert frame.restored is not None
        info = self.source.info
        row = {
            "frame": frame.index,
            "pts_time": float(frame.pts * info.time_base),
            "model_ms": frame.restored.model_ms,
            "psnr_vs_bicubic": frame.restored.psnr_vs_bicubic,
        }
        if references is not None:
            ref = next(references, None)  # None once a shorter reference has ended
            if ref is not None and frame.restored.bicubic_levels is not None:
                assert self.reference is not None
                truth = self.reference.info.coding.to_levels(torch.from_numpy(ref.y))
                out = info.coding.to_levels(torch.from_numpy(frame.restored.y))
                bicubic = torch.from_numpy(frame.restored.bicubic_levels).to(torch.float64)
                border = self.enhancer.scale
                row |= {
                    "psnr_ref": psnr(out, truth, border),
                    "ssim_ref": ssim(out, truth, border),
                    "psnr_ref_bicubic": psnr(bicubic, truth, border),
                    "ssim_ref_bicubic": ssim(bicubic, truth, border),
                }
        return row

    # --- running ----------------------------------------------------------------------

    def _join(self) -> None:
        for stage in self.stages:
            while stage.thread is not None and stage.thread.is_alive():
                stage.thread.join(_POLL_S)

    def run(self) -> RunStats:
        """Run to the end, or until a stage fails or the user presses Ctrl-C."""
        stats = RunStats(log=self.log)
        start = time.perf_counter()
        for stage in self.stages:
            stage.thread = threading.Thread(target=self._run_stage, args=(stage,), daemon=True)
            stage.thread.start()
        try:
            self._join()
        except KeyboardInterrupt:
            stats.interrupted = True
            self.stop.set()  # decoding and the model stop within a batch; the sink drains what is done
            self.stages[0].done.set()
            self.stages[1].done.set()
            with _sigint_ignored():  # let the container be finished, not cut short by a second Ctrl-C
                self._join()
        stats.seconds = time.perf_counter() - start
        stats.frames = self.sink.frames_written
        stats.busy = {stage.name: stage.busy for stage in self.stages}
        if self.first_frame_at is not None:
            stats.first_frame_s = self.first_frame_at - start
        if self.errors:
            raise self.errors[0]
        return stats


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only the main thread has handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
