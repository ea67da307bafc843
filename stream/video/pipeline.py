"""source -> model worker -> sink, as three threads joined by bounded queues.

PyAV and torch release the GIL in their hot loops, so threads overlap decoding, the model
and encoding. The queues hold a few frames each, so memory stays flat however long the
video. Any stage's error stops the others; Ctrl-C (or SIGTERM, SIGHUP, where the CLI turns them into
Interrupted) stops decoding and the model, and the sink still writes the frames done and finishes
the container, so they make a playable file; a second signal stops waiting for the model and
the queues, and the file is finished with what the sink has. What is done
with each written frame besides writing it (the log, the reference scores, the progress
display) is up to the observers the pipeline is given.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import av

from stream.errors import LEFT_RUNNING, on_stop_signals
from stream.video.frames import Frame, FrameSource
from stream.video.processor import Processor
from stream.video.sink import VideoSink

_POLL_S = 0.1
ECHO_S = 0.05  # a stop signal's repeat this soon is its sender's echo (~1 ms); no person presses Ctrl-C twice so fast
Observer = Callable[[Frame], None]  # called with each frame the sink has written, in order


class _Stopped(Exception):
    """Raised inside a stage when another stage (or Ctrl-C) has stopped the run."""


@dataclass
class RunStats:
    frames: int = 0
    seconds: float = 0.0
    signal: int = 0  # the stop signal that interrupted the run (0: none)
    reader_closed: bool = False  # stdout's reader went away (`| head`): the run ends quietly
    busy: dict[str, float] = field(default_factory=dict)  # seconds each stage worked, not waiting on a queue
    damage: str = ""  # what damage in the input was decoded past, or a sequence's gap, in one line ("" for none)

    @property
    def interrupted(self) -> bool:
        return self.signal != 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else math.nan


@dataclass
class _Stage:
    """A thread plus the flag its consumer reads to know no more items will come."""

    target: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    busy: float = 0.0  # seconds spent working; the rest went to waiting on the queues

    @contextmanager
    def working(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.busy += time.perf_counter() - start


class Pipeline:
    def __init__(
        self,
        source: FrameSource,
        processor: Processor,
        sink: VideoSink,
        frames_per_batch: int,
        observers: list[Observer] | None = None,
        queue_frames: int = 8,
    ) -> None:
        self.source, self.processor, self.sink = source, processor, sink
        self.frames_per_batch, self.observers = frames_per_batch, observers or []
        self.to_model: queue.Queue = queue.Queue(maxsize=queue_frames)
        self.to_sink: queue.Queue = queue.Queue(maxsize=queue_frames)
        self.stop = threading.Event()
        self.abandon = threading.Event()  # a second stop signal: the sink takes nothing more, no one waits
        self.signals: list[int] = []  # the stop signals that came, in order
        self._first_signal_at = 0.0  # when the first came (time.monotonic)
        self.on_stopping: Callable[[int], None] = lambda _signum: None  # told of the first
        self.errors: list[BaseException] = []
        self.stages = {"decode": _Stage(self._decode), "model": _Stage(self._model), "encode": _Stage(self._encode)}

    # --- plumbing ---------------------------------------------------------------------

    def _put(self, q: queue.Queue, item: object) -> None:
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self.stop.is_set():
                    raise _Stopped from None

    def _get(self, q: queue.Queue, producer: str) -> object | None:
        """The next item, or None once the producer is done and the queue is empty (or a second
        stop signal has come: no one waits for a producer then)."""
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self.abandon.is_set() or (self.stages[producer].done.is_set() and q.empty()):
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

    def _decode(self) -> None:
        items = iter(self.source)
        while not self.stop.is_set():
            with self.stages["decode"].working():
                item = next(items, None)
            if item is None:
                return
            self._put(self.to_model, item)

    def _model(self) -> None:
        """Frames are restored in batches; packets between them keep their place in the order."""
        held: list[object] = []  # items in order, waiting for the frames among them
        while not self.stop.is_set():
            item = self._get(self.to_model, "decode")
            if self.stop.is_set():  # stopped while waiting: no new batch
                return
            if item is None:
                self._flush(held)
                return
            held.append(item)
            frames = sum(isinstance(i, Frame) for i in held)
            if not frames or frames >= self.frames_per_batch or self.to_model.empty():
                self._flush(held)
                held = []

    def _flush(self, held: list[object]) -> None:
        """Restore the frames among `held`, then pass everything on in order."""
        frames = [item for item in held if isinstance(item, Frame)]
        if frames:
            with self.stages["model"].working():
                results = self.processor([f.y for f in frames], self.source.info.coding)
            for frame, restored in zip(frames, results, strict=True):
                frame.restored = restored
        for item in held:
            self._put(self.to_sink, item)

    def _encode(self) -> None:
        while not self.abandon.is_set() and (item := self._get(self.to_sink, "model")) is not None:
            with self.stages["encode"].working():
                if isinstance(item, Frame):
                    self.sink.write_frame(item)
                    for observe in self.observers:
                        observe(item)
                elif isinstance(item, av.Packet):
                    self.sink.write_packet(item)

    # --- running ----------------------------------------------------------------------

    def _join(self) -> None:
        """Wait for the stages; once a second signal has come, only for the sink: the model may be
        seconds into a batch and the decoder waiting on a stalled pipe (their threads are daemons)."""
        for name, stage in self.stages.items():
            while stage.thread is not None and stage.thread.is_alive():
                if self.abandon.is_set() and name != "encode":
                    LEFT_RUNNING.add(stage.thread)
                    break
                stage.thread.join(_POLL_S)

    def on_signal(self, signum: int) -> None:
        """A stop signal. The first stops decoding and the model (within a batch), and the sink
        writes what is done; the second stops waiting for the decoder, the model and a stalled reader of the output.
        The first again within ECHO_S is its echo, not a second: `timeout` sends its signal to the process, then to
        its process group, a millisecond apart, and the run dropped the model's batch as if told twice."""
        now = time.monotonic()
        if not self.signals:
            self._first_signal_at = now
        elif signum == self.signals[0] and now - self._first_signal_at < ECHO_S:
            return
        self.signals.append(signum)
        self.stop.set()
        self.stages["decode"].done.set()  # the model's own stage says when it is done: its batch is written
        self.source.stop_reading()
        if len(self.signals) == 1:
            self.on_stopping(signum)
        else:
            self.abandon.set()
            self.sink.stop_waiting()

    def run(self) -> RunStats:
        """Run to the end, or until a stage fails or a stop signal (Ctrl-C, SIGTERM, SIGHUP) comes."""
        stats = RunStats()
        start = time.perf_counter()
        for stage in self.stages.values():
            stage.thread = threading.Thread(target=self._run_stage, args=(stage,), daemon=True)
            stage.thread.start()
        self.source.reader = self.stages["decode"].thread
        with on_stop_signals(self.on_signal):
            self._join()
        stats.signal = (self.signals or [0])[0]
        stats.seconds = time.perf_counter() - start
        stats.frames = self.sink.frames_written
        stats.busy = {name: stage.busy for name, stage in self.stages.items()}
        if self.errors:
            raise self.errors[0]
        return stats
