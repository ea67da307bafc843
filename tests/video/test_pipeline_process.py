"""The pipeline as a user's shell runs it: Ctrl-C mid-run, and memory over a long clip."""

import fcntl
import os
import select
import signal
import subprocess
import sys
import threading

import av
import pytest

from tests.media import make_clip, probe


def read_lines(fd: int, count: int) -> None:
    """Block until `count` lines have come through the pipe `fd` (a hang guard of 120 s per read)."""
    data = b""
    while data.count(b"\n") < count:
        assert select.select([fd], [], [], 120)[0], "nothing came through the pipe"
        data += os.read(fd, 4096)


def read_until(fd: int, text: bytes | None = None) -> bytes:
    """What comes through the pipe `fd` until `text` has (None: until it closes), a hang guard of 120 s per read."""
    data = b""
    while text is None or text not in data:
        assert select.select([fd], [], [], 120)[0], f"{text!r} never came through the pipe"
        if not (more := os.read(fd, 4096)):
            break
        data += more
    return data


def send_signals(proc: subprocess.Popen, signals: list[signal.Signals]) -> bytes:
    """Send each signal once the one before it is heard (the run says it is stopping): two signals sent together
    can arrive as one. -> stderr until then."""
    assert proc.stderr is not None
    said = b""
    for n, s in enumerate(signals):
        proc.send_signal(s)
        if n + 1 < len(signals):
            said += read_until(proc.stderr.fileno(), b"stopping")
    return said


def frames_prefix(src, frames: int) -> bytes:
    """The bytes of `src` up to the end of its first `frames` packets: all that a reader of them needs."""
    with av.open(str(src)) as container:
        end = [packet.pos for packet in container.demux() if packet.size][frames]
    return src.read_bytes()[:end]


def start_and_stop(
    tmp_path, weights, signals: list[signal.Signals], piped: int = 200, done_before: int = 6, hold_input: bool = False
) -> tuple[subprocess.Popen, str, int]:
    """Enhance a 400-frame clip piped in, its first `piped` frames only, send `signals` once `done_before` frames
    are written; -> (process, stderr, frames kept). However fast the machine, the run cannot have ended before the
    signals (with the whole clip at hand, a fast run could). The pipe is closed once the signals are sent, or
    (`hold_input`) once the process has ended: a writer that stalls."""
    src = make_clip(tmp_path / "in.nut", 32, 32, [40 * i for i in range(400)], codec="rawvideo", audio=False)
    dst, log = tmp_path / "out.mp4", tmp_path / "log.csv"
    os.mkfifo(log)  # the log as a pipe: its rows say when frames are done, with no polling
    fd = os.open(log, os.O_RDWR)  # read-write: opening never waits for the writer
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream", "-", str(dst), "--weights", str(weights), "--log", str(log),
             "--batch", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(frames_prefix(src, piped))
        proc.stdin.flush()
        read_lines(fd, 1 + done_before)  # the header and the frames written
        err = send_signals(proc, signals)
        if not hold_input:
            proc.stdin.close()  # the rest of the clip never comes
        err += read_until(proc.stderr.fileno())
        proc.wait(timeout=120)
        proc.stdin.close()
        proc.stderr.close()
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


def test_a_stop_signal_ends_a_run_whose_input_pipe_stalls(tmp_path, tiny_weights):
    """The writer of stdin sends nothing more and keeps the pipe open: the decoder's thread, blocked reading it
    once the 60 frames sent are done, held the run until the pipe closed (a signal wakes only the main thread)."""
    proc, err, done = start_and_stop(tmp_path, tiny_weights, [signal.SIGTERM], piped=60, done_before=60,
                                     hold_input=True)  # fmt: skip
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "interrupted: kept" in err and "damaged" not in err  # the cut is not damage
    assert done == 60


def test_a_second_signal_ends_at_once_and_still_keeps_the_file(tmp_path, tiny_weights):
    """(Of another kind: the same kind within milliseconds is the first's echo, as `timeout` sends it.)"""
    proc, err, done = start_and_stop(tmp_path, tiny_weights, [signal.SIGTERM, signal.SIGINT])
    assert proc.returncode == 143, err
    assert "Traceback" not in err and 0 < done < 400


def small_pipe(fd: int) -> None:
    """A pipe that holds one page: a write of more returns only once its reader has taken the rest."""
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 4096)


def test_a_stop_signal_while_a_piped_input_is_opened_ends_the_run(tmp_path, tiny_weights):
    """The input's opening (PyAV probing stdin, in the main thread) waits for a writer that stalls: the signal's
    exception was raised inside PyAV's read callback, which printed it twice and read on until the pipe closed."""
    src = make_clip(tmp_path / "in.nut", width=256, height=256, pts_ms=[0, 40, 80], codec="rawvideo", audio=False)
    err = tmp_path / "err.txt"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream", "-", str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    assert proc.stdin is not None
    small_pipe(proc.stdin.fileno())
    try:
        proc.stdin.write(src.read_bytes()[: 64 * 1024])  # less than the first frame (96 KiB)
        proc.stdin.flush()  # returns once the input's opening has read all but a page of it
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        proc.stdin.close()
    text = err.read_text()
    assert proc.returncode == 143, text
    assert text.strip() == "interrupted (SIGTERM)"


def test_a_stop_signal_ends_a_run_reading_a_named_pipe_whose_writer_stalls(tmp_path, tiny_weights):
    """FFmpeg read a pipe by name (mkfifo) itself, in the main thread: deaf to signals until its writer wrote."""
    fifo = tmp_path / "in.mkv"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream", str(fifo), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    writer: list[int] = []
    opener = threading.Thread(target=lambda: writer.append(os.open(fifo, os.O_WRONLY)), daemon=True)
    opener.start()  # the open returns once the run has opened the pipe: it then waits for bytes that never come
    opener.join(120)
    assert writer, "the run never opened the pipe"
    try:
        proc.send_signal(signal.SIGTERM)
        err = read_until(proc.stderr.fileno())
        proc.wait(timeout=120)
    finally:
        os.close(writer[0])
        proc.stderr.close()
    assert proc.returncode == 143, err
    assert err == b"interrupted (SIGTERM)\n"


def test_a_second_signal_gives_up_on_a_reader_of_stdout_that_takes_nothing(tmp_path, tiny_weights):
    """Two signals, and the reader of stdout takes nothing: the encoder's thread, blocked writing, held the run for
    ever. The output ends where it is, as where the reader went away, and the run says it was cut short."""
    src = make_clip(tmp_path / "in.mkv", width=32, height=32, pts_ms=[40 * i for i in range(400)], audio=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream", str(src), "-", "--weights", str(tiny_weights), "--batch", "1",
         "--output-format", "nut", "--codec", "rawvideo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    small_pipe(proc.stdout.fileno())
    try:
        assert select.select([proc.stdout], [], [], 120)[0], "no output came"  # the run is under way
        err = send_signals(proc, [signal.SIGTERM, signal.SIGINT]) + read_until(proc.stderr.fileno())  # (as above)
        proc.wait(timeout=120)
    finally:
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 143, err
    assert b"Traceback" not in err and b"interrupted: stdout cut short" in err


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
