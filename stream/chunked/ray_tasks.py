"""Chunks as Ray tasks (`--ray [ADDRESS]`): on a cluster, or on a local Ray instance.

Each task restores one chunk with one GPU where the cluster has GPUs (one CPU core otherwise),
reading the input and writing its segment by path: the nodes share the storage, the driver
moves no frames. A task whose worker or node is lost, or that fails on an I/O or a runtime
error, is run again (up to RETRIES times); its partial segment is discarded. Ray is an optional
extra (`pip install -e '.[ray]'`), imported only here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import torch

from kernels.choice import ModelChoice
from kernels.errors import reason
from stream.chunked.job import ChunkDone, ChunkJob, Report, run_job, worker_model
from stream.chunked.manifest import refuse_another_run
from stream.chunked.ray_state import RunState
from stream.chunked.workers import POLL_S, Finished
from stream.errors import Interrupted, UserError
from stream.video.enhance import EnhanceOptions

RETRIES = 3
CONNECT_S = 10  # for the cluster's address to take a connection: a far cluster answers well within
# A cluster's GCS and its Ray Client server speak gRPC, over HTTP/2: to a client's preface (and an empty SETTINGS
# frame) they answer with a frame of their own, SETTINGS first, as HTTP/2 servers must
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000 04 00 00000000")
HTTP2_SETTINGS = 0x04  # the frame type, its header's fourth byte
RETRIED = (OSError, RuntimeError)  # I/O on shared storage, a GPU's hiccup: worth another try; bad input is not


def import_ray() -> ModuleType:
    """Ray, read without its C++ failure signal handler (read as it is imported), which aborted the process at a
    SIGTERM as the local instance started ("*** SIGTERM received ...", exit 134)."""
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install -e '.[ray]' (or pip install ray)") from None
    return ray


def ray_task(job: ChunkJob, options: EnhanceOptions, state: object) -> ChunkDone:
    """One chunk, in a Ray worker: one core (a CPU task asks for one), or the GPU Ray gave it;
    refused at its first frame where it runs otherwise than the run's other chunks. (Not before:
    a task waiting in ray.get lends its core to another task, which then outstays the wait.)"""
    import ray

    torch.set_num_threads(1)
    ran = worker_model(options.model).ran.record()
    agreed = state.settle.remote(ran)  # type: ignore[attr-defined]  # answered while the first frames are restored
    checked = False

    def report(index: int, frames: int) -> None:
        nonlocal checked
        if not checked:
            refuse_another_run(job.index, job.segment.parent, ray.get(agreed), ran)
            checked = True
        state.set.remote(index, frames)  # type: ignore[attr-defined]

    return run_job(job, options, report)


def task_choice(choice: ModelChoice, gpus: float) -> ModelChoice:
    """A task's model choice: on the GPU Ray gives it (the only one it sees) where the cluster has
    GPUs and the run may use them, else on a CPU; checked here, before any work folder is made."""
    device = choice.device
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise UserError(f"--device {device}: Ray tasks run on cpu or cuda")
    if device.startswith("cuda") and not gpus:
        raise UserError(f"--device {device}: the Ray cluster has no GPU")
    task = dataclasses.replace(choice, device="cuda" if gpus else "cpu")
    if not gpus:
        task.resolve()  # the weights, the depth, and a precision no CPU runs (fp16): one line now
    return task


class RayWorkers:
    """address "" (--ray alone): Ray's default, RAY_ADDRESS, else a cluster started on this machine
    (`ray start`), else a new local instance; else the address of a running cluster."""

    def __init__(self, address: str, options: EnhanceOptions, model: str) -> None:
        """Joins the cluster (or starts the local instance) at once: before any work folder is made.
        `model`: the weights and depth, for the header (each task settles the device's precision)."""
        self.ray = ray = import_ray()
        self.joined = not ray.is_initialized()  # else the caller's own (the Python API, a notebook): left as it is
        if self.joined:
            join_cluster(ray, address)
        try:
            gpus = ray.cluster_resources().get("GPU", 0) if options.model.device != "cpu" else 0
            self.model, self.gpus = task_choice(options.model, gpus), int(gpus > 0)
            where = "a GPU" if self.gpus else "a CPU core"
            self.header = f"DRRN {model} as Ray tasks, {where} each, precision {options.model.precision}"
        except BaseException:
            self.close()
            raise

    def run(self, jobs: list[ChunkJob], options: EnhanceOptions, report: Report, finished: Finished) -> None:
        ray = self.ray
        refs: dict = {}
        try:
            refs = self.submit(jobs, dataclasses.replace(options, model=self.model))
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
                with contextlib.suppress(ray.exceptions.RayError):  # progress only: never worth stopping the run
                    for index, frames in ray.get(self.state.read.remote(), timeout=POLL_S).items():
                        report(index, frames)
                self.record(ready, refs, finished)
        except ray.exceptions.RayError as e:
            raise UserError(f"Ray: lost the cluster ({reason(e)})") from None
        except SystemError as e:  # a stop signal's Interrupted raised in Ray's Cython wait, which wraps it
            raise stop_within(e) from None
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)

    def submit(self, jobs: list[ChunkJob], options: EnhanceOptions) -> dict:
        """A task per job -> {its result's ref: job}. GPU tasks (num_gpus named in ray.remote itself)
        get a fresh worker process each, so that each sees its own GPU."""
        ray = self.ray
        task = ray.remote(num_gpus=self.gpus, num_cpus=1, max_retries=RETRIES, retry_exceptions=list(RETRIED))(ray_task)
        ran_before = jobs[0].ran_before if jobs else {}
        self.state = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(RunState).remote(ran_before)
        return {task.remote(job, options, self.state): job for job in jobs}

    def record(self, ready: list, refs: dict, finished: Finished) -> None:
        """The tasks `ready`; where one failed, first every other one finished meanwhile (kept for a resume)."""
        try:
            for ref in ready:
                finished(self.result(ref, refs.pop(ref)))
        except UserError:
            done, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0) if refs else ([], [])
            for ref in done:
                with contextlib.suppress(UserError):
                    finished(self.result(ref, refs.pop(ref)))
            raise

    def result(self, ref: object, job: ChunkJob) -> ChunkDone:
        """A task's result, or one line for what stopped it."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, UserError):
                raise e.cause from None
            tries = f", tried {RETRIES + 1} times" if isinstance(e.cause, RETRIED) else ""
            raise UserError(f"chunk {job.index + 1}: {type(e.cause).__name__}: {reason(e.cause)}{tries}") from None
        except self.ray.exceptions.RayError as e:
            raise UserError(f"chunk {job.index + 1}: Ray lost it {RETRIES + 1} times ({reason(e)})") from None

    def close(self) -> None:
        if self.joined and self.ray.is_initialized():
            self.ray.shutdown()


def stop_within(e: SystemError) -> BaseException:
    """The stop signal's Interrupted that Ray's ray.wait or ray.get wrapped ("<cyfunction CoreWorker.wait> returned
    a result with an exception set"), else the error itself."""
    cause: BaseException | None = e
    while cause is not None and not isinstance(cause, Interrupted):
        cause = cause.__cause__ or cause.__context__
    return cause or e


def join_cluster(ray: ModuleType, address: str) -> None:
    """ray.init, quiet, with this process's SIGTERM handler kept through it: Ray's own, set as it starts, exited
    with status 15 and not a word (not the line that says how to resume), the local instance's agents left
    running. A stop signal as it starts shuts down what it started."""
    check_answers(address)
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with sigterm_kept():
            ray.init(address=address or None, logging_level=logging.ERROR, log_to_driver=False)
    except Interrupted:
        with contextlib.suppress(Exception):
            ray.shutdown()
        raise
    except Exception as e:  # whatever stops ray.init (refused, timed out, a folder of another user's) is this
        raise UserError(f"--ray {address or '(no address)'}: cannot join a Ray cluster there ({reason(e)})") from None
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def sigterm_kept() -> Iterator[None]:
    """Within: a SIGTERM handler set by a library (Ray's, in ray.init) is not set; the one in place stays."""
    setter = signal.signal

    def set_but_sigterm(signum: int, handler: Any) -> Any:
        return signal.getsignal(signum) if signum == signal.SIGTERM else setter(signum, handler)

    signal.signal = set_but_sigterm
    try:
        yield
    finally:
        signal.signal = setter


def check_answers(address: str) -> None:
    """That a cluster's HOST:PORT (or ray://HOST:PORT) answers as Ray's gRPC servers do: where nothing does, or
    something else (its dashboard), ray.init retries for many minutes, printing only Ray's own warnings, and heeds a
    stop signal only between its tries. `auto` and `local` are Ray's to find."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_S) as connection:
            connection.sendall(HTTP2_PREFACE)
            answer = connection.recv(9)
    except OSError as e:
        raise UserError(f"--ray {address}: cannot join a Ray cluster there ({e.strerror or e})") from None
    if len(answer) < 4 or answer[3] != HTTP2_SETTINGS:  # the dashboard (8265), a web server: ray.init tried minutes
        raise UserError(f"--ray {address}: what answers there is no Ray cluster (no gRPC: a dashboard?); give the "
                        "address `ray start --head` printed (port 6379 unless told, ray:// 10001)")  # fmt: skip
