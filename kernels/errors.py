"""The errors the numerics raise for the user, and how any exception reads in one line."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a path, a file, an option); the message is one line. Defined here, under the
    numerics, so that their own errors are UserErrors too (stream.errors gives it to the rest)."""


class WeightsError(UserError, ValueError):
    """A weights file that cannot be used; the message is one line for the user."""


class ChoiceError(UserError, ValueError):
    """A model choice that cannot run here (no CUDA, fp16 on a CPU, ...); one line for the user."""


def reason(e: BaseException) -> str:
    """An exception as a short phrase for a one-line message: the OS's or FFmpeg's strerror,
    else the first line of its text, else the name of its type."""
    text = str(getattr(e, "strerror", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__
