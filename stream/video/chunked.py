"""`drrn-stream IN OUT --chunk-seconds S [--resume]`: a long video restored chunk by chunk.

The input is cut at keyframes (video/chunks.py); each chunk is decoded from its keyframe,
restored, and encoded with its frames' own timestamps into a segment file in a work folder
beside the output, whose manifest (video/manifest.py) records the chunks done. After any
interruption (Ctrl-C, SIGTERM, a crash, a kill, a power cut) the same command with --resume
goes on from there. At the end the segments are joined packet by packet, with the input's
other streams (video/join.py), into the output, and the work folder is removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import json
import math
import multiprocessing
import shutil
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from kernels.inference import Restores
from stream.console import say
from stream.errors import Interrupted, UserError, on_stop_signals
from stream.files import is_picture, write_atomically
from stream.video.carry import Carried
from stream.video.chunks import Chunk, cut, video_packets
from stream.video.enhance import EnhanceOptions, frames_per_batch, restorer_for
from stream.video.frames import Frame
from stream.video.join import join
from stream.video.log import FrameLog
from stream.video.manifest import Manifest, begin, fingerprint
from stream.video.observers import LOG_FIELDS, FrameScores, ProgressBar
from stream.video.pipeline import Observer, Pipeline
from stream.video.processor import LumaEnhancer
from stream.video.sink import EncodeOptions, VideoSink
from stream.video.source import VideoSource
from stream.video.targets import STDIO, FileTarget

_PR_SET_PDEATHSIG = 1  # prctl(2)
SEGMENT_FORMAT = "mp4"  # keeps decode times (B-frames), the time base asked for, and colour tags


def work_folder(dst: Path) -> Path:
    """Beside the output (one file system: the output is renamed from there), hidden."""
    return dst.with_name(f".{dst.name}.chunks")


class ChunkFrames:
    """One chunk's frames, for the pipeline: the input decoded from the chunk's keyframe until all
    of the chunk's frames are out (past the next keyframe where B-frames shown before it need it)."""

    def __init__(self, source: VideoSource, chunk: Chunk, first_index: int) -> None:
        self.source, self.chunk, self.info, self.first_index = source, chunk, source.info, first_index
        source.restart_at(chunk.seek)

    @property
    def reader(self) -> object:
        return self.source.reader

    @reader.setter
    def reader(self, thread: object) -> None:
        self.source.reader = thread  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Frame]:
        """Until all of the chunk's frames are out, or one shown after them: the decoder gives frames
        in presentation order, so any of the chunk's it has not given by then it never gives (a packet
        stored before the first keyframe, one an edit list drops, damage), in a whole run neither."""
        left, last = set(self.chunk.frames), self.chunk.frames[-1]
        for item in self.source:
            if isinstance(item, Frame) and item.pts > last:
                return
            if isinstance(item, Frame) and item.pts in left:
                item.index = self.first_index + len(self.chunk.frames) - len(left)  # its number in the whole video
                left.discard(item.pts)
                yield item
                if not left:
                    return


def decisive_options(options: EnhanceOptions, restorer: Restores, seconds: float) -> dict:
    """What decides the output's pixels and packets: a resumed run must be given the same."""
    encode = options.encode
    return {
        "scale": options.scale, "weights": str(options.weights or "shipped"), "units": restorer.units,
        "backend": restorer.backend, "precision": restorer.precision, "device": restorer.device.type,
        "tiling": str(restorer.tiling), "codec": encode.codec, "crf": encode.crf, "preset": encode.preset,
        "stream": options.stream, "chunk_seconds": seconds,
    }  # fmt: skip


@dataclass(frozen=True)
class ChunkJob:
    """What restoring one chunk needs: paths and the plan, no frames (workers share the storage)."""

    src: Path
    index: int
    chunk: Chunk
    first_index: int  # frames in the chunks before it
    segment: Path
    log: Path  # the chunk's rows of the per-frame log, .jsonl


def restore_chunk(job: ChunkJob, source: VideoSource, restorer: Restores, options: EnhanceOptions,
                  observers: list[Observer]) -> None:  # fmt: skip
    """One chunk into its segment file and its log rows, complete or not at all."""
    frames = ChunkFrames(source, job.chunk, job.first_index)
    with write_atomically(job.segment) as tmp, write_atomically(job.log) as rows, FrameLog(rows, LOG_FIELDS) as log:
        sink = VideoSink(tmp, source.info, options.scale, Carried(), options.encode, format=SEGMENT_FORMAT,
                         notice=lambda _: None)  # fmt: skip
        batch = frames_per_batch(sink.width, sink.height, restorer.tiling)
        pipeline = Pipeline(frames, LumaEnhancer(restorer, options.scale), sink, batch,  # type: ignore[arg-type]
                            [FrameScores(log, source.info), *observers], queue_frames=options.queue_frames)  # fmt: skip
        with on_stop_signals(pipeline.on_signal):
            try:
                stats = pipeline.run()
            finally:
                sink.close()
        if stats.interrupted:
            raise Interrupted(stats.signal)


def run_job(job: ChunkJob, options: EnhanceOptions) -> ChunkJob:
    """A worker process's task: open the input and the model, restore the chunk."""
    with VideoSource(job.src, options.input_format, options.stream) as source:
        restore_chunk(job, source, restorer_for(options)[0], options, [])
    return job


def start_worker(threads: int) -> None:
    """A worker: Ctrl-C and SIGHUP, which reach the whole process group, are the driver's to act on
    (it ends the workers with SIGKILL); the worker dies with the driver (Linux), even by kill -9;
    it takes its share of the cores."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    torch.set_num_threads(threads)


def run_in_workers(jobs: list[ChunkJob], options: EnhanceOptions, workers: int,
                   done: Callable[[ChunkJob], None]) -> None:  # fmt: skip
    """`jobs` in `workers` processes (the CPU's threads split between them), `done` called as each
    finishes. An error, a lost worker (BrokenProcessPool) or a stop signal ends them all at once;
    the chunks done are kept."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of this one's threads
    threads = max(1, torch.get_num_threads() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker, initargs=(threads,))
    try:
        futures = {pool.submit(run_job, job, options) for job in jobs}
        for future in as_completed(futures):
            done(future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in multiprocessing.active_children():  # a chunk's worker mid-way: its segment is discarded
            process.kill()


def write_log(path: Path | None, chunk_logs: list[Path]) -> FrameLog:
    """The chunks' rows, in order, as one log at `path` (--log; None: only the summary's means)."""
    with FrameLog(path, LOG_FIELDS) as log:
        for chunk_log in chunk_logs:
            for line in chunk_log.read_text().splitlines():
                log.add({key: math.nan if value is None else value for key, value in json.loads(line).items()})
    return log


def check_chunkable(src: str, dst: str, options: EnhanceOptions) -> None:
    """What a chunked run cannot do, refused before any model time."""
    if STDIO in (src, dst):
        raise UserError("--chunk-seconds reads and writes named files, not pipes ('-'): it seeks in the input")
    if is_picture(dst) or Path(dst).suffix.lower() == ".y4m":
        raise UserError(f"{dst}: --chunk-seconds writes a compressed video file (not pictures or .y4m)")
    if options.reference is not None:
        raise UserError("--reference scores a whole run: leave out --chunk-seconds")


def segment_encoding(dst: str, options: EnhanceOptions) -> EncodeOptions:
    """The segments' encoder: the output's (the join copies their packets), in an MP4 that holds it."""
    codec = options.encode.codec or ("libvpx-vp9" if Path(dst).suffix.lower() == ".webm" else None)
    return dataclasses.replace(options.encode, codec=codec)


def enhance_chunked(src: str, dst: str, options: EnhanceOptions, seconds: float, resume: bool, workers: int,
                    console: Console) -> None:  # fmt: skip
    check_chunkable(src, dst, options)
    options = dataclasses.replace(options, encode=segment_encoding(dst, options))
    target = FileTarget(src, dst, options.overwrite, options.output_format)
    work = work_folder(target.dst)
    with VideoSource(Path(src), options.input_format, options.stream) as source:
        packets = video_packets(Path(src), source.video.index)
        chunks = cut(packets, source.video.time_base, seconds, source.name)
        restorer, _ = restorer_for(options)
        fresh = Manifest(fingerprint(Path(src)), decisive_options(options, restorer, seconds), chunks)
        manifest = begin(work, fresh, resume)
        firsts = list(itertools.accumulate((len(c.frames) for c in chunks), initial=0))
        jobs = [ChunkJob(Path(src), i, c, firsts[i], work / f"chunk_{i:05d}.{SEGMENT_FORMAT}",
                         work / f"chunk_{i:05d}.jsonl") for i, c in enumerate(chunks)]  # fmt: skip
        todo = [
            job for job in jobs if job.index not in manifest.done or not (job.segment.exists() and job.log.exists())
        ]
        say(f"{source.name}: {len(chunks)} chunks of >= {seconds:g} s, {len(chunks) - len(todo)} done "
            f"(work folder {work})", console)  # fmt: skip
        with ProgressBar(console, len(packets), FrameLog(None, LOG_FIELDS)) as progress:
            progress.progress.update(progress.task, completed=len(packets) - sum(len(j.chunk.frames) for j in todo))

            def done(job: ChunkJob) -> None:
                manifest.finish(job.index, work, [job.segment, job.log])
                say(f"chunk {job.index + 1} of {len(chunks)} done ({len(job.chunk.frames)} frames)", console)
                if workers > 1:
                    progress.progress.update(progress.task, advance=len(job.chunk.frames))

            try:
                if workers > 1:
                    run_in_workers(todo, options, workers, done)
                else:
                    for job in todo:
                        restore_chunk(job, source, restorer, options, [progress])
                        done(job)
            except Interrupted:
                say(f"interrupted: {len(manifest.done)} of {len(chunks)} chunks done in {work}; "
                    "the same command with --resume goes on from there", console)  # fmt: skip
                raise
        try:
            written = join(source, [job.segment for job in jobs], target.open(), target.format,
                           lambda text: say(text, console))  # fmt: skip
            log = write_log(options.log, [job.log for job in jobs])
            target.commit()
        finally:
            target.discard()  # a no-op once committed; else no partial output is left
    shutil.rmtree(work)
    say(f"wrote {target.dst} ({written} frames from {len(chunks)} chunks; PSNR vs bicubic: mean "
        f"{log.mean('psnr_vs_bicubic'):.2f} dB, min {log.mins.get('psnr_vs_bicubic', math.nan):.2f} dB)",
        console)  # fmt: skip
    if written < len(packets):  # as in a whole run: stored before the first keyframe, dropped by an edit list, damaged
        lost = f"{src}: {len(packets) - written} of its {len(packets)} video packets gave no frame"
        if options.strict:
            raise UserError(f"{lost}; {target.dst} has the {written} frames that decoded")
        say(f"warning: {lost}", console, style="yellow")
