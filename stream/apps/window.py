"""The live preview's window: what it draws (bicubic against DRRN, a status bar), the mouse's
split line, and the OpenCV calls that show it and read keys.

Its own module because drawing is the one part of the preview that the user sees and the
headless mode skips: everything here runs on the main thread and knows nothing of the model
thread, only of the frame it is given to show and the words of the status bar.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kernels.errors import reason
from stream.apps.api import Comparison
from stream.apps.capture import Shot
from stream.apps.latency import Choice
from stream.console import native_stderr_silenced, say
from stream.errors import UserError
from stream.files import write_new

WINDOW = "drrn-stream live"
KEY_WAIT_MS = 15
X_ANSWER_S = 2.0  # for an X server to answer a client (one on this machine or over ssh answers well within)
_BAR = 22  # the status bar's height, pixels


class Shown(Protocol):
    """An enhanced frame, as the window needs it (the model thread's Result)."""

    shot: Shot
    comparison: Comparison


@dataclass
class View:
    """What the window shows and how; changed by keys and the mouse."""

    layout: str = "split"  # "split": one picture, bicubic left of a draggable line; "side": two panes
    split: float = 0.5  # the split line, as a fraction of the width
    dragging: bool = False
    width: int = 1  # of the picture last shown

    def on_mouse(self, event: int, x: int, _y: int, flags: int, _param: object) -> None:
        if event == cv2.EVENT_LBUTTONDOWN:
            self.dragging = True
        elif event == cv2.EVENT_LBUTTONUP:
            self.dragging = False
        if self.dragging or (event == cv2.EVENT_MOUSEMOVE and flags & cv2.EVENT_FLAG_LBUTTON):
            self.split = min(max(x / self.width, 0.0), 1.0)


def upscaled(shot: Shot, scale: int) -> np.ndarray:
    h, w = shot.image.shape[:2]
    return cv2.resize(shot.image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


def compose(view: View, shot: Shot | None, result: Shown | None, scale: int, status: str) -> np.ndarray:
    """The picture to show: bicubic and DRRN (side by side, or split), with a status bar."""
    if result is not None:
        bicubic, drrn = result.comparison.bicubic, result.comparison.output
    else:  # nothing enhanced yet: the live input, upscaled
        assert shot is not None
        bicubic = drrn = upscaled(shot, scale)
    if view.layout == "side":
        live = bicubic
        if shot is not None and result is not None and shot.seq != result.shot.seq:
            live = upscaled(shot, scale)
        canvas = np.hstack([live, drrn])
        labels = [("bicubic (live)", 0), ("DRRN", live.shape[1])]
    else:
        x = round(view.split * drrn.shape[1])
        canvas = drrn.copy()
        canvas[:, :x] = bicubic[:, :x]
        cv2.line(canvas, (x, 0), (x, canvas.shape[0]), (255, 255, 255), 1)
        labels = [("bicubic", max(0, x - 90)), ("DRRN", x + 6)]
    canvas = np.vstack([np.zeros((_BAR, canvas.shape[1], 3), np.uint8), canvas])
    size = min(0.45, canvas.shape[1] / (len(status) * 19))  # fit the status to narrow pictures
    cv2.putText(canvas, status, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)
    for text, x in labels:
        cv2.putText(canvas, text, (x + 4, _BAR + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
    return canvas


def status_line(
    choice: Choice | None, fps: float, latency_ms: float, psnr: float, budget_ms: float | None, paused: bool
) -> str:
    """The status bar: the depth (and size) the frame shown ran at, never one still to run."""
    depth = f"DRRN B1U{choice.units}" if choice else "DRRN (first frame running)"
    depth += f" at {choice.size:.0%} size" if choice and choice.size < 1 else ""
    budget = f" (budget {budget_ms:g} ms)" if budget_ms else ""
    return f"{depth}  {fps:.2f} fps  latency {latency_ms:.0f} ms{budget}  PSNR vs bicubic {psnr:.2f} dB" + (
        "  [paused]" if paused else ""
    )


def save_screenshot(canvas: np.ndarray, folder: Path, seq: int) -> Path | None:
    """The picture shown, as a PNG of a name no other has (two in a second, of one frame while paused, each
    get their own), or a line saying why not: the preview goes on either way."""
    png = cv2.imencode(".png", canvas)[1].tobytes()
    try:
        path = write_new(folder, f"drrn-live-{time.strftime('%Y%m%d-%H%M%S')}-{seq}", ".png", png)
    except OSError as e:
        say(f"screenshot not saved in {folder.resolve()}: {e.strerror or e}")
        return None
    say(f"saved {path}")
    return path


def check_display() -> None:
    """OpenCV aborts the process when it cannot open a window; say so in one line instead. Its windows are
    X11 windows (its Qt has no other platform), so DISPLAY must be set and its server answer: a stale one,
    as an ssh session keeps, aborted as an unset one did."""
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY")
    if not display:
        wayland = " (this OpenCV's windows are X11 windows, not Wayland's)" if os.environ.get("WAYLAND_DISPLAY") else ""
        raise UserError(f"no display to open a window on: DISPLAY is not set{wayland}; use --no-window")
    if not x_server_answers(display):
        raise UserError(f"no display to open a window on: no X server answers at DISPLAY={display}; use --no-window")
    if x_server_lets_in(display) is False:
        raise UserError(f"no display to open a window on: the X server at DISPLAY={display} refuses this process "
                        "(its authorisation: XAUTHORITY, xhost); use --no-window")  # fmt: skip


def x_server_lets_in(display: str) -> bool | None:
    """Whether the X server at `display` takes this process as a client, its authorisation too: one that refused
    it (a stale ssh -X cookie, sudo's XAUTHORITY) made Qt abort the process (exit 134) after the model loaded.
    Asked through libxcb, which reads the authorisation as Qt's xcb platform does (and prints the server's
    refusal itself); None where it is not found (nor can Qt's plugin load), or where what answers has not answered
    as an X server within X_ANSWER_S (xcb_connect waits for ever: the asking is left to itself)."""
    library = ctypes.util.find_library("xcb")
    if library is None:
        return None
    xcb = ctypes.CDLL(library)
    xcb.xcb_connect.restype, xcb.xcb_connect.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    answers: list[bool] = []

    def ask() -> None:
        connection = xcb.xcb_connect(display.encode(), None)
        answers.append(xcb.xcb_connection_has_error(connection) == 0)
        xcb.xcb_disconnect(connection)

    asking = threading.Thread(target=ask, daemon=True)
    with native_stderr_silenced():
        asking.start()
        asking.join(X_ANSWER_S)
    return answers[0] if answers else None


def x_server_answers(display: str) -> bool:
    """Whether an X server takes connections at `display` ([host]:N[.screen]); True for a form not known here
    (OpenCV then tries it)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True
    if host in ("", "unix"):  # this machine's socket: Linux's abstract one, or the file
        addresses = [f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"]
        return any(unix_socket_answers(address) for address in addresses)
    with contextlib.suppress(OSError), socket.create_connection((host, 6000 + int(number)), timeout=2):
        return True  # X11 over TCP, as ssh's forwarding offers it (localhost:10)
    return False


def unix_socket_answers(address: str) -> bool:
    with socket.socket(socket.AF_UNIX) as connection:
        try:
            connection.connect(address)
        except OSError:
            return False
        return True


class Window:
    """The OpenCV window: it appears with the first picture (not empty while the model warms up),
    passes the mouse to the view and hands keys back."""

    def __init__(self, view: View) -> None:
        self.view, self.opened = view, False

    def show(self, canvas: np.ndarray) -> None:
        if not self.opened:
            try:
                cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no toolbar
                cv2.setMouseCallback(WINDOW, self.view.on_mouse)
            except cv2.error as e:
                raise UserError(f"cannot open a window ({reason(e)}); use --no-window") from None
            self.opened = True
        cv2.imshow(WINDOW, canvas)
        self.view.width = canvas.shape[1]

    def closed(self) -> bool:
        """Whether it was closed by its title bar's button (OpenCV would open it again with the next picture)."""
        if not self.opened:
            return False
        try:
            return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:  # OpenCV's Qt: no such window any more
            return True

    def key(self) -> int:
        """The key pressed within a few milliseconds (255: none); the window redraws meanwhile."""
        return cv2.waitKey(KEY_WAIT_MS) & 0xFF

    def close(self) -> None:
        if self.opened:
            cv2.destroyAllWindows()
