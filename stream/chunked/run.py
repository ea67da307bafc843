"""`drrn-stream IN OUT --chunk-seconds S [--resume] [--workers N | --ray [ADDRESS]]`: a long video
restored chunk by chunk.

The input is cut at keyframes (chunks.py); each chunk is decoded from its keyframe,
restored, and encoded with its frames' own timestamps into a segment file in a work folder
beside the output (job.py), whose manifest (manifest.py) records the chunks
done. The chunks run in this process, in local worker processes or as Ray tasks
(workers.py, ray_tasks.py). After any interruption (Ctrl-C, SIGTERM, a crash, a
kill, a power cut) the same command with --resume goes on from there. At the end the segments
are joined packet by packet, with the input's other streams (join.py), into the output,
and the work folder is removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from kernels.choice import as_ints, expect, whole
from stream.chunked.chunks import Chunk, cut, video_packets
from stream.chunked.job import SEGMENT_FORMAT, ChunkDone, ChunkJob, is_whole
from stream.chunked.join import join
from stream.chunked.manifest import Manifest, begin, fingerprint
from stream.chunked.ray_tasks import RayWorkers
from stream.chunked.workers import InProcess, LocalWorkers, Workers
from stream.console import counted, say
from stream.content import for_content, judge_source
from stream.errors import Interrupted, UserError
from stream.files import hidden_beside, is_picture
from stream.video.enhance import EnhanceOptions, is_seconds, load_model
from stream.video.log import FrameLog
from stream.video.observers import LOG_FIELDS, FramesBar
from stream.video.reencode import muxer_holds
from stream.video.sink import EncodeOptions, VideoSink, video_like
from stream.video.source import VideoSource
from stream.video.targets import STDIO, FileTarget


@dataclass(frozen=True)
class Chunking:
    """A chunked run (stream/chunked): what `--chunk-seconds`, `--resume`, `--workers` and `--ray` ask."""

    seconds: float  # each chunk at least this long, cut at keyframes
    resume: bool = False  # go on with the run of this output that stopped
    workers: int = 1  # local worker processes
    ray: str | None = None  # Ray tasks on the cluster at this address ("": Ray's default); None: no Ray

    def __post_init__(self) -> None:
        """The CLI's bounds for the API's callers (workers=0 failed as a ZeroDivisionError, seconds=-1 ran)."""
        as_ints(self, "workers")
        expect(self, "seconds", is_seconds(self.seconds, above_zero=True), "seconds above 0 (a number)")
        expect(self, "resume", isinstance(self.resume, bool), "True or False")
        expect(self, "workers", whole(self.workers, 1), "a whole number from 1")
        expect(self, "ray", self.ray is None or isinstance(self.ray, str), 'an address ("" for Ray\'s own), or None')
        if self.workers > 1 and self.ray is not None:
            raise UserError("--workers or --ray: Ray runs as many tasks at once as the cluster has GPUs or cores")


def work_folder(dst: Path) -> Path:
    """Beside the output (one file system: the output is renamed from there), hidden; a name near 255 bytes
    shortened as the partial output's is (".{name}.chunks" was too long a name: the run failed)."""
    return hidden_beside(dst, dst.name, ".chunks")


def plan(src: Path, work: Path, chunks: list[Chunk], ran_before: dict) -> list[ChunkJob]:
    """A job per chunk, with absolute paths: a worker may run in another folder or on another machine."""
    src, work = src.resolve(), work.resolve()
    firsts = list(itertools.accumulate((len(c.frames) for c in chunks), initial=0))
    return [ChunkJob(src, i, c, firsts[i], work / f"chunk_{i:05d}.{SEGMENT_FORMAT}", work / f"chunk_{i:05d}.jsonl",
                     ran_before) for i, c in enumerate(chunks)]  # fmt: skip


class ChunkProgress(FramesBar):
    """Chunks and frames done across all workers. Workers report each chunk's frames written so
    far; a chunk started again (a lost Ray task) counts from 0 again."""

    def __init__(self, console: Console, jobs: list[ChunkJob], done: set[int]) -> None:
        self.frames = {job.index: len(job.chunk.frames) for job in jobs if job.index in done}
        self.finished, self.chunks = set(done), len(jobs)
        total = sum(len(job.chunk.frames) for job in jobs)
        super().__init__(console, total, self._chunks(), completed=sum(self.frames.values()))

    def _chunks(self) -> str:
        return f"chunks {len(self.finished)}/{self.chunks}"

    def report(self, index: int, frames: int) -> None:
        if index not in self.finished:
            self.frames[index] = frames
            self.show(completed=sum(self.frames.values()))

    def finish(self, job: ChunkJob) -> None:
        self.frames[job.index] = len(job.chunk.frames)
        self.finished.add(job.index)
        self.show(completed=sum(self.frames.values()), description=self._chunks())


def write_log(path: Path | None, chunk_logs: list[Path]) -> FrameLog:
    """The chunks' rows, in order, as one log at `path` (--log; None: only the summary's means)."""
    with FrameLog(path, LOG_FIELDS) as log:
        for chunk_log in chunk_logs:
            for line in chunk_log.read_text().splitlines():
                log.add({key: math.nan if value is None else value for key, value in json.loads(line).items()})
    return log


def check_chunkable(src: str, dst: str, options: EnhanceOptions) -> None:
    """What a chunked run cannot do, refused before any model time."""
    if STDIO in (src, dst) or Path(src).is_fifo() or Path(dst).is_fifo():  # a named pipe in was "not readable"
        raise UserError("--chunk-seconds reads and writes named files, not pipes ('-', mkfifo): it seeks in the input")
    if is_picture(dst) or Path(dst).suffix.lower() in (".y4m", ".gif", ".apng"):
        raise UserError(f"{dst}: --chunk-seconds writes a compressed video file (not pictures, GIF, APNG or .y4m)")
    if options.reference is not None:
        raise UserError("--reference scores a whole run: leave out --chunk-seconds")
    if options.start or options.duration is not None:
        raise UserError("--start and --duration make a short part: leave out --chunk-seconds")
    if options.deinterlace == "field":  # chunks list the input's frames: a frame per field has no entry
        raise UserError("--deinterlace field makes two frames of each: leave out --chunk-seconds (or deinterlace on)")


def segment_encoding(dst: str, options: EnhanceOptions) -> EncodeOptions:
    """The segments' encoder: the output's (the join copies their packets), in an MP4 that holds it."""
    codec = options.encode.codec or ("libvpx-vp9" if Path(dst).suffix.lower() == ".webm" else None)
    return dataclasses.replace(options.encode, codec=codec)


def joinable(source: VideoSource, target: FileTarget, options: EnhanceOptions,
             notice: Callable[[str], None]) -> EncodeOptions:  # fmt: skip
    """The output's container takes the video the join gives it, as a whole run's sink is tried (Ogg no H.264, MXF
    no H.264 at 10 fps), and the segments take the output's encoder (.ogv's VP8 goes in no MP4): tried in the output's
    partial file (removed) before any chunk runs, not found by the join after all of them. -> the segments' encoding:
    frames turned upright where the output cannot say the turn (video/upright.py), as the whole run's sink does.
    What the output drops or encodes again goes to `notice`, to be said before the chunks run (the join said it once
    they had, hours on)."""
    try:
        trial = VideoSink(target.open(), source.info, options.scale, source.carried, options.encode, target.format,
                          notice=notice)  # fmt: skip
        with contextlib.closing(trial.container):
            held = muxer_holds(SEGMENT_FORMAT, lambda container: video_like(container, trial.stream))
    finally:
        target.discard()
    if not held:
        raise UserError(f"{target.dst}: its {trial.codec_name} video goes in no {SEGMENT_FORMAT} segment of a chunked "
                        "run: leave out --chunk-seconds")  # fmt: skip
    return dataclasses.replace(options.encode, upright=trial.upright is not None)


def workers_for(source: VideoSource, options: EnhanceOptions, chunking: Chunking, console: Console) -> Workers:
    """Where the chunks run. Worker processes and Ray tasks load the model themselves: here the
    weights, depth and tiling, and the device and precision (against the Ray cluster's devices,
    for Ray) are checked first, so a mistake costs no work folder."""
    if chunking.ray is None and chunking.workers == 1:
        return InProcess(source, load_model(options.model, console))
    checked = dataclasses.replace(options.model, device="cpu", precision="fp32").resolve()
    if chunking.ray is not None:
        return RayWorkers(chunking.ray, options, checked.model)
    return LocalWorkers(chunking.workers, options.model.resolve())


def restore_chunks(jobs: list[ChunkJob], manifest: Manifest, work: Path, options: EnhanceOptions, runner: Workers,
                   console: Console) -> None:  # fmt: skip
    """The chunks not done yet (a chunk recorded as done whose files are gone or damaged is done again), each
    recorded as it finishes."""
    done = {job.index for job in jobs if job.index in manifest.done and is_whole(job)}
    todo = [job for job in jobs if job.index not in done]
    for job in todo:
        if job.index in manifest.done:
            say(f"chunk {job.index + 1}: its files in {work} are gone or damaged; it is done again", console)

    def finished(result: ChunkDone) -> None:
        job = result.job
        manifest.finish(job.index, work, [job.segment, job.log], result.ran, result.damage)
        progress.finish(job)
        say(f"chunk {job.index + 1} of {len(jobs)} done ({counted(len(job.chunk.frames), 'frame')})", console)

    say(f"{counted(len(jobs), 'chunk')}, {len(done)} done (work folder {work})", console)
    with ChunkProgress(console, jobs, done) as progress:
        try:
            runner.run(todo, options, progress.report, finished)
        except Interrupted as e:
            raise Interrupted(e.signum, resumable(manifest, jobs, work)) from None
        except UserError as e:  # a chunk's own, a worker lost: the chunks done are kept all the same
            raise UserError(f"{e}; {resumable(manifest, jobs, work)}") from None


def resumable(manifest: Manifest, jobs: list[ChunkJob], work: Path) -> str:
    """What a run that stopped leaves, and how it goes on."""
    return (
        f"{len(manifest.done)} of {len(jobs)} chunks done in {work}; the same command with --resume goes on from there"
    )


def join_output(source: VideoSource, jobs: list[ChunkJob], target: FileTarget, log_path: Path | None,
                console: Console) -> tuple[int, FrameLog]:  # fmt: skip
    """The segments, with the input's other streams, into the output, put in place whole or not at
    all (the caller discards it where this fails); the chunks' log rows into one log. -> (frames written, the log)."""
    written = join(source, [job.segment for job in jobs], target.open(), target.format, lambda _: None)  # said before
    log = write_log(log_path, [job.log for job in jobs])
    target.commit()
    return written, log


def run_chunks(source: VideoSource, work: Path, chunks: list[Chunk], options: EnhanceOptions, chunking: Chunking,
               console: Console, notices: list[str]) -> tuple[list[ChunkJob], Manifest]:  # fmt: skip
    """Every chunk not done yet restored into its segment, by the workers `chunking` asks for, the output's
    `notices` said under the header. -> (the jobs, the work folder's record)."""
    with contextlib.closing(workers_for(source, options, chunking, console)) as runner:
        fresh = Manifest(fingerprint(source.path), options.decisive() | {"chunk_seconds": chunking.seconds}, chunks)
        manifest = begin(work, fresh, chunking.resume)
        info = source.info
        say(f"{source.name}: {source.which}{info.width}x{info.height} {info.source_pix_fmt}{source.scan}, "
            f"x{options.scale}; {runner.header}", console)  # fmt: skip
        for notice in notices:
            say(notice, console)
        if info.has_alpha:
            say("the chunks' segments (MP4) hold no transparency: the input's is dropped (a whole run keeps it)",
                console)  # fmt: skip
        jobs = plan(source.path, work, chunks, manifest.ran)
        restore_chunks(jobs, manifest, work, options, runner, console)
    return jobs, manifest


def enhance_chunked(src: str, dst: str, options: EnhanceOptions, chunking: Chunking, console: Console) -> None:
    check_chunkable(src, dst, options)
    weights = options.model.weights
    if weights is not None and Path(weights).exists():  # a file (else a shipped name): the workers' folder may differ
        weights = str(Path(weights).resolve())
    model = dataclasses.replace(options.model, weights=weights)
    options = dataclasses.replace(options, encode=segment_encoding(dst, options), model=model)
    target = FileTarget(src, dst, options.overwrite, options.output_format)
    work = work_folder(target.dst)
    with VideoSource(Path(src), options.input_format, options.stream, deinterlace=options.deinterlace) as source:
        options = dataclasses.replace(options, model=for_content(options.model, judge_source(source)))
        notices: list[str] = []
        options = dataclasses.replace(options, encode=joinable(source, target, options, notices.append))
        packets = video_packets(Path(src), source.video.index)
        chunks = cut(packets, source.video.time_base, chunking.seconds, source.name)
        target.open()  # locked from here to the join: a second run onto this output (a --resume while this one
        try:  # runs) is refused, where it had taken the same chunks and each run broke the other's
            jobs, manifest = run_chunks(source, work, chunks, options, chunking, console, notices)
            try:
                written, log = join_output(source, jobs, target, options.log, console)
            except Interrupted as e:  # as it joined: every chunk kept for the join a resume makes
                raise Interrupted(e.signum, resumable(manifest, jobs, work)) from None
            except OSError as e:  # a full disk was said of the hidden partial file (".out.partial.mkv: File too large")
                raise UserError(f"{target.dst}: cannot write ({e.strerror or e}); {resumable(manifest, jobs, work)}"
                                ) from None  # fmt: skip
        finally:
            target.discard()  # a no-op once committed
    shutil.rmtree(work)
    say(f"wrote {target.dst} ({counted(written, 'frame')} from {counted(len(chunks), 'chunk')}; PSNR vs bicubic: "
        f"{log.psnr_vs_bicubic()})", console)  # fmt: skip
    if damage := damage_report(src, target.dst, manifest, len(packets), written):
        if options.strict:
            raise UserError(damage)
        say(f"warning: {damage}", console, style="yellow")


def damage_report(src: str, dst: Path, manifest: Manifest, packets: int, written: int) -> str:
    """One line on what the input's damage cost, as a whole run says it ("" for none): the first
    error met (not a count: a chunk decodes from the keyframe before its own, so damage there is
    met twice), and the video packets that gave no frame (damage, or as in a whole run: stored
    before the first keyframe, dropped by an edit list)."""
    parts = []
    if manifest.damaged:
        parts.append(f"damaged input, decoded past errors (first: {manifest.damaged[min(manifest.damaged, key=int)]})")
    if written < packets:
        parts.append(f"{packets - written} of its {packets} video packets gave no frame")
    return f"{src}: {'; '.join(parts)}; {dst} has the {counted(written, 'frame')} that decoded" if parts else ""
