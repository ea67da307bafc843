"""stdin and stdout as pipes (stream/video/pipe_ends.py): read and written in full, and never waited on after a stop."""

import fcntl
import os
import signal
import sys
import threading

import pytest

from stream.errors import Interrupted, UserError, on_stop_signals, raise_interrupted
from stream.video import pipe_ends
from stream.video.pipe_ends import Abandoned, PipeEnd
from stream.video.source import VideoSource
from tests.media import make_clip

HANG_S = 60.0  # a hang guard only


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:  # closed by the test
            pass


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_peek_leaves_the_bytes_to_be_read(pipe):
    read, write = pipe
    os.write(write, b"\x89PNG and the rest")
    os.close(write)
    end = PipeEnd(read, "<stdin>")
    assert end.peek(4) == b"\x89PNG" and end.peek(4) == b"\x89PNG"
    assert end.read() == b"\x89PNG and the rest"


def test_a_stop_ends_a_read_that_waits_on_a_stalled_writer(pipe):
    read, write = pipe
    end, got, first = PipeEnd(read, "<stdin>"), [], threading.Event()
    os.write(write, b"some")

    def read_twice() -> None:
        got.append(end.read(100))
        first.set()
        got.append(end.read(100))  # waits: nothing more comes

    reader = in_thread(read_twice)
    assert first.wait(HANG_S)
    end.stop()
    reader.join(HANG_S)
    assert got == [b"some", b""]  # the end of the stream, though the writer still holds the pipe


def test_writes_arrive_whole_through_a_slow_reader(pipe):
    read, write = pipe
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    data = os.urandom(1 << 20)
    got = bytearray()

    def take() -> None:
        while more := os.read(read, 3000):
            got.extend(more)

    reader = in_thread(take)
    end = PipeEnd(write, "stdout", writing=True)
    assert end.write(data) == len(data)
    end.close()
    os.close(write)
    reader.join(HANG_S)
    assert bytes(got) == data


def test_after_a_stop_a_write_goes_on_while_the_pipe_has_room_then_gives_up(pipe):
    read, write = pipe
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    end = PipeEnd(write, "stdout", writing=True)
    end.stop()
    assert end.write(b"x" * 1000) == 1000  # room in the pipe: the trailer of a stream still goes out
    with pytest.raises(Abandoned):
        end.write(b"x" * 8192)  # more than the pipe holds, and its reader takes nothing
    assert isinstance(Abandoned(), BrokenPipeError)  # handled as a reader gone away
    assert os.read(read, 10000).startswith(b"x" * 1000)


def test_a_stop_signal_while_pyav_opens_a_pipe_is_raised_as_itself(pipe, tmp_path):
    """The main thread opens a pipe whose writer stalls: the signal's exception comes out of the opening (PyAV
    printed and dropped it, and read on)."""
    read, write = pipe
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    clip = make_clip(tmp_path / "in.nut", width=256, height=256, pts_ms=[0, 40], codec="rawvideo", audio=False)
    main = threading.get_ident()

    def feed_then_signal() -> None:
        os.write(write, clip.read_bytes()[: 64 * 1024])  # less than the first frame: returns once all but a page of
        signal.pthread_kill(main, signal.SIGTERM)  # it has been read, by the opening, which then waits for more

    with on_stop_signals(raise_interrupted):
        feeder = in_thread(feed_then_signal)
        with pytest.raises(Interrupted) as raised:
            VideoSource(PipeEnd(read, "<stdin>"))
    feeder.join(HANG_S)
    assert raised.value.signum == signal.SIGTERM


def test_a_stop_signal_on_entering_pyavs_read_is_raised_not_printed(pipe, tmp_path, monkeypatch, capfd):
    """The signal's exception comes before PyAVFile.read's catch (as it did once in the CI, on the callback's entry):
    PyAV prints it and reads on. It is raised as itself, unprinted, where the opening had read on, here to the end."""
    read, write = pipe
    clip = make_clip(tmp_path / "in.nut", width=32, height=32, pts_ms=[0, 40], codec="rawvideo", audio=False)
    os.write(write, clip.read_bytes())
    os.close(write)
    reads = iter([Interrupted(signal.SIGTERM)])
    original = pipe_ends.PyAVFile.read

    def read_after_a_signal(self, size: int) -> bytes:
        if (signal_raised := next(reads, None)) is not None:
            raise signal_raised
        return original(self, size)

    monkeypatch.setattr(pipe_ends.PyAVFile, "read", read_after_a_signal)
    with pytest.raises(Interrupted):
        VideoSource(PipeEnd(read, "<stdin>"))
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ["stdin", "stdout"])
def test_a_closed_stdin_or_stdout_is_one_line(monkeypatch, name):
    monkeypatch.setattr(sys, name, None)  # as Python starts with the descriptor closed (<&- or >&-)
    with pytest.raises(UserError, match=f"^{name} is closed$"):
        getattr(pipe_ends, name)()
