"""Chunked runs as Ray tasks (--ray), on a 2-CPU Ray cluster the tests start on this machine: the
output equals one process's, also when a worker is killed mid-task and its chunk is run again."""

import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stream.chunked import ray_tasks, run
from stream.chunked.job import run_job
from stream.chunked.ray_state import RunState
from stream.cli import main
from tests.chunked.test_chunks import OPEN_GOPS, VFR_MS, decoded, enhance
from tests.cli_helpers import run_cli
from tests.media import make_clip

pytest.importorskip("ray")
CPU_CHUNKS = ("--chunk-seconds", "0.3", "--device", "cpu")  # the test cluster has no GPU: nor has the run to compare


HEAD = """
import sys, ray
ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test is done with it
ray.shutdown()
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray instance of 2 CPUs and no GPU, held by a process of its own; its address. (Not `ray
    start`: that records itself as this machine's default cluster, and only `ray stop`, which
    stops every instance, undoes it.)"""
    no_tokens = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # Ray >= 2.59 would ask clients for its token
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=no_tokens, text=True)  # fmt: skip
    address = head.stdout.readline().strip()
    try:
        assert address, "the Ray instance did not start"
        yield address
    finally:
        head.communicate("")  # its stdin closed: it shuts the instance down


def chunks_done(err: str) -> list[str]:
    return sorted(line.split()[1] for line in err.splitlines() if " of 3 done" in line)


def assert_same_video(path: Path, reference: Path) -> None:
    ours, theirs = decoded(path), decoded(reference)
    assert ours[0] == theirs[0] and len(ours[0]) == len(VFR_MS) and ours[2] == theirs[2]
    assert all(np.array_equal(a, b) for a, b in zip(ours[1], theirs[1], strict=True))


def test_ray_tasks_write_what_one_process_writes(tmp_path, tiny_weights, capsys, cluster, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "one.mkv", tiny_weights, *CPU_CHUNKS)
    monkeypatch.setattr(run, "InProcess", None)  # nothing restored in this process
    err = enhance(capsys, src, tmp_path / "ray.mkv", tiny_weights, *CPU_CHUNKS, "--ray", cluster)
    assert chunks_done(err) == ["1", "2", "3"]
    assert_same_video(tmp_path / "ray.mkv", tmp_path / "one.mkv")


def test_a_worker_killed_mid_task_is_retried_and_the_output_is_whole(
    tmp_path, tiny_weights, capsys, cluster, monkeypatch
):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "one.mkv", tiny_weights, *CPU_CHUNKS)
    killed = tmp_path / "killed"

    def dies_once(job, options, counts):  # the second chunk's first worker: SIGKILL after a frame
        def report(index, frames):
            if index == 1 and not killed.exists():
                killed.touch()
                os.kill(os.getpid(), signal.SIGKILL)

        return run_job(job, options, report)

    monkeypatch.setattr(ray_tasks, "ray_task", dies_once)  # sent to the workers by value
    monkeypatch.setenv("RAY_ADDRESS", cluster)  # --ray alone: Ray's default, this cluster
    err = enhance(capsys, src, tmp_path / "ray.mkv", tiny_weights, *CPU_CHUNKS, "--ray")
    assert killed.exists(), "no worker was killed"
    assert chunks_done(err) == ["1", "2", "3"]
    assert_same_video(tmp_path / "ray.mkv", tmp_path / "one.mkv")


def test_sigterm_stops_a_ray_run_and_says_how_to_go_on(tmp_path, tiny_weights, capsys, cluster, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)

    def stalls_on_the_last_chunk(job, options, counts):
        if job.index == 2:
            signal.pause()  # until Ray's cancel kills the worker
        return run_job(job, options, lambda index, frames: None)

    def stop_after_the_first_chunk(self, job):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or `timeout` sends it

    monkeypatch.setattr(ray_tasks, "ray_task", stalls_on_the_last_chunk)
    monkeypatch.setattr(run.ChunkProgress, "finish", stop_after_the_first_chunk)
    monkeypatch.setattr(sys, "argv", ["drrn-stream", str(src), str(tmp_path / "out.mkv"), "--weights",
                                      str(tiny_weights), "--chunk-seconds", "0.3", "--ray", cluster])  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 128 + signal.SIGTERM, err  # Ray's own handler would exit with 15, saying nothing
    assert "the same command with --resume goes on from there" in err and "Traceback" not in err


def test_a_cluster_address_nothing_answers_at_is_one_line(tmp_path, tiny_weights, capsys):
    """ray.init retried it for minutes, saying nothing but Ray's own warnings (8 minutes, then killed)."""
    src = make_clip(tmp_path / "in.mp4", audio=False)
    args = [str(src), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights), *CPU_CHUNKS, "--ray", "127.0.0.1:1"]
    code, _, err = run_cli(args, capsys)
    assert (code, err) == (1, "error: --ray 127.0.0.1:1: cannot join a Ray cluster there (Connection refused)\n")


class QuietWebServer(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


def test_a_cluster_address_where_no_ray_answers_is_one_line(tmp_path, tiny_weights, capsys):
    """A web server there (the dashboard's 8265, given for the cluster's port): ray.init retried for minutes."""
    server = http.server.HTTPServer(("127.0.0.1", 0), QuietWebServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = make_clip(tmp_path / "in.mp4", audio=False)
    address = f"127.0.0.1:{server.server_address[1]}"
    args = [str(src), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights), *CPU_CHUNKS, "--ray", address]
    try:
        code, _, err = run_cli(args, capsys)
    finally:
        server.shutdown()
    assert code == 1 and err == (f"error: --ray {address}: what answers there is no Ray cluster (no gRPC: a "
                                 "dashboard?); give the address `ray start --head` printed (port 6379 unless told, "
                                 "ray:// 10001)\n")  # fmt: skip


def test_the_first_task_to_load_its_model_settles_what_the_others_must_run():
    state = RunState({})
    assert state.settle({"precision": "bf16"}) == {"precision": "bf16"}
    assert state.settle({"precision": "fp32"}) == {"precision": "bf16"}  # a node without bf16: refused by restore_chunk
    assert RunState({"precision": "fp16"}).settle({"precision": "bf16"}) == {"precision": "fp16"}  # resumed


def test_a_stop_signal_wrapped_by_rays_wait_is_said_as_a_stop():
    """Interrupted, raised by the signal handler inside Ray's Cython ray.wait, came out as "unexpected SystemError:
    <cyfunction CoreWorker.wait ...> returned a result with an exception set"."""
    from stream.errors import Interrupted

    try:
        try:
            raise Interrupted(signal.SIGINT)
        except Interrupted as stop:
            raise SystemError("<cyfunction CoreWorker.wait> returned a result with an exception set") from stop
    except SystemError as wrapped:
        assert isinstance(ray_tasks.stop_within(wrapped), Interrupted)
    other = SystemError("another")
    assert ray_tasks.stop_within(other) is other


def test_a_sigterm_handler_a_library_sets_is_not_set_within():
    """Ray's, set in ray.init, exited with status 15 and not a word, its local instance's agents left running."""
    ours, before_int, setter = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), signal.signal
    try:
        with ray_tasks.sigterm_kept():
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(15))
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # others are set as asked
            assert signal.getsignal(signal.SIGTERM) is ours and signal.getsignal(signal.SIGINT) is signal.SIG_DFL
        assert signal.signal is setter and signal.getsignal(signal.SIGTERM) is ours  # put back as it was
    finally:
        signal.signal(signal.SIGINT, before_int)
