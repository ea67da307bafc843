"""Where messages go: stderr, so that stdout carries only media or JSON."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True)


def say(text: str, console: Console = err, style: str | None = None) -> None:
    """A plain line: file names and numbers in it are not read as rich markup."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def counted(n: int, noun: str) -> str:
    """A count and its noun, which agree wherever the user reads a count: "1 frame", "3 frames"."""
    return f"{n} {noun}{'s' * (n != 1)}"


def say_notices(notices: tuple[str, ...], console: Console = err) -> None:
    """What the user should hear about a model choice (bf16 emulated, ...), a line each; warnings in yellow."""
    for notice in notices:
        say(notice, console, style="yellow" if notice.startswith("warning") else None)
