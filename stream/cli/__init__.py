"""The `drrn-stream` command line: one typer app, a module per command.

The command modules parse options only and import what a command runs when it runs, so that
`--help` answers at once and `train` needs no PyAV (the GPU machine has none).
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from stream.cli.bench import bench_command
from stream.cli.evaluate import eval_command, eval_video_command
from stream.cli.export import export_command
from stream.cli.live import live_command
from stream.cli.train import train_command
from stream.cli.video import enhance_command
from stream.cli.weights import convert_command
from stream.console import err, hold_closed_descriptors, keep_running_without_stderr, say
from stream.errors import LEFT_RUNNING, STOP_SIGNALS, Interrupted, UserError, on_stop_signals, raise_interrupted

# click's, which typer raises from its own copy of click since 0.2x: reached through a public subclass
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
app = typer.Typer(
    add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)  # fmt: skip


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"drrn-stream {version('drrn-stream')}")
        except PackageNotFoundError:  # run from the tree, not installed
            print("drrn-stream (not installed: run from a source tree)")
        raise typer.Exit()


MAIN_FORM = (
    "drrn-stream IN OUT [OPTIONS] enhances the video IN into OUT (the enhance command: `drrn-stream enhance -h` "
    "lists its options).\n\nDRRN super-resolution (Tai, Yang, Liu, CVPR 2017) for video; the other commands "
    "evaluate, train, export and measure it."
)


@app.callback(help=MAIN_FORM)
def usage(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """The options before a command (the help text is MAIN_FORM)."""


for name, command in {
    "enhance": enhance_command, "eval": eval_command, "eval-video": eval_video_command, "live": live_command,
    "convert": convert_command, "export": export_command, "train": train_command, "bench": bench_command,
}.items():  # fmt: skip
    app.command(name)(command)


def with_default_command(argv: list[str]) -> list[str]:
    """`drrn-stream IN OUT ...` means `drrn-stream enhance IN OUT ...`; `drrn-stream` alone, the help."""
    if not argv:
        return ["--help"]
    commands = {c.name for c in app.registered_commands}
    if argv[0] in commands or argv[0] in ("--help", "-h", "--version"):
        return argv
    if misspelled := near_name(argv[0], commands):
        what = "option" if argv[0].startswith("-") else "command or file"
        raise UserError(f"{argv[0]}: no such {what} (did you mean {misspelled}?)")
    return ["enhance", *argv]


def near_name(word: str, commands: set[str | None]) -> str | None:
    """The command or top-level option a first word not taken as one was most likely meant as: a bare word near a
    command's name (`bnech`) that is no file, or an option near --help or --version (`--verison`), which went to
    enhance as its input or an option it lacks ("Missing argument 'OUT'", "No such option: --verison")."""
    if word.startswith("--"):
        return next(iter(difflib.get_close_matches(word, ["--help", "--version"], n=1, cutoff=0.8)), None)
    if "." in word or "/" in word or Path(word).exists():
        return None
    return next(iter(difflib.get_close_matches(word, [c for c in commands if c], n=1)), None)


RAY_ADDRESS_FORM = re.compile(r"auto|local|ray://\S+|[\w.-]+:\d+|\[[\da-fA-F:]+\]:\d+")  # what ray.init takes


def with_ray_address(argv: list[str]) -> list[str]:
    """`--ray` alone is `--ray=` (no address: Ray's default); the word after it is its address
    only where it reads as one, so `--ray in.mp4 out.mp4` keeps its two files."""
    out = []
    for i, arg in enumerate(argv):
        alone = arg == "--ray" and (i + 1 == len(argv) or not RAY_ADDRESS_FORM.fullmatch(argv[i + 1]))
        out.append("--ray=" if alone else arg)
    return out


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 1, never a traceback;
    Ctrl-C, SIGTERM and SIGHUP stop every command alike (exit status 128 + the signal's number)."""
    try:
        run_command()
    except SystemExit as e:
        leave(e.code if isinstance(e.code, int) else int(e.code is not None))


def leave(status: int) -> NoReturn:
    """Exit with `status`; where a thread still runs (the model mid-batch after a second stop signal, a decoder on a
    stalled pipe: daemons the run stopped waiting for), without Python's finalisation, in which such a thread,
    waking for the GIL, is ended by a forced unwind through PyTorch's frames: an abort ("terminate called without
    an active exception", exit 134) where the signal's own status was due."""
    atexit.unregister(stop_signals_exit_at_once)  # (once, where a caller runs many commands)
    atexit.register(stop_signals_exit_at_once)  # last registered, first run: before PyTorch's, imported by the command
    if not any(thread.is_alive() for thread in LEFT_RUNNING):
        sys.exit(status)
    exit_now(status)


def stop_signals_exit_at_once() -> None:
    """A stop signal as Python finalises ends the process with its own status: a Ctrl-C just after "wrote out.mp4"
    came out of PyTorch's atexit clean-up as a KeyboardInterrupt traceback, and the process exited 0."""
    for stop in STOP_SIGNALS:
        if signal.getsignal(stop) is not signal.SIG_IGN:
            signal.signal(stop, lambda signum, _frame: exit_now(128 + signum))


def exit_now(status: int) -> NoReturn:
    """Exit at once, what was printed flushed, without Python's finalisation."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken one
            stream.flush()
    os._exit(status)


def out_of_memory(e: Exception) -> str | None:
    """What an allocation that failed asked for, or None for any other error. Memory is a resource, not a bug: torch
    says it as a RuntimeError on the CPU ("DefaultCPUAllocator: can't allocate memory: you tried to allocate N
    bytes") and as torch.OutOfMemoryError (a RuntimeError, lines long) on CUDA; numpy as MemoryError."""
    text = str(e)
    if not (isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or "can't allocate memory" in text):
        return None
    if type(e).__module__ == "av.error":  # FFmpeg's ENOMEM (a MemoryError too): a damaged size a demuxer read
        return None
    if asked := re.search(r"allocate (\d+) bytes", text):
        return f"{int(asked[1]) / 2**30:.1f} GiB asked for"
    if asked := re.search(r"(?:[Tt]ried|Unable) to allocate ([\d.]+ ?[KMGT]iB)", text):
        return f"{asked[1]} asked for"
    return text.splitlines()[0] if text else type(e).__name__


def run_command() -> None:
    hold_closed_descriptors()
    keep_running_without_stderr()
    try:
        with on_stop_signals(raise_interrupted):
            args = with_ray_address(with_default_command(sys.argv[1:]))
            status = app(args=args, prog_name="drrn-stream", standalone_mode=False)  # errors come here, below
        sys.exit(status if isinstance(status, int) else 0)
    except UsageError as e:  # a bad option or argument: one line, and where help is
        where = e.ctx.command_path if e.ctx else "drrn-stream"
        err.print(f"[red]error:[/red] {escape(e.format_message())} (see {where} -h)", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Interrupted as e:
        say(f"interrupted ({e})" + (f": {e.left}" if e.left else ""))
        sys.exit(128 + e.signum)
    except UserError as e:
        _fail(str(e))
    except BrokenPipeError:
        sys.exit(1)
    except OSError as e:
        _fail(f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e))
    except Exception as e:  # a bug: still one line, the traceback on request
        if (short := out_of_memory(e)) is not None:
            _fail(f"out of memory ({short}); ask for less at once (a smaller --batch, --tile, --patch or --channels)")
        if os.environ.get("DRRN_STREAM_DEBUG"):
            raise
        _fail(f"unexpected {type(e).__name__}: {e} (DRRN_STREAM_DEBUG=1 shows the traceback)")
