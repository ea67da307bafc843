"""Starts `drrn-stream` with its stop signals heeded from the first moment.

Importing the CLI (OpenCV and numpy, typer, rich, the command modules) takes about a fifth of a second,
and a Ctrl-C in that time came out of the import as a traceback (a SIGTERM or SIGHUP ended the process
without a word). Here each is one line and exit status 128 + its number, as at any later moment; the CLI
sets its own handlers as it starts. Apart from the `stream` package, whose import loads OpenCV first of all.
"""

from __future__ import annotations

import signal
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # as stream.errors.STOP_SIGNALS, not imported yet


class StoppedStarting(BaseException):
    """A stop signal while the CLI was being imported."""


def stop(signum: int, _frame: object) -> None:
    raise StoppedStarting(signum)


def main() -> None:
    watched = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]  # nohup's SIGHUP stays ignored
    previous = {s: signal.signal(s, stop) for s in watched}
    try:
        from stream.cli import main as run
    except StoppedStarting as e:
        for s in watched:  # exiting now: a second signal changes nothing
            signal.signal(s, signal.SIG_IGN)
        print(f"interrupted ({signal.Signals(e.args[0]).name})", file=sys.stderr)
        sys.exit(128 + e.args[0])
    for s, old in previous.items():
        signal.signal(s, old)
    run()
