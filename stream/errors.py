"""What ends a command early: bad input (a one-line message, exit 1) or a signal (exit 128 + its number)."""

from __future__ import annotations

import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kernels.errors import UserError as UserError  # given on; the numerics' WeightsError and ChoiceError are UserErrors

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C; kill, timeout, systemd; a closed terminal
# The threads a run stopped waiting for (a second stop signal) and left running: the CLI exits without Python's
# finalisation while one is (stream.cli.leave)
LEFT_RUNNING: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


class FilesFailed(UserError):
    """Files of a folder's run that failed, the others written. `failed` maps each input to why: the CLI says one
    line (each file's said as it failed, on stderr), the API's caller reads which files to look at or run again."""

    def __init__(self, message: str, failed: dict[Path, str]) -> None:
        super().__init__(message)
        self.failed = failed

    def __reduce__(self) -> tuple[type[FilesFailed], tuple[str, dict[Path, str]]]:
        return FilesFailed, (str(self), self.failed)  # (a worker process's, raised in its caller)


class Interrupted(BaseException):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) raised in the main thread, so that every command
    stops on each of them as on Ctrl-C. A BaseException, like KeyboardInterrupt, so that
    `except Exception` does not swallow it (nor click, which turns KeyboardInterrupt into exit 1)."""

    def __init__(self, signum: int, left: str = "") -> None:
        """`left`: what the stopped work left, and how to go on, where there is more to say than the signal."""
        super().__init__(signal.Signals(signum).name)
        self.signum, self.left = signum, left


def raise_interrupted(signum: int) -> None:
    raise Interrupted(signum)


@contextmanager
def on_stop_signals(handler: Callable[[int], None]) -> Iterator[None]:
    """Within the block, each stop signal calls handler(signum). A signal the process ignores stays
    ignored (`nohup` ignores SIGHUP, a shell's `&` SIGINT). Only the main thread can set handlers;
    elsewhere (an application's worker thread) the block runs with the process's own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {s: signal.signal(s, lambda signum, _frame: handler(signum)) for s in watched}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
