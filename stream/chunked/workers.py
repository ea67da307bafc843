"""Where a chunked run's chunks are restored: in this process, or in local worker processes (each
with its own GPU where the machine has several, the CPU's threads split between them otherwise);
Ray tasks on a cluster are ray_tasks.py. Each is given the jobs and calls back as frames
are written (progress across workers) and as chunks finish (the driver records them)."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import queue
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from typing import Protocol

import torch

from kernels.choice import Loaded, Resolved
from stream.chunked.job import ChunkDone, ChunkJob, Report, restore_chunk, run_job
from stream.errors import UserError
from stream.video.enhance import EnhanceOptions
from stream.video.source import VideoSource

POLL_S = 0.25  # how often the driver collects the workers' progress
_PR_SET_PDEATHSIG = 1  # prctl(2)
Finished = Callable[[ChunkDone], None]


class Workers(Protocol):
    header: str  # what restores the chunks, for the run's first line

    def run(self, jobs: list[ChunkJob], options: EnhanceOptions, report: Report, finished: Finished) -> None:
        """Restore `jobs`, calling `finished` as each is done; an error or a stop signal ends them all
        (the chunks finished are kept)."""

    def close(self) -> None:
        """Let go of what the workers hold (a Ray cluster joined), after a run or instead of one."""


class InProcess:
    """The driver's own process, with the input it has open and the model it has loaded."""

    def __init__(self, source: VideoSource, model: Loaded) -> None:
        self.source, self.model, self.header = source, model, str(model.ran)

    def run(self, jobs: list[ChunkJob], options: EnhanceOptions, report: Report, finished: Finished) -> None:
        for job in jobs:
            finished(restore_chunk(job, self.source, self.model, options, report))

    def close(self) -> None:
        pass


def worker_device(device: str, slot: int, gpus: int) -> str:
    """Worker `slot`'s device: a GPU of its own, round robin, where there are several and the run
    may use any of them; else the one asked for."""
    if gpus > 1 and device in ("auto", "cuda"):
        return f"cuda:{slot % gpus}"
    return device


_worker: dict = {}  # in a worker process: its device and where its progress goes (start_worker)


def start_worker(threads: int, slots: Synchronized, gpus: int, reports: Queue) -> None:
    """A worker: Ctrl-C and SIGHUP, which reach the whole process group, are the driver's to act on
    (it ends the workers with SIGKILL); the worker dies with the driver (Linux), even by kill -9;
    it takes its share of the cores, and the next GPU."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    torch.set_num_threads(threads)
    with slots.get_lock():
        slot, slots.value = slots.value, slots.value + 1
    _worker.update(slot=slot, gpus=gpus, reports=reports)


def run_in_worker(job: ChunkJob, options: EnhanceOptions) -> ChunkDone:
    """A worker process's task: the chunk on the worker's device, its progress sent to the driver."""
    device = worker_device(options.model.device, _worker["slot"], _worker["gpus"])
    reports = _worker["reports"]
    options = dataclasses.replace(options, model=dataclasses.replace(options.model, device=device))
    return run_job(job, options, lambda *counted: reports.put(counted))


class LocalWorkers:
    """N spawned processes on this machine (a fresh interpreter each: no copy of this one's threads)."""

    def __init__(self, workers: int, ran: Resolved) -> None:
        self.workers, self.header = workers, f"{ran}; in {workers} worker processes"

    def run(self, jobs: list[ChunkJob], options: EnhanceOptions, report: Report, finished: Finished) -> None:
        context = multiprocessing.get_context("spawn")
        threads = max(1, torch.get_num_threads() // self.workers)
        gpus = torch.cuda.device_count()  # worker_device decides whether the device asked for may spread
        reports, slots = context.Queue(), context.Value("i", 0)
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=start_worker,
                                   initargs=(threads, slots, gpus, reports))  # fmt: skip
        try:
            pending = {pool.submit(run_in_worker, job, options) for job in jobs}
            while pending:
                ended, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                drain(reports, report)
                for future in sorted(ended, key=lambda f: f.exception() is not None):  # the chunks done recorded first
                    finished(worker_result(future))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for process in multiprocessing.active_children():  # a chunk's worker mid-way: its segment is discarded
                process.kill()

    def close(self) -> None:
        pass


def worker_result(future: Future) -> ChunkDone:
    """A worker's chunk done, or its error; a worker that died (killed, out of memory) one line, not the pool's
    "unexpected BrokenProcessPool: A process in the process pool was terminated abruptly ..."."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise UserError("a worker process died (killed, or out of memory?)") from None


def drain(reports: Queue, report: Report) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            report(*reports.get_nowait())
