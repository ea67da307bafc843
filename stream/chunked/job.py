"""One chunk of a chunked run, and what restores it, wherever that runs (this process, a local
worker process, a Ray task): a job holds paths and the plan, never frames, so a worker needs
only the input, the work folder and the weights (shared storage), and reports back the frames it
has written (progress) and what it ran (every chunk of a run must run the same)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from kernels.choice import Loaded, ModelChoice
from stream.chunked.chunks import Chunk
from stream.chunked.manifest import refuse_another_run
from stream.errors import Interrupted, on_stop_signals
from stream.files import write_atomically
from stream.video.carry import Carried
from stream.video.enhance import EnhanceOptions, restoring_pipeline
from stream.video.frames import Frame
from stream.video.log import FrameLog
from stream.video.observers import LOG_FIELDS, FrameScores
from stream.video.source import VideoSource

SEGMENT_FORMAT = "mp4"  # keeps decode times (B-frames), the time base asked for, and colour tags
Report = Callable[[int, int], None]  # (chunk index, its frames written so far): progress across workers


@dataclass(frozen=True)
class ChunkJob:
    """What restoring one chunk needs: absolute paths (a worker may run elsewhere) and the plan."""

    src: Path
    index: int
    chunk: Chunk
    first_index: int  # frames in the chunks before it
    segment: Path
    log: Path  # the chunk's rows of the per-frame log, .jsonl
    ran_before: dict  # what restored the chunks done before (Resolved.record(); {}: none): this one must run the same


@dataclass(frozen=True)
class ChunkDone:
    """A finished chunk, as a worker reports it to the driver, which records it."""

    job: ChunkJob
    ran: dict[str, str | int]  # what restored it (Resolved.record()): every chunk of a run the same
    damage: str = ""  # the first error its input showed where it was damaged and decoded past ("" for none)


def is_whole(job: ChunkJob) -> bool:
    """A chunk recorded as done: its log there, and its segment opens and holds a frame for each row (one cut or
    damaged since failed the join at every resume, as an "unexpected" error)."""
    try:
        rows = len(job.log.read_text().splitlines())
        with av.open(str(job.segment)) as segment:
            return sum(1 for packet in segment.demux(video=0) if packet.size) == rows
    except (OSError, UnicodeDecodeError, av.FFmpegError, IndexError):  # gone, cut short, or no video in it
        return False


class ChunkFrames:
    """One chunk's frames, for the pipeline: the input decoded from the chunk's keyframe until all
    of the chunk's frames are out (past the next keyframe where B-frames shown before it need it)."""

    def __init__(self, source: VideoSource, chunk: Chunk, first_index: int) -> None:
        self.source, self.chunk, self.info, self.first_index = source, chunk, source.info, first_index
        source.restart_at(chunk.seek)

    @property
    def reader(self) -> threading.Thread | None:
        return self.source.reader

    @reader.setter
    def reader(self, thread: threading.Thread | None) -> None:
        self.source.reader = thread

    def stop_reading(self) -> None:
        self.source.stop_reading()

    def drop_alpha(self) -> None:
        self.source.drop_alpha()

    def __iter__(self) -> Iterator[Frame]:
        """Until all of the chunk's frames are out, or one shown after them: the decoder gives frames
        in presentation order, so any of the chunk's it has not given by then it never gives (a packet
        stored before the first keyframe, one an edit list drops, damage), in a whole run neither.
        Frames are known by the timestamps the file gives them, as the chunks list them."""
        left, last = set(self.chunk.frames), self.chunk.frames[-1]
        for item in self.source:
            if not isinstance(item, Frame):
                continue
            pts = item.pts if item.stored_pts is None else item.stored_pts
            if pts > last:
                return
            if pts in left:
                if len(left) == len(self.chunk.frames):  # the chunk's first: what decoding up to it met is forgotten
                    self.source.errors.forget()
                item.index = self.first_index + len(self.chunk.frames) - len(left)  # its number in the whole video
                left.discard(pts)
                yield item
                if not left:
                    return


def restore_chunk(job: ChunkJob, source: VideoSource, model: Loaded, options: EnhanceOptions,
                  report: Report) -> ChunkDone:  # fmt: skip
    """One chunk into its segment file and its log rows, complete or not at all; refused at once
    where it would run otherwise than the chunks done before it."""
    ran = model.ran.record()
    refuse_another_run(job.index, job.segment.parent, job.ran_before, ran)
    frames = ChunkFrames(source, job.chunk, job.first_index)
    written = 0

    def count(_: Frame) -> None:
        nonlocal written
        written += 1
        report(job.index, written)

    with write_atomically(job.segment) as tmp, write_atomically(job.log) as rows, FrameLog(rows, LOG_FIELDS) as log:
        observers = [FrameScores(log, source.info), count]
        pipeline = restoring_pipeline(frames, tmp, Carried(), model.restorer, options, observers, SEGMENT_FORMAT,
                                      notice=lambda _: None)  # fmt: skip
        with on_stop_signals(pipeline.on_signal):
            try:
                stats = pipeline.run()
            finally:
                pipeline.sink.close()
        if stats.interrupted:
            raise Interrupted(stats.signal)
    return ChunkDone(job, ran, source.errors.first if source.errors.count else "")


@functools.lru_cache(maxsize=1)
def worker_model(choice: ModelChoice) -> Loaded:
    """A worker process's model, loaded once for all the chunks it is given."""
    return choice.load()


def run_job(job: ChunkJob, options: EnhanceOptions, report: Report) -> ChunkDone:
    """A worker's task: open the input, restore the chunk."""
    with VideoSource(job.src, options.input_format, options.stream, deinterlace=options.deinterlace) as source:
        return restore_chunk(job, source, worker_model(options.model), options, report)
