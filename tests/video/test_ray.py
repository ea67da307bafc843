"""Chunked runs as Ray tasks (--ray), on a 2-CPU Ray cluster the tests start on this machine: the
output equals one process's, also when a worker is killed mid-task and its chunk is run again."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stream.cli import main
from stream.video import chunked, ray_workers
from stream.video.chunk_job import run_job
from tests.media import make_clip
from tests.video.test_chunks import OPEN_GOPS, VFR_MS, decoded, enhance

pytest.importorskip("ray")
RAY = str(Path(sys.executable).with_name("ray"))
CPU_CHUNKS = ("--chunk-seconds", "0.3", "--device", "cpu")  # the test cluster has no GPU: nor has the run to compare


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head of 2 CPUs and no GPU, started as a user starts one (held by `--block`, so that
    ending it ends only this cluster); its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = [RAY, "start", "--head", "--port", str(port), "--num-cpus", "2", "--num-gpus", "0",
             "--include-dashboard", "false", "--disable-usage-stats", "--block"]  # fmt: skip
    no_tokens = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # Ray >= 2.59 turns them on where a token file exists
    head = subprocess.Popen(start, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=no_tokens, text=True)
    said = []
    for line in head.stdout:  # until it says it runs (or ends)
        said.append(line)
        if "Ray runtime started" in line:
            break
    try:
        assert head.poll() is None, "".join(said)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        head.wait()


def chunks_done(err: str) -> list[str]:
    return sorted(line.split()[1] for line in err.splitlines() if " of 3 done" in line)


def assert_same_video(path: Path, reference: Path) -> None:
    ours, theirs = decoded(path), decoded(reference)
    assert ours[0] == theirs[0] and len(ours[0]) == len(VFR_MS) and ours[2] == theirs[2]
    assert all(np.array_equal(a, b) for a, b in zip(ours[1], theirs[1], strict=True))


def test_ray_tasks_write_what_one_process_writes(tmp_path, tiny_weights, capsys, cluster, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "one.mkv", tiny_weights, *CPU_CHUNKS)
    monkeypatch.setattr(chunked, "InProcess", None)  # nothing restored in this process
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

    monkeypatch.setattr(ray_workers, "ray_task", dies_once)  # sent to the workers by value
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

    monkeypatch.setattr(ray_workers, "ray_task", stalls_on_the_last_chunk)
    monkeypatch.setattr(chunked.ChunkProgress, "finish", stop_after_the_first_chunk)
    monkeypatch.setattr(sys, "argv", ["drrn-stream", str(src), str(tmp_path / "out.mkv"), "--weights",
                                      str(tiny_weights), "--chunk-seconds", "0.3", "--ray", cluster])  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 128 + signal.SIGTERM, err  # Ray's own handler would exit with 15, saying nothing
    assert "the same command with --resume goes on from there" in err and "Traceback" not in err


def test_the_first_task_to_load_its_model_settles_what_the_others_must_run():
    state = ray_workers.RunState({})
    assert state.settle({"precision": "bf16"}) == {"precision": "bf16"}
    assert state.settle({"precision": "fp32"}) == {"precision": "bf16"}  # a node without bf16: refused by restore_chunk
    assert ray_workers.RunState({"precision": "fp16"}).settle({"precision": "bf16"}) == {"precision": "fp16"}  # resumed
