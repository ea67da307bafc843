"""stdin and stdout where they are pipes, and pipes by name, as a run reads and writes them: each read and write
waits in slices of a tenth of a second, so that a stop signal never waits on a stalled pipe.

A signal wakes only the main thread's blocking calls. The decoder's thread, blocked reading a writer that sent
nothing more (`sleep 60 | drrn-stream - out.mkv`), held a SIGTERM'd run for the minute; the encoder's, blocked on
a reader of stdout that took nothing, held it for ever, second signal or not. And where the main thread itself
read the pipe (PyAV opening it), the signal's exception was raised inside PyAV's read callback, which prints any
but an Exception and reads on: two tracebacks, and the wait went on.
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import BinaryIO, TypeVar

import av

from stream.errors import Interrupted, UserError

POLL_MS = 100
T = TypeVar("T")
_WRITE_MAX = select.PIPE_BUF  # a write no longer than this into a pipe that polls writable does not block


class Abandoned(BrokenPipeError):
    """A second stop signal gave up on a reader of the output that took nothing: the output ends there, as where
    the reader went away."""


class PipeEnd(io.RawIOBase):
    """One end of a pipe (or socket, or terminal), read or written only once poll says it is ready. After stop(),
    reading ends as at the end of the stream, and writing goes on only while the pipe takes it without a wait."""

    def __init__(self, fd: int, name: str, writing: bool = False, owned: bool = False) -> None:
        """`owned`: `fd` is closed with this (a pipe opened by name), not left open (stdin, stdout)."""
        super().__init__()
        self.fd, self.name, self.writing, self.owned = fd, name, writing, owned
        self.stopped = threading.Event()
        self._head = b""  # bytes peeked and not yet read
        self._out, self._most = _writes_to(fd) if writing else (fd, 0)  # (a descriptor of its own, if it could)
        self._poll = select.poll()
        self._poll.register(self._out, select.POLLOUT if writing else select.POLLIN)

    def fileno(self) -> int:
        return self.fd

    def readable(self) -> bool:
        return not self.writing

    def writable(self) -> bool:
        return self.writing

    def stop(self) -> None:
        self.stopped.set()

    def _ready(self) -> bool:
        """Whether the pipe can be read or written now, once it can; False where stop() came first."""
        while not self._poll.poll(0 if self.stopped.is_set() else POLL_MS):
            if self.stopped.is_set():
                return False
        return True

    def peek(self, size: int) -> bytes:
        """The first `size` bytes still to read (fewer at the end), left to be read."""
        while len(self._head) < size and (more := self._read_some(size - len(self._head))):
            self._head += more
        return self._head[:size]

    def _read_some(self, size: int) -> bytes:
        return os.read(self.fd, size) if not self.stopped.is_set() and self._ready() else b""

    def readinto(self, buffer: memoryview) -> int:
        data = self._head or self._read_some(len(buffer))
        taken = min(len(data), len(buffer))
        buffer[:taken] = data[:taken]
        self._head = self._head[taken:]
        return taken

    def write(self, data: bytes) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            if not self._ready():
                raise Abandoned(f"{self.name}: its reader took nothing, and a second stop signal came")
            try:
                done += os.write(self._out, view[done : done + self._most])
            except BlockingIOError:  # what the pipe took since poll said it had room
                continue
        return done

    def close(self) -> None:
        if not self.closed:
            for fd in {self._out} - {self.fd} | ({self.fd} if self.owned else set()):
                os.close(fd)
        super().close()


def _writes_to(fd: int) -> tuple[int, int]:
    """Where to write the pipe `fd` and the most to write at a time: a descriptor of its own that does not block
    (a write takes what fits), or where /proc cannot open one (a socket; no /proc), `fd` itself, written short
    enough not to block. Not `fd` made non-blocking: the flag would hold for every process that shares it."""
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC), sys.maxsize
    except OSError:
        return fd, _WRITE_MAX


class SignalInPyAV(Exception):
    """A stop signal's exception (Interrupted, KeyboardInterrupt), raised in a read or write PyAV made of a pipe:
    PyAV passes on only an Exception from a file's callbacks (another it prints, and reads or writes on), so the
    signal's travels inside one, and `signals_passed_on` unwraps it."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(str(raised))
        self.raised = raised


class PyAVFile:
    """A pipe end as PyAV reads or writes it, in the main thread too, where a stop signal's handler raises (in
    the poll of a read or write: the Python code PyAV's callback runs)."""

    def __init__(self, end: PipeEnd) -> None:
        self.end, self.name = end, end.name

    def read(self, size: int) -> bytes:
        return self._passing_signals(lambda: self.end.read(size) or b"")

    def write(self, data: bytes) -> int:
        return self._passing_signals(lambda: self.end.write(data))

    def _passing_signals(self, call: Callable[[], T]) -> T:
        try:
            if _MISSED:  # raised where this could not catch it, and printed by PyAV, which then called again
                raise _MISSED.pop()
            return call()
        except Exception:
            raise
        except BaseException as e:
            self.end.stop()  # should FFmpeg go on before PyAV raises, it waits on the pipe no more
            raise SignalInPyAV(e) from None


def for_pyav(file: T) -> T | PyAVFile:
    """What to give PyAV for `file`: a pipe end wrapped (PyAVFile), anything else as it is."""
    return PyAVFile(file) if isinstance(file, PipeEnd) else file


# A stop signal's exception raised in a PyAV callback outside PyAVFile's catch (on entering its read, before the
# `try`): PyAV gave it to sys.excepthook and sys.unraisablehook and called on; the next call, or the block's end,
# raises it. The CI once met that window: the signal printed, the opening waited on a stalled pipe for ever
_MISSED: list[BaseException] = []


@contextmanager
def signals_passed_on() -> Iterator[None]:
    """Around PyAV's reading or writing of a pipe in the main thread: a stop signal met in it is raised as itself."""
    hooks = sys.excepthook, sys.unraisablehook
    sys.excepthook = lambda kind, value, trace: _keep_signal(value) or hooks[0](kind, value, trace)
    sys.unraisablehook = lambda unraisable: _keep_signal(unraisable.exc_value) or hooks[1](unraisable)
    try:
        yield
    except SignalInPyAV as e:
        raise e.raised from None
    except av.error.PyAVCallbackError as e:  # how a container's close says a callback's error
        if isinstance(e.__context__, SignalInPyAV):
            raise e.__context__.raised from None
        raise
    finally:
        sys.excepthook, sys.unraisablehook = hooks
        if _MISSED:
            raise _MISSED.pop() from None


def _keep_signal(raised: BaseException | None) -> bool:
    """Whether `raised` is a stop signal's exception, kept to raise (once: PyAV hands it to both hooks)."""
    if not isinstance(raised, Interrupted | KeyboardInterrupt):
        return False
    _MISSED[:] = [raised]
    return True


def named_pipe(path: Path, writing: bool = False) -> PipeEnd:
    """A pipe by name (mkfifo, /dev/stdin), opened here: the opening waits for the other end to open in a call
    that a signal interrupts (FFmpeg's own opening waited deaf to Ctrl-C), and is read or written as stdin is."""
    fd = os.open(path, (os.O_WRONLY if writing else os.O_RDONLY) | os.O_CLOEXEC)
    return PipeEnd(fd, str(path), writing, owned=True)


def is_file(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def stdin() -> BinaryIO | PipeEnd:
    """stdin as a run reads it: as Python opened it where it is a file (which seeks: an MP4 with its index at its
    end is read), else a PipeEnd, the one peeked at for a picture's signature and then read."""
    if sys.stdin is None:  # started with it closed (<&-)
        raise UserError("stdin is closed")
    if os.isatty(0):  # `drrn-stream - out.mkv` typed with nothing piped in: it waited for the keyboard
        raise UserError("stdin is a terminal; pipe a video in, e.g. ffmpeg -i in.mp4 -f nut - | drrn-stream - out.mkv")
    return sys.stdin.buffer if is_file(0) else _stdin_end()


@cache
def _stdin_end() -> PipeEnd:
    return PipeEnd(0, "<stdin>")


def stdout() -> BinaryIO | PipeEnd:
    """stdout as a run writes it: as Python opened it where it is a file (which seeks: Matroska's cues are written),
    else a PipeEnd."""
    if sys.stdout is None:  # started with it closed (>&-)
        raise UserError("stdout is closed")
    return sys.stdout.buffer if is_file(1) else PipeEnd(1, "stdout", writing=True)
