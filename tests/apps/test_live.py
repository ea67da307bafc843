"""The live preview: headless runs, dropping stale frames, and the real window under Xvfb."""

import contextlib
import ctypes
import ctypes.util
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from kernels.weights import Weights, save_weights
from stream.apps.api import Comparison
from stream.apps.capture import Mailbox, Shot, coding, open_capture
from stream.apps.latency import Choice, Depth
from stream.apps.live import LiveOptions, Preview, Result, Worker
from stream.apps.recorder import Recorder
from stream.apps.window import check_display, save_screenshot
from stream.errors import UserError
from stream.video.targets import FileTarget
from tests.conftest import random_drrn
from tests.media import make_clip, probe


def live(weights: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stream", "live", *args, "--weights", str(weights)]


@pytest.fixture
def long_clip(tmp_path: Path) -> Path:
    """30 s at 25 fps: longer than any test waits, so a run ends by its options or keys."""
    return make_clip(tmp_path / "clip.mp4", width=48, height=32, pts_ms=[40 * i for i in range(750)], audio=False)


def test_headless_run_records_what_it_showed(tmp_path, tiny_weights, long_clip):
    out = tmp_path / "shown.mp4"
    proc = subprocess.run(
        live(tiny_weights, str(long_clip), "--no-window", "--frames", "20", "--record", str(out)),
        capture_output=True, text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "20 enhanced frames of " in proc.stderr
    shown = probe(out)
    assert shown["frames"] == 20 and shown["size"] == (96, 64 + 22)  # 2x the clip, under a status bar


def test_a_recording_goes_where_outputs_go(tmp_path, tiny_weights, long_clip, capsys):
    """Into a missing folder it said "error: No such file or directory", naming nothing; an existing file it
    replaced without -y, as no other output is."""
    from tests.cli_helpers import run_cli

    base = ["live", str(long_clip), "--no-window", "--frames", "1", "--weights", str(tiny_weights)]
    code, _, err = run_cli([*base, "--record", str(tmp_path / "nowhere" / "r.mp4")], capsys)
    assert code == 1 and err == f"error: {tmp_path / 'nowhere'}: no such folder\n", err
    (tmp_path / "kept.mp4").write_bytes(b"a recording of yesterday")
    code, _, err = run_cli([*base, "--record", str(tmp_path / "kept.mp4")], capsys)
    assert code == 1 and err == f"error: {tmp_path / 'kept.mp4'}: exists; pass -y to replace it\n", err
    assert (tmp_path / "kept.mp4").read_bytes() == b"a recording of yesterday"


def test_window_without_a_display_is_one_line(tmp_path, tiny_weights, long_clip):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(live(tiny_weights, str(long_clip)), capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1
    assert "no display" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "Traceback" not in proc.stderr


class GatedEnhancer:
    """A model that takes as long as the test says: each call reports its frame and depth, then
    waits for a go. Like a real restorer it has a depth of its own and may run only that one."""

    def __init__(self, units: int = 1, variable_depth: bool = True) -> None:
        self.calls: queue.Queue[tuple[int, int | None]] = queue.Queue()
        self.go: queue.Queue[None] = queue.Queue()
        self.scale = 1
        self.luma = SimpleNamespace(restorer=SimpleNamespace(units=units, variable_depth=variable_depth))

    def compare(self, image: np.ndarray, order: str, units: int | None = None) -> Comparison:
        self.calls.put((int(image[0, 0, 0]), units))
        restorer = self.luma.restorer
        if not restorer.variable_depth and units not in (None, restorer.units):
            raise ValueError(f"runs {restorer.units} units, not {units}")
        self.go.get(timeout=60)
        return Comparison(image, image, 40.0)


def shot(seq: int) -> Shot:
    return Shot(seq, np.full((8, 8, 3), seq, np.uint8), time.perf_counter())


def test_a_slow_model_skips_the_frames_that_came_while_it_worked():
    shots, results, stop, model = Mailbox(), Mailbox(), threading.Event(), GatedEnhancer()
    worker = Worker(model, shots, results, stop, Depth(1))  # type: ignore[arg-type]
    worker.start()
    shots.put(shot(1))
    assert model.calls.get(timeout=60) == (1, 1)
    for seq in range(2, 10):  # the camera goes on while the model works on frame 1
        shots.put(shot(seq))
    model.go.put(None)
    assert model.calls.get(timeout=60) == (9, 1)  # the newest next, not frame 2: frames 2..8 were dropped
    result = results.newest()
    assert isinstance(result, Result) and result.shot.seq == 1
    stop.set()
    model.go.put(None)
    worker.join(timeout=60)
    assert not worker.is_alive() and model.calls.empty()


@pytest.fixture
def short_clip(tmp_path: Path) -> Path:
    """A source for a Preview whose frames the test puts in itself (its reader never starts)."""
    return make_clip(tmp_path / "short.mp4", width=16, height=16, pts_ms=[0, 40], audio=False)


@contextmanager
def headless(clip: Path, model: GatedEnhancer) -> Iterator[Preview]:
    """A Preview without a window, its model thread running on `model`; the test feeds the frames."""
    preview = Preview(str(clip), lambda _: model, LiveOptions(window=False))  # type: ignore[arg-type,return-value]
    preview.worker.start()
    try:
        yield preview
    finally:
        preview.stop.set()
        model.go.put(None)  # a frame still waiting at the gate finishes
        preview.worker.join(timeout=60)
        assert not preview.worker.is_alive()
        preview.close()


def next_frame(preview: Preview, model: GatedEnhancer, seq: int) -> tuple[int, int | None]:
    """Frame `seq` in; returns (frame, depth) of the model call it starts. The call before it
    has returned by then, so its result is the newest."""
    preview.shots.put(shot(seq))
    return model.calls.get(timeout=60)


def test_keys_change_the_depth_of_the_next_frame_and_the_status_shows_what_ran(short_clip):
    model = GatedEnhancer(units=3)
    with headless(short_clip, model) as preview:
        assert next_frame(preview, model, 1) == (1, 3)  # the model's own depth
        assert preview.on_key(ord("+")) is False  # pressed while frame 1 runs: from the next frame on
        model.go.put(None)
        assert next_frame(preview, model, 2) == (2, 4)
        preview.step()  # shows frame 1, which ran at 3 units, though 4 is set
        assert preview.shown_seq == 1 and preview.shown_status.startswith("DRRN B1U3 ")
        preview.on_key(ord("-"))
        preview.on_key(ord("-"))
        model.go.put(None)
        assert next_frame(preview, model, 3) == (3, 2)
        preview.step()  # frame 2, at the depth it ran
        assert preview.shown_seq == 2 and preview.shown_status.startswith("DRRN B1U4 ")
        model.go.put(None)
        assert next_frame(preview, model, 4) == (4, 2)
        preview.step()
        assert preview.shown_seq == 3 and preview.shown_status.startswith("DRRN B1U2 ")
        assert [c.units for c in preview.stats.choices] == [3, 4, 2]


def test_keys_leave_a_fixed_depth_alone_and_say_so_once(short_clip, capsys):
    model = GatedEnhancer(units=25, variable_depth=False)  # an ONNX file: its graph unrolls 25 units
    with headless(short_clip, model) as preview:
        for key in "+=-_+":
            assert preview.on_key(ord(key)) is False
        assert next_frame(preview, model, 1) == (1, 25)
        model.go.put(None)
        assert next_frame(preview, model, 2) == (2, 25)
        preview.step()
        assert preview.shown_seq == 1 and preview.shown_status.startswith("DRRN B1U25 ")
        assert preview.worker.error is None and preview.stats.choices == [Choice(25, 1.0)]
    notices = [line for line in capsys.readouterr().err.splitlines() if "+/-" in line]
    assert notices == ["an ONNX file runs the depth it was exported with (B1U25); +/- do nothing"]


@contextmanager
def watchdog(proc: subprocess.Popen, seconds: float) -> Iterator[None]:
    """Kill `proc` should the block take longer than `seconds`: a stalled process fails the test, not hangs it."""
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def iter_queue(q: queue.Queue) -> Iterator:
    """What `q` holds now, without waiting."""
    with contextlib.suppress(queue.Empty):
        while True:
            yield q.get_nowait()


def start_xvfb(*args: str) -> tuple[subprocess.Popen, str]:
    """A virtual screen, returned once it accepts clients (Xvfb writes its display number when ready)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", *args],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(write)
    with os.fdopen(read) as ready:
        number = ready.readline().strip()
    assert number, "Xvfb did not start"
    return xvfb, f":{number}"


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool")
def test_window_shows_the_preview_and_answers_keys(tmp_path, tiny_weights, long_clip):
    xvfb, display = start_xvfb()
    try:
        env = os.environ | {"DISPLAY": display}
        proc = subprocess.Popen(live(tiny_weights, str(long_clip)), cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        # The window opens with its first picture; --sync waits for it (the clip runs 30 s, far longer).
        focus = ["xdotool", "search", "--sync", "--onlyvisible", "--name", "drrn-stream live"]
        focus += ["windowfocus", "--sync"]  # the window is shown (with its first picture) and has the keyboard
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
        reader.start()
        said: list[str] = []  # q only once s is handled: OpenCV's waitKey keeps only the last of two quick keys
        with watchdog(proc, 120):
            while proc.poll() is None and not any("saved drrn-live-" in line for line in said):
                # s again if it went unanswered: a key can reach X before the window takes input
                subprocess.run([*focus, "key", "s"], env=env, check=True, timeout=120)
                with contextlib.suppress(queue.Empty):
                    said.append(lines.get(timeout=5))
                    said += list(iter_queue(lines))
        subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=120)
        proc.wait(timeout=120)
        reader.join(timeout=120)
        err = "".join(said + list(iter_queue(lines)))
        assert proc.returncode == 0 and "saved drrn-live-" in err, err  # s saved a screenshot, q ended it
        screenshots = sorted(tmp_path.glob("drrn-live-*.png"))  # s saved what the window showed
        assert screenshots
        for screenshot in screenshots:
            shown = cv2.imread(str(screenshot))
            assert shown.shape == (64 + 22, 96, 3)  # 2x the 48x32 clip, under a status bar
            assert (shown[22:].max(axis=2) > 0).mean() > 0.5  # a picture, not a blank window
    finally:
        xvfb.terminate()
        xvfb.wait()


class ClientMessage(ctypes.Structure):
    """Xlib's XClientMessageEvent, padded to an XEvent's 24 longs."""

    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("padding", ctypes.c_long * 12)]  # fmt: skip


def close_by_title_bar(display: str, window: int) -> None:
    """Send what a window manager's close button sends, WM_PROTOCOLS' WM_DELETE_WINDOW (xdotool 3.2016 has no
    command for it: its windowclose destroys the window under its owner)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XInternAtom.restype, x11.XInternAtom.argtypes = ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    protocols = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    message = ClientMessage(type=33, window=window, message_type=protocols, format=32)  # 33: ClientMessage
    message.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(connection, window, 0, 0, ctypes.byref(message))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool") and ctypes.util.find_library("X11")),
                    reason="needs Xvfb, xdotool and libX11")  # fmt: skip
def test_closing_the_window_ends_the_preview(tmp_path, tiny_weights):
    """Closed by its title bar, the window came back with the next picture and the preview ran on to the
    input's end (here 160 s: the watchdog's kill at 120 s fails the test)."""
    endless = make_clip(tmp_path / "long.mp4", width=48, height=32, pts_ms=[40 * i for i in range(4000)], audio=False)
    xvfb, display = start_xvfb()
    try:
        env = os.environ | {"DISPLAY": display}
        proc = subprocess.Popen(live(tiny_weights, str(endless)), env=env, stderr=subprocess.PIPE, text=True)
        with watchdog(proc, 120):
            found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "drrn-stream live"],
                                   env=env, capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
            close_by_title_bar(display, int(found.stdout.split()[0]))
            err = proc.communicate()[1]
        assert proc.returncode == 0 and "enhanced frame" in err.splitlines()[-1], err
    finally:
        xvfb.terminate()
        xvfb.wait()


def test_a_stale_display_is_one_line_where_opencv_aborted(monkeypatch):
    """An ssh session's DISPLAY names a server gone: OpenCV's Qt aborted the process (exit 134) as with none."""
    monkeypatch.setenv("DISPLAY", ":59999")  # no such server: neither socket answers
    with pytest.raises(UserError, match=r"no X server answers at DISPLAY=:59999; use --no-window"):
        check_display()
    with socket.create_server(("127.0.0.1", 0)) as server:  # X11 over TCP answers at 6000 + its number
        monkeypatch.setenv("DISPLAY", f"127.0.0.1:{server.getsockname()[1] - 6000}.0")
        check_display()


@pytest.mark.skipif(not (shutil.which("Xvfb") and ctypes.util.find_library("xcb")), reason="needs Xvfb and libxcb")
def test_an_x_server_that_refuses_this_process_is_one_line_where_qt_aborted(tmp_path, monkeypatch, capfd):
    """A server that wants a cookie this process lacks (a stale ssh -X one, sudo's XAUTHORITY): the socket answered,
    so the window was tried after the model loaded, and Qt aborted the process (exit 134)."""
    cookie = b"MIT-MAGIC-COOKIE-1"
    field = lambda data: struct.pack(">H", len(data)) + data  # noqa: E731  # an Xauthority entry's counted field
    (tmp_path / "auth").write_bytes(struct.pack(">H", 0xFFFF) + field(b"") + field(b"") + field(cookie) +
                                    field(os.urandom(16)))  # FamilyWild: any display of any host  # fmt: skip
    xvfb, display = start_xvfb("-auth", str(tmp_path / "auth"))
    try:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.setenv("XAUTHORITY", str(tmp_path / "elsewhere"))
        with pytest.raises(UserError, match=rf"the X server at DISPLAY={display} refuses this process \(its "):
            check_display()
        monkeypatch.setenv("XAUTHORITY", str(tmp_path / "auth"))
        check_display()
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert capfd.readouterr().err == ""  # libxcb prints the server's refusal itself


def test_screenshots_never_replace_one_another_and_a_failed_one_is_said(tmp_path, capsys, monkeypatch):
    """Two in one second of one frame (paused) had one name, the second replacing the first; one OpenCV could
    not write was said to be saved."""
    monkeypatch.setattr("stream.apps.window.time.strftime", lambda _: "20261207-120000")
    first, second = (save_screenshot(np.full((4, 6, 3), v, np.uint8), tmp_path, 7) for v in (10, 20))
    assert (first.name, second.name) == ("drrn-live-20261207-120000-7.png", "drrn-live-20261207-120000-7-2.png")
    assert [int(cv2.imread(str(p))[0, 0, 0]) for p in (first, second)] == [10, 20]
    (tmp_path / "a-file").write_text("")
    assert save_screenshot(np.zeros((4, 6, 3), np.uint8), tmp_path / "a-file", 8) is None
    said = capsys.readouterr().err.splitlines()
    assert said[-1] == f"screenshot not saved in {tmp_path / 'a-file'}: Not a directory", said


def test_a_file_opencv_opens_no_video_from_is_said_as_enhance_says_it(tmp_path, tiny_weights):
    """It was "cannot open (no such camera, file or stream)" for a file that is there; a PNG was judged
    compressed ("mpng, a lossy codec") by the FOURCC OpenCV gives it."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    proc = subprocess.run(live(tiny_weights, str(notes), "--no-window"), capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr) == (1, f"error: {notes}: not a readable media file (Invalid data found "
                                                 "when processing input)\n")  # fmt: skip
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((8, 8, 3), np.uint8))
    capture, _ = open_capture(str(tmp_path / "p.png"))
    assert coding(capture) == "png"
    capture.release()


def test_a_recording_in_a_container_that_holds_no_h264_is_one_line_and_replaces_nothing(tmp_path, tiny_weights, capsys):
    """Into .webm, .gif, .png it failed after the model loaded as "unexpected AttributeError: 'NoneType' object has
    no attribute 'encode'"; into .y4m with -y the existing file was left empty."""
    from tests.cli_helpers import run_cli

    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0, 40], audio=False)
    base = ["live", str(clip), "--no-window", "--frames", "2", "-y", "--weights", str(tiny_weights), "--record"]
    code, _, err = run_cli([*base, str(tmp_path / "r.avi2")], capsys)  # it said "give --output-format"
    assert (code, err) == (1, f"error: {tmp_path / 'r.avi2'}: cannot tell the container from the name; --record "
                              "writes H.264: name a .mp4, .mkv or .mov\n")  # fmt: skip
    for name, kind in (("r.webm", "webm"), ("r.gif", "gif"), ("r.png", "image2"), ("r.y4m", "yuv4mpegpipe"),
                       ("r.avi", "avi"), ("r.ts", "mpegts")):  # fmt: skip  # AVI: 1000 fps, a frame a ms
        (tmp_path / name).write_bytes(b"yesterday's")
        code, _, err = run_cli([*base, str(tmp_path / name)], capsys)
        assert (code, err) == (1, f"error: {tmp_path / name}: --record writes H.264 at each frame's time into MP4, "
                                  f"Matroska or MOV, not {kind}; name a .mp4, .mkv or .mov\n")  # fmt: skip
        assert (tmp_path / name).read_bytes() == b"yesterday's"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial file left


def test_odd_sizes_go_out_whole_and_are_recorded_whole(tmp_path, tiny_weights):
    """Frames were cropped to even sizes for 4:2:0: --output - lost a row and a column of a 63x47 input's x3, and a
    1-pixel-wide one failed ("unexpected ArgumentError": a width of 0). Raw video takes odd sizes; H.264 gets the
    last row or column repeated."""
    odd = make_clip(tmp_path / "odd.mkv", 21, 15, pts_ms=[0, 100], pix_fmt="yuv444p", audio=False)
    args = live(tiny_weights, str(odd), "--no-window", "--scale", "3", "--frames", "2", "--output", "-", "--record",
                str(tmp_path / "r.mp4"))  # fmt: skip
    proc = subprocess.run(args, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "out.nut").write_bytes(proc.stdout)
    assert probe(tmp_path / "out.nut")["size"] == (63, 45) and probe(tmp_path / "r.mp4")["size"][0] == 64
    thin = make_clip(tmp_path / "thin.mkv", 1, 8, pts_ms=[0, 100], pix_fmt="yuv444p", audio=False)
    proc = subprocess.run(live(tiny_weights, str(thin), "--no-window", "--scale", "1", "--frames", "2", "--record",
                               str(tmp_path / "t.mp4")), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0 and probe(tmp_path / "t.mp4")["frames"] == 2, proc.stderr


def test_a_source_that_gives_no_frame_is_one_line_and_records_nothing(tmp_path, tiny_weights):
    """It ended "0 enhanced frames in 0.1 s; latency nan ms ...; recorded r.mp4", exit 0, and no r.mp4 was there."""
    clip = make_clip(tmp_path / "in.mkv", pts_ms=[0, 100, 200], audio=False, codec="ffv1").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(clip[:700])
    proc = subprocess.run(live(tiny_weights, str(tmp_path / "cut.mkv"), "--no-window", "--record",
                               str(tmp_path / "r.mp4")), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.endswith(
        f"error: {tmp_path / 'cut.mkv'}: no frame came from it (cut short or damaged?)\n"), proc.stderr  # fmt: skip
    assert "[matroska" not in proc.stderr  # FFmpeg's own lines, from inside OpenCV
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mkv", "in.mkv", "tiny.safetensors"]


def test_a_recording_cut_off_where_nothing_can_finish_it_still_plays(tmp_path):
    """Qt ends the process at once where the display's X connection breaks: a plain MP4 (its index written at the
    end, its packets held in PyAV's buffer and x264's lookahead) was 48 bytes that played nothing."""
    script = f"""
import os, numpy as np
from stream.apps.recorder import Recorder
from stream.video.targets import FileTarget
recorder = Recorder(FileTarget("0", {str(tmp_path / "r.mp4")!r}, False, None))
for n in range(60):
    recorder.write(np.full((32, 48, 3), n * 4, np.uint8), n / 20)
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    (cut,) = tmp_path.glob(".r.partial.mp4")
    assert probe(cut)["frames"] >= 40  # all but the fragment of the last second

    again = Recorder(FileTarget("0", str(tmp_path / "r.mp4"), False, None))  # the next run onto the same name had
    again.write(np.zeros((32, 48, 3), np.uint8), 0)  # emptied it (a recording cannot be made again)
    again.close()
    assert again.file.recovered == tmp_path / "r.recovered-1.mp4" and probe(again.file.recovered)["frames"] >= 40
    assert probe(tmp_path / "r.mp4")["frames"] == 1


def test_a_stop_signal_while_a_frame_is_recorded_keeps_the_recording(tmp_path):
    """Ctrl-C or SIGTERM raised while a frame was coded and muxed (x264 takes much of the main thread) marked the
    recording broken, and close() removed it: half the live runs stopped so lost minutes of recording, unsaid."""

    class StoppedAfterMuxing:  # the signal's handler runs as the mux call returns
        def __init__(self, container):
            self.container = container

        def mux(self, packet):
            self.container.mux(packet)
            raise KeyboardInterrupt

    recorder = Recorder(FileTarget("0", str(tmp_path / "r.mp4"), False, None))
    for n in range(30):
        recorder.write(np.full((32, 48, 3), n * 4, np.uint8), n / 20)
    container, recorder.container = recorder.container, StoppedAfterMuxing(recorder.container)
    with pytest.raises(KeyboardInterrupt):
        recorder.write(np.zeros((32, 48, 3), np.uint8), 30 / 20)
    recorder.container = container
    recorder.close()
    assert recorder.recorded and probe(tmp_path / "r.mp4")["frames"] == 31


@pytest.fixture
def three_unit_weights(tmp_path: Path) -> Path:
    """Random B1U3 weights: depths 1 to 3 for the latency controller to choose from."""
    path = tmp_path / "b1u3.safetensors"
    save_weights(path, Weights(random_drrn(units=3, channels=8).state_dict(), {"units": "3"}))
    return path


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="needs ffprobe")
def test_output_pipes_the_enhanced_frames_with_their_capture_times(tiny_weights, long_clip):
    proc = subprocess.Popen(
        live(tiny_weights, str(long_clip), "--no-window", "--frames", "12", "--output", "-"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    probe_frames = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "frame=pts_time,width,height", "-of", "json", "-i", "-"],
        stdin=proc.stdout, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    frames = json.loads(probe_frames.stdout)["frames"]
    assert len(frames) == 12 and {(f["width"], f["height"]) for f in frames} == {(96, 64)}  # 2x, no status bar
    times = [float(f["pts_time"]) for f in frames]
    assert times == sorted(times) and len(set(times)) == 12 and times[0] == 0


def test_output_ends_quietly_when_its_reader_goes_away(tiny_weights, long_clip):
    """`live --output - | head -c N`: the reader leaves after N bytes; live ends at once, status 0."""
    command = shlex.join(live(tiny_weights, str(long_clip), "--no-window", "--output", "-"))
    proc = subprocess.run(
        ["bash", "-c", f"{command} | head -c 30000 > /dev/null; echo ${{PIPESTATUS[0]}} >&2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == "0" and "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert "enhanced frames" in proc.stderr  # the closing line, well before the 30 s clip ends


def test_latency_budget_chooses_the_depth_and_reports_it(three_unit_weights, long_clip):
    proc = subprocess.run(
        live(three_unit_weights, str(long_clip), "--no-window", "--frames", "10", "--latency-ms", "5000"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "latency budget 5000 ms" in proc.stderr and "(0 over the budget)" in proc.stderr
    assert "depth 1..3" in proc.stderr  # starts at one unit, then as deep as the weights go: well within 5 s


@pytest.mark.parametrize(
    "args, message",
    [
        (["7"], "camera 7: cannot open it (cameras: "),
        (["CLIP", "--size", "640x480"], "are asked of cameras, not files"),
        (["CLIP", "--output", "out.nut"], "only - (stdout) is supported"),
        (["CLIP", "--size", "640"], "expected WxH"),
        (["CLIP", "--latency-ms", "nan"], "--latency-ms nan: a finite number"),  # typer's min=1 let it by: depth 1
    ],
)
def test_bad_live_options_are_one_line(tiny_weights, long_clip, args, message):
    args = [str(long_clip) if a == "CLIP" else a for a in args]
    proc = subprocess.run(live(tiny_weights, *args, "--no-window"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and message in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr


def test_sigterm_ends_live_like_ctrl_c(tmp_path, tiny_weights, long_clip):
    out = tmp_path / "shown.mp4"
    proc = subprocess.Popen(live(tiny_weights, str(long_clip), "--no-window", "--output", "-", "--record", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout.read(20000)  # enhanced frames are flowing
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 143, err
    assert err.strip().splitlines()[-1] == "interrupted (SIGTERM)" and "Traceback" not in err
    assert probe(out)["frames"] >= 1  # the recording was finished, so it plays


def test_a_reader_that_outlasts_closing_is_left_running_for_the_cli_to_exit_past(monkeypatch):
    """A camera that gives no frame holds the reader in OpenCV's C++ code: joined for 2 s, then Python's
    finalisation woke it into a forced unwind through those frames, an abort (exit 134)."""
    from stream.errors import LEFT_RUNNING

    monkeypatch.setattr("stream.apps.live.READER_JOIN_S", 0.01)
    stuck = threading.Event()
    reader = threading.Thread(target=stuck.wait, daemon=True)
    reader.start()
    try:
        Preview._let_go_of_reader(SimpleNamespace(reader=reader))  # as Preview.close lets go of its reader
        assert reader in LEFT_RUNNING
    finally:
        stuck.set()
        reader.join()
