"""The pipeline's seams with fake stages (no codec, no model): order, back-pressure, errors, stop signals.

The fakes never sleep: the tests wait on events and conditions that the stages set, and every wait
has a generous timeout only so that a broken pipeline fails instead of hanging.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import av
import numpy as np
import pytest

from kernels.colour import LumaCoding
from stream.errors import LEFT_RUNNING
from stream.video.frames import Frame, Restored
from stream.video.pipeline import Pipeline, RunStats

HANG_S = 30.0  # a hang guard only: nothing here should come near it
Item = Frame | av.Packet


def make_items(frames: int, packet_every: int = 3) -> list[Item]:
    """Frames 0..frames-1 (Y = the index) with packets before every `packet_every`-th, two in a row now
    and then, and one after the last frame."""
    items: list[Item] = []
    for i in range(frames):
        if i % packet_every == 0:
            items.append(av.Packet(f"p{i}".encode()))
        if i % 10 == 5:
            items.append(av.Packet(f"q{i}".encode()))
        items.append(Frame(index=i, pts=40 * i, y=np.full((2, 3), i, np.uint16), chroma=[]))
    items.append(av.Packet(b"end"))
    return items


def label(item: Item) -> str:
    return f"f{item.index}" if isinstance(item, Frame) else bytes(item).decode()


def labels(items: list[Item]) -> list[str]:
    return [label(i) for i in items]


def position(items: list[Item], frame_index: int) -> int:
    return labels(items).index(f"f{frame_index}")


class FakeSource:
    """Yields its items in order, counting them; raises `error` instead of item number `fail_at`."""

    def __init__(self, items: list[Item], fail_at: int | None = None) -> None:
        self.items, self.fail_at = items, fail_at
        self.info = SimpleNamespace(coding=LumaCoding())
        self.reader: threading.Thread | None = None
        self.yielded = 0
        self.error = RuntimeError(f"source broke at item {fail_at}")
        self.stopped_reading = False

    def stop_reading(self) -> None:
        self.stopped_reading = True

    def __iter__(self) -> Iterator[Item]:
        for n, item in enumerate(self.items):
            if n == self.fail_at:
                raise self.error
            self.yielded += 1
            yield item


class FakeProcessor:
    """Y + 1 for each frame. Batch number `gate_batch` sets `entered` and waits for `gate`; batch number
    `fail_batch` raises `error`. Records each batch's frame indices and the coding it was given."""

    def __init__(self, gate_batch: int | None = None, fail_batch: int | None = None) -> None:
        self.gate_batch, self.fail_batch = gate_batch, fail_batch
        self.entered, self.gate = threading.Event(), threading.Event()
        self.batches: list[list[int]] = []
        self.codings: list[LumaCoding] = []
        self.error = ValueError(f"model broke on batch {fail_batch}")

    def __call__(self, ys: list[np.ndarray], coding: LumaCoding, units: int | None = None) -> list[Restored]:
        number = len(self.batches)
        self.batches.append([int(y[0, 0]) for y in ys])
        self.codings.append(coding)
        if number == self.fail_batch:
            raise self.error
        if number == self.gate_batch:
            self.entered.set()
            assert self.gate.wait(HANG_S), "the test never opened the model's gate"
        return [Restored(y + 1, 1.0, 40.0) for y in ys]


class FakeSink:
    """Records what it is given, in order; raises `error` instead of writing frame number `fail_at`."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.written: list[Item] = []
        self.calls: list[str] = []  # every write asked for, the failed one too
        self.frames_written = 0
        self.changed = threading.Condition()
        self.error = OSError(f"disk full at frame {fail_at}")
        self.stopped_waiting = False

    def stop_waiting(self) -> None:
        self.stopped_waiting = True

    def write_frame(self, frame: Frame) -> None:
        self.calls.append(label(frame))
        if self.frames_written == self.fail_at:
            raise self.error
        assert frame.restored is not None, "a frame reached the sink unrestored"
        with self.changed:
            self.written.append(frame)
            self.frames_written += 1
            self.changed.notify_all()

    def write_packet(self, packet: av.Packet) -> None:
        self.calls.append(label(packet))
        with self.changed:
            self.written.append(packet)
            self.changed.notify_all()

    def wait_written(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.written) >= count, HANG_S)


class CountingQueue(queue.Queue):
    """A bounded queue that counts the puts it refused for being full (a producer refused twice has had
    a whole poll to take more from its source, and has not) and the gets that found it empty."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.refusals = self.misses = 0
        self.refused = threading.Condition()

    def get(self, block: bool = True, timeout: float | None = None) -> object:
        try:
            return super().get(block, timeout)
        except queue.Empty:
            self.misses += 1
            raise

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        try:
            super().put(item, block, timeout)
        except queue.Full:
            with self.refused:
                self.refusals += 1
                self.refused.notify_all()
            raise

    def wait_refusals(self, count: int) -> bool:
        with self.refused:
            return self.refused.wait_for(lambda: self.refusals >= count, HANG_S)


class Recorder:
    """An observer that keeps the frames it is shown; raises `error` on frame number `fail_at`."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at, self.seen = fail_at, []
        self.error = KeyError(f"observer broke at frame {fail_at}")

    def __call__(self, frame: Frame) -> None:
        if frame.index == self.fail_at:
            raise self.error
        assert frame.restored is not None
        self.seen.append(frame.index)


def pipeline_of(source: FakeSource, processor: FakeProcessor, sink: FakeSink, batch: int = 4,
                queue_frames: int = 4, observers: list[Recorder] | None = None) -> Pipeline:  # fmt: skip
    return Pipeline(source, processor, sink, batch, observers, queue_frames=queue_frames)  # type: ignore[arg-type]


def in_thread(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def alive(pipeline: Pipeline) -> list[str]:
    return [name for name, stage in pipeline.stages.items() if stage.thread is not None and stage.thread.is_alive()]


def assert_restored(written: list[Item]) -> None:
    for item in written:
        if isinstance(item, Frame):
            assert item.restored is not None and np.array_equal(item.restored.y, item.y + 1), label(item)


# --- order ---------------------------------------------------------------------------------------


def test_every_frame_and_packet_reaches_the_sink_in_the_source_order_restored_and_observed_once():
    """Batching must not reorder: packets keep their place between frames, which the muxer relies on."""
    items = make_items(50)
    source, processor, sink = FakeSource(items), FakeProcessor(), FakeSink()
    first, second = Recorder(), Recorder()
    pipeline = pipeline_of(source, processor, sink, batch=4, observers=[first, second])
    stats = pipeline.run()
    assert labels(sink.written) == labels(items)
    assert all(a is b for a, b in zip(sink.written, items, strict=True))
    assert_restored(sink.written)
    assert [i for batch in processor.batches for i in batch] == list(range(50))
    assert all(1 <= len(batch) <= 4 for batch in processor.batches)
    assert all(c is source.info.coding for c in processor.codings)
    assert first.seen == second.seen == list(range(50))
    assert isinstance(stats, RunStats) and stats.frames == 50 and not stats.interrupted
    assert source.reader is pipeline.stages["decode"].thread and alive(pipeline) == []


# --- back-pressure --------------------------------------------------------------------------------


def test_a_blocked_model_stops_decoding_at_the_queues_bound_then_everything_arrives():
    """Memory stays flat: with the model stuck, the decoder takes exactly what the queue and its own hand hold."""
    items = make_items(40, packet_every=1000)[1:-1]  # frames only: the bound is then exact
    source, processor, sink = FakeSource(items), FakeProcessor(gate_batch=0), FakeSink()
    pipeline = pipeline_of(source, processor, sink, batch=4, queue_frames=3)
    pipeline.to_model = CountingQueue(pipeline.to_model.maxsize)  # the bound the pipeline chose, counted

    def check_then_release() -> None:
        try:
            assert processor.entered.wait(HANG_S)
            assert pipeline.to_model.wait_refusals(2), "the decoder was never refused by a full queue"
            in_model = len(processor.batches[0])
            assert source.yielded == in_model + 3 + 1  # the batch, a full queue, one in the decoder's hand
            assert pipeline.to_model.full() and sink.written == []
        finally:
            processor.gate.set()

    checker = in_thread(check_then_release)
    stats = pipeline.run()
    checker.join(HANG_S)
    assert stats.frames == 40 and labels(sink.written) == labels(items)
    assert_restored(sink.written)


# --- errors ----------------------------------------------------------------------------------------


def test_a_source_error_is_raised_by_run_after_every_stage_has_stopped():
    """A broken input must surface as its own error, with no thread left running and no invented frames."""
    items = make_items(30)
    source, sink = FakeSource(items, fail_at=20), FakeSink()
    pipeline = pipeline_of(source, FakeProcessor(), sink)
    with pytest.raises(RuntimeError) as raised:
        pipeline.run()
    assert raised.value is source.error
    assert alive(pipeline) == []
    assert labels(sink.written) == labels(items[: len(sink.written)]) and len(sink.written) <= 20
    assert_restored(sink.written)


def test_a_model_error_is_raised_and_only_the_batches_before_it_are_written():
    """The batches restored before the failure are written whole; nothing of the failed batch or after it."""
    items = make_items(50)
    processor, sink = FakeProcessor(fail_batch=2), FakeSink()
    pipeline = pipeline_of(FakeSource(items), processor, sink)
    with pytest.raises(ValueError) as raised:
        pipeline.run()
    assert raised.value is processor.error
    assert alive(pipeline) == []
    assert len(processor.batches) == 3  # no batch after the failed one
    assert labels(sink.written) == labels(items[: position(items, processor.batches[2][0])])
    assert_restored(sink.written)


def test_a_sink_error_is_raised_and_the_sink_is_asked_for_nothing_after_it():
    """After a failed write the sink must not be written to again (the container may be broken)."""
    items = make_items(50)
    sink = FakeSink(fail_at=10)
    pipeline = pipeline_of(FakeSource(items), FakeProcessor(), sink)
    with pytest.raises(OSError) as raised:
        pipeline.run()
    assert raised.value is sink.error
    assert alive(pipeline) == []
    assert sink.calls[-1] == "f10" and sink.calls.count("f10") == 1
    assert labels(sink.written) == labels(items[: position(items, 10)])


def test_an_observer_error_is_raised_after_its_frame_was_written_and_nothing_follows():
    """An observer (log, scores, progress) failing stops the run: later observers skip that frame, the sink stops."""
    items = make_items(50)
    sink, before, failing, after = FakeSink(), Recorder(), Recorder(fail_at=10), Recorder()
    pipeline = pipeline_of(FakeSource(items), FakeProcessor(), sink, observers=[before, failing, after])
    with pytest.raises(KeyError) as raised:
        pipeline.run()
    assert raised.value is failing.error
    assert alive(pipeline) == []
    assert labels(sink.written) == labels(items[: position(items, 10) + 1])
    assert before.seen == list(range(11)) and failing.seen == after.seen == list(range(10))


# --- stop signals ----------------------------------------------------------------------------------


def run_signalled_mid_batch(*signums: int) -> tuple[list, FakeSource, FakeProcessor, FakeSink, Pipeline, RunStats]:
    """A run of 50 frames sent `signums` while the model holds its third batch, which then goes on. -> (the items,
    the source, the processor, the sink, the pipeline, its stats)."""
    items = make_items(50)
    source, processor, sink = FakeSource(items), FakeProcessor(gate_batch=2), FakeSink()
    pipeline = pipeline_of(source, processor, sink)

    def stop() -> None:
        try:
            assert processor.entered.wait(HANG_S)
            for signum in signums:
                pipeline.on_signal(signum)
        finally:
            processor.gate.set()

    stopper = in_thread(stop)
    stats = pipeline.run()
    stopper.join(HANG_S)
    return items, source, processor, sink, pipeline, stats


def test_a_stop_signal_mid_batch_keeps_the_frames_done_and_stops_decoding():
    """Ctrl-C: run() returns (not raises) interrupted stats, the batches restored before it are written."""
    items, source, processor, sink, pipeline, stats = run_signalled_mid_batch(signal.SIGINT)
    assert stats.interrupted and stats.signal == signal.SIGINT
    assert alive(pipeline) == []
    done = position(items, processor.batches[2][0])  # everything before the batch the signal came in
    in_flight = position(items, processor.batches[2][-1]) + 1
    assert done <= len(sink.written) <= in_flight
    assert labels(sink.written) == labels(items[: len(sink.written)])
    assert_restored(sink.written)
    assert len(processor.batches) == 3 and source.yielded < len(items)
    assert stats.frames == sink.frames_written
    assert source.stopped_reading and not sink.stopped_waiting  # a pipe is read no more; a slow reader waited for


def test_a_second_stop_signal_returns_without_waiting_for_a_stuck_model():
    """Two Ctrl-Cs: the run ends at once with what the sink has, though the model thread is still blocked."""
    items = make_items(50)
    source, processor, sink = FakeSource(items), FakeProcessor(gate_batch=2), FakeSink()
    pipeline = pipeline_of(source, processor, sink)
    done: list[int] = []

    def stop_twice() -> None:
        assert processor.entered.wait(HANG_S)
        done.append(position(items, processor.batches[2][0]))
        assert sink.wait_written(done[0])  # the earlier batches are out: what follows is deterministic
        pipeline.on_signal(signal.SIGINT)
        pipeline.on_signal(signal.SIGTERM)  # another kind: the same so soon is the first's echo (below)

    stopper = in_thread(stop_twice)
    try:
        stats = pipeline.run()
        stopper.join(HANG_S)
        assert stats.signal == signal.SIGINT and pipeline.signals == [signal.SIGINT, signal.SIGTERM]
        assert "model" in alive(pipeline) and "encode" not in alive(pipeline)  # returned with the model stuck
        assert pipeline.stages["model"].thread in LEFT_RUNNING  # so the CLI exits without finalisation
        assert labels(sink.written) == labels(items[: done[0]])
        assert stats.frames == sink.frames_written
        assert source.stopped_reading and sink.stopped_waiting  # nor a reader of stdout that takes nothing
    finally:
        processor.gate.set()
    for stage in pipeline.stages.values():
        assert stage.thread is not None
        stage.thread.join(HANG_S)
    assert alive(pipeline) == []
    assert labels(sink.written) == labels(items[: done[0]])  # the sink took nothing after the second signal


def test_a_signal_echoed_within_milliseconds_is_one_signal():
    """`timeout` sends its signal to the process, then to its process group: the run took the echo for a second
    signal, dropped the model's batch, and exited with the model thread in PyTorch (an abort, exit 134)."""
    items, _, processor, sink, pipeline, stats = run_signalled_mid_batch(signal.SIGTERM, signal.SIGTERM)
    assert pipeline.signals == [signal.SIGTERM] and not pipeline.abandon.is_set()
    assert stats.interrupted and alive(pipeline) == []  # the model's batch was waited for, and written
    assert labels(sink.written) == labels(items[: position(items, processor.batches[2][-1]) + 1])


def test_a_stop_signal_writes_the_batch_the_model_was_in_when_it_outlasts_a_poll():
    """run() waits for the model's batch after one signal, so the frames of that batch should be written too."""
    items = make_items(50)
    source, processor, sink = FakeSource(items), FakeProcessor(gate_batch=2), FakeSink()
    pipeline = pipeline_of(source, processor, sink)
    pipeline.to_sink = CountingQueue(pipeline.to_sink.maxsize)

    def stop_then_release_late() -> None:
        try:
            assert processor.entered.wait(HANG_S)
            misses = pipeline.to_sink.misses
            pipeline.on_signal(signal.SIGINT)
            encode = pipeline.stages["encode"].thread
            assert encode is not None
            while encode.is_alive() and pipeline.to_sink.misses < misses + 3:  # the batch outlasts 3 polls
                encode.join(0.01)
        finally:
            processor.gate.set()

    stopper = in_thread(stop_then_release_late)
    stats = pipeline.run()
    stopper.join(HANG_S)
    assert stats.interrupted
    assert labels(sink.written) == labels(items[: position(items, processor.batches[2][-1]) + 1])
