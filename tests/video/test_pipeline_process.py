"""The pipeline as a user's shell runs it: Ctrl-C mid-run, and memory over a long clip."""

import os
import select
import signal
import subprocess
import sys

import pytest

from tests.media import make_clip, probe


def read_lines(fd: int, count: int) -> None:
    """Block until `count` lines have come through the pipe `fd` (a hang guard of 120 s per read)."""
    data = b""
    while data.count(b"\n") < count:
        assert select.select([fd], [], [], 120)[0], "nothing came through the pipe"
        data += os.read(fd, 4096)


def start_and_stop(tmp_path, weights, signals: list[signal.Signals]) -> tuple[subprocess.Popen, str, int]:
    """Enhance a 400-frame clip piped in, send `signals` once six frames are written; -> (process, stderr, frames
    kept). Only the clip's first half is piped before the signals: however fast the machine, the run cannot have
    ended before them (with the whole clip at hand, a fast run could)."""
    src = make_clip(tmp_path / "in.mkv", width=32, height=32, pts_ms=[40 * i for i in range(400)])
    data = src.read_bytes()
    dst, log = tmp_path / "out.mp4", tmp_path / "log.csv"
    os.mkfifo(log)  # the log as a pipe: its rows say when frames are done, with no polling
    fd = os.open(log, os.O_RDWR)  # read-write: opening never waits for the writer
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream", "-", str(dst), "--weights", str(weights), "--log", str(log),
             "--batch", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(data[: len(data) // 2])
        proc.stdin.flush()
        read_lines(fd, 1 + 6)  # the header and six frames written
        for s in signals:
            proc.send_signal(s)
        _, err = proc.communicate(timeout=120)  # closes the input: the rest of the clip never comes
    finally:
        os.close(fd)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "a hidden partial file was left"
    done = probe(dst)["frames"]  # playable, under its own name
    assert probe(dst)["pts_ms"] == [40 * i for i in range(done)]
    return proc, err.decode(), done


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_keeps_a_playable_file_of_the_frames_done(tmp_path, tiny_weights, stop):
    proc, err, done = start_and_stop(tmp_path, tiny_weights, [stop])
    assert proc.returncode == 128 + stop, err  # 130, 143, 129: as a shell reports a process the signal ended
    assert "Traceback" not in err and "interrupted: kept" in err
    assert 6 <= done < 400


def test_a_second_signal_ends_at_once_and_still_keeps_the_file(tmp_path, tiny_weights):
    proc, err, done = start_and_stop(tmp_path, tiny_weights, [signal.SIGTERM, signal.SIGTERM])
    assert proc.returncode == 143, err
    assert "Traceback" not in err and 0 < done < 400


# Peak RSS of this process alone: VmHWM starts afresh at exec, whereas ru_maxrss keeps the
# RSS of the forked copy of pytest, which grows as the test suite runs.
MEMORY_SCRIPT = """
import sys
from pathlib import Path
from stream import EnhanceOptions, ModelChoice, enhance
enhance(Path(sys.argv[1]), Path(sys.argv[2]), EnhanceOptions(model=ModelChoice(sys.argv[3]), overwrite=True))
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
def test_memory_stays_flat_with_length(tmp_path, tiny_weights):
    peaks = {}
    for frames in (200, 2000):
        src = make_clip(tmp_path / f"in{frames}.mp4", width=32, height=32, pts_ms=[40 * i for i in range(frames)])
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(src), str(tmp_path / "out.mp4"), str(tiny_weights)],
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        peaks[frames] = int(out.stdout.split()[-1])
    assert peaks[2000] <= 1.10 * peaks[200], peaks


def test_an_ignored_signal_stays_ignored(tmp_path, tiny_weights):
    """`nohup` ignores SIGHUP: a closed terminal must not stop the run."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=32, pts_ms=[40 * i for i in range(30)])
    dst, log = tmp_path / "out.mp4", tmp_path / "log.csv"
    os.mkfifo(log)
    fd = os.open(log, os.O_RDWR)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream", str(src), str(dst), "--weights", str(tiny_weights), "--log", str(log),
             "--batch", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
        )  # fmt: skip
        read_lines(fd, 1 + 3)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(fd)
    assert proc.returncode == 0, err
    assert probe(dst)["frames"] == 30
