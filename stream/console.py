"""Where messages go: stderr, so that stdout carries only media or JSON."""

from __future__ import annotations

import codecs
import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.table import Table


def console_for(stderr: bool = True, quiet: bool = False) -> Console:
    """A rich console that prints names as they are: rich turns ":name:" into an emoji ("a:x:.mp4" was said as
    "a\u274c.mp4", "--device cuda:x" as "cuda\u274c")."""
    return Console(stderr=stderr, quiet=quiet, emoji=False)


err = console_for()


def print_table(table: Table) -> None:
    """A table on stdout, as wide as it is where that is a file or a log (rich fits it into 80 columns there)."""
    console = console_for(stderr=False)
    if not console.is_terminal:
        console.width = max(console.width, console.measure(table, options=console.options.update_width(1000)).maximum)
    console.print(table)


def to_devnull(stream: TextIO | int) -> None:
    """The file descriptor under `stream` (or this one) onto /dev/null: its reader went away (stdout's `| head`,
    stderr's `2>&1 | head`), and what is still written there, by Python or by libav, goes nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream if isinstance(stream, int) else stream.fileno())
    os.close(devnull)


class StderrGone(io.TextIOBase):
    """stderr that, once its reader has gone (`2>&1 | head`, a closed log pipe), sends what follows to
    /dev/null instead of failing the run: the messages are lost, never the output. The CLI installs
    it as sys.stderr (rich's consoles write to whatever sys.stderr is when they print)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            self.stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        """Later writes, libav's own and the flush at exit succeed, and go nowhere."""
        to_devnull(self.stream)

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def keep_running_without_stderr() -> None:
    """sys.stderr as a StderrGone (once per process); on /dev/null where the process started without one. Names
    that are no UTF-8 go out as their bytes (names_as_bytes)."""
    if sys.stderr is None:  # 2>&-: messages go nowhere, the run goes on
        sys.stderr = open(os.devnull, "w")
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(errors=NAMES_AS_BYTES)
    if not isinstance(sys.stderr, StderrGone):
        sys.stderr = StderrGone(sys.stderr)


def names_as_bytes(error: UnicodeError) -> tuple[str | bytes, int]:
    """A file name that is no UTF-8 (from an old Latin-1 machine: Python holds its bytes as surrogate escapes) written
    as its bytes, as ffmpeg and ls print it, where it was printed as "caf\\udce9.mp4"; any other character stderr
    cannot encode escaped, as Python escapes it there."""
    if isinstance(error, UnicodeEncodeError):
        held = error.object[error.start : error.end]
        if all(0xDC80 <= ord(c) <= 0xDCFF for c in held):
            return bytes(ord(c) - 0xDC00 for c in held), error.end
    return codecs.backslashreplace_errors(error)


NAMES_AS_BYTES = "drrn-stream-names-as-bytes"
codecs.register_error(NAMES_AS_BYTES, names_as_bytes)


def hold_closed_descriptors() -> None:
    """A process started without stdin, stdout or stderr (<&-, >&-, 2>&-) has each such descriptor held on
    /dev/null: else the next file opened takes its number, and what is written to that number (libav's log to 2,
    a print to 1) lands in that file, the output. Python's sys.stdin and sys.stdout stay None: "-" says it is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)  # the lowest free number: `fd`, the lower ones being open
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


def say(text: str, console: Console = err, style: str | None = None) -> None:
    """A plain line: file names and numbers in it are not read as rich markup."""
    console.print(text, style=style, markup=False, emoji=False, highlight=False, soft_wrap=True)


def listed(words: list[str], conjunction: str = "and") -> str:
    """Words joined as a sentence lists them: "a", "a and b", "a, b and c" (or "a, b or c")."""
    return f" {conjunction} ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def counted(n: int, noun: str) -> str:
    """A count and its noun, which agree wherever the user reads a count: "1 frame", "3 frames"."""
    return f"{n} {noun}{'s' * (n != 1)}"


def loud(console: Console) -> Console:
    """Where what must be heard even with --quiet (warnings, failures) is said: `console`, or stderr's where it is
    quiet."""
    return err if console.quiet else console


def say_notices(notices: tuple[str, ...], console: Console = err) -> None:
    """What the user should hear about a model choice (bf16 emulated, ...) or an output (audio re-encoded, ...), a
    line each; warnings in yellow."""
    for notice in notices:
        say(notice, console, style="yellow" if notice.startswith("warning") else None)


@contextmanager
def opencv_silenced() -> Iterator[None]:
    """OpenCV's own log lines kept off stderr (a damaged TIFF's libtiff errors, a camera's warnings), where they
    would bury the one line that says what went wrong."""
    import cv2  # loaded where pictures or cameras are, not with the CLI

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """The stderr file descriptor onto /dev/null for a moment: what a C library prints there itself (libjpeg's
    "Premature end of JPEG file", which OpenCV leaves to it) where our own line says it better. Python's writes
    from other threads go there too while it lasts: only around a call that returns at once."""
    sys.stderr.flush()
    saved = os.dup(2)
    to_devnull(2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def progress(*columns: str | ProgressColumn, console: Console = err, **options: Any) -> Progress:
    """A progress display that shows on every stderr: rich's bar on a terminal; elsewhere (CI logs,
    nohup, a pipe), where rich draws nothing until the end, a plain line every few seconds.
    Nothing with --quiet."""
    if console.is_terminal or console.quiet:
        return Progress(*columns, console=console, disable=console.quiet, **options)
    return LineProgress(*columns, console=console, **options)


LINE_SECONDS = 5.0  # between two progress lines where stderr is not a terminal


class LineProgress(Progress):
    """Rich's Progress, its bar off, saying a task's state as a line at most every LINE_SECONDS:
    "enhancing: 120/300, 4.1/s, 00:00:44 left; PSNR vs bicubic 31.2 dB"."""

    def __init__(self, *columns: str | ProgressColumn, console: Console, **options: Any) -> None:
        options.pop("transient", None)
        super().__init__(*columns, console=console, disable=True, **options)
        self._said = time.monotonic()

    def update(self, task_id: TaskID, **changes: Any) -> None:  # advance=, completed=, description= ...
        super().update(task_id, **changes)
        self._maybe_say(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_say(task_id)

    def _maybe_say(self, task_id: TaskID) -> None:
        if time.monotonic() - self._said >= LINE_SECONDS:
            self._said = time.monotonic()
            say(line(self._tasks[task_id]), self.console)


def line(task: Task) -> str:
    done = f"{task.completed:g}" + (f"/{task.total:g}" if task.total else "")
    rate = f", {task.speed:.3g}/s" if task.speed else ""
    left = f", {time.strftime('%H:%M:%S', time.gmtime(task.time_remaining))} left" if task.time_remaining else ""
    notes = [v for k, v in task.fields.items() if isinstance(v, str) and v and k not in ("total_text", "fps")]
    return f"{task.description}: {done}{rate}{left}" + "".join(f"; {note}" for note in notes)
