"""The command line's own promises: help without the heavy imports, and options equal to what they stand for."""

import io
import os
import stat
import subprocess
import sys
from importlib.metadata import entry_points

import cv2
import numpy as np
import pytest
from rich.console import Console

from stream.video.observers import FramesBar
from tests.cli_helpers import ROOT, run_cli
from tests.media import make_clip, probe

LOADED = "import sys; from stream.cli import main; print(sorted({'torch', 'av'} & set(sys.modules)))"


def test_the_cli_loads_neither_torch_nor_pyav_until_a_command_runs():
    run = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, check=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout


def test_help_lists_every_command(capsys):
    """Every command the app has, and those it must have, are in the help."""
    from stream.cli import app

    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    registered = {command.name for command in app.registered_commands}
    assert {"enhance", "eval", "eval-video", "live", "convert", "export", "train", "bench"} <= registered
    for command in registered:
        assert f" {command} " in out


def test_version_and_short_help(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("drrn-stream ")
    code, out, _ = run_cli(["-h"], capsys)
    assert code == 0 and "drrn-stream IN OUT [OPTIONS]" in out  # the main form comes first
    code, out, _ = run_cli(["enhance", "-h"], capsys)
    assert code == 0 and "Usage: drrn-stream enhance [OPTIONS] IN OUT" in " ".join(out.split())


def test_help_reads_as_conventions_have_it(capsys):
    """Arguments by their metavar, flags as flags: no `{src}` or `<bool>` (typer 0.27+ renders those)."""
    from stream.cli import app

    for command in [c.name for c in app.registered_commands]:
        code, out, _ = run_cli([command, "--help"], capsys)
        assert code == 0 and "<bool>" not in out and "{" not in out.split("Usage:")[1].splitlines()[0], command


def test_a_bad_option_is_one_line_naming_where_help_is(capsys):
    code, out, err = run_cli(["in.mp4", "out.mp4", "--preset", "bogus"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: Invalid value for '--preset'") and "enhance -h" in err
    code, _, err = run_cli(["eval", "--nope"], capsys)
    assert code == 2 and err.count("\n") == 1 and "drrn-stream eval -h" in err


def test_an_unknown_output_extension_names_the_users_file(capsys, tmp_path):
    code, _, err = run_cli(["samples/sample.mp4", str(tmp_path / "out.xyz"), "--units", "1"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert f"{tmp_path / 'out.xyz'}: cannot tell the container format" in err and ".partial" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize("dst", ["out.mkv", "-"])
def test_an_unknown_output_format_is_said_as_an_unknown_input_format_is(capfd, tmp_path, dst):
    """It was said as "<hidden partial file>: cannot tell the container format from the name" (to stdout: the
    name of Python's file object)."""
    target = str(tmp_path / dst) if dst != "-" else dst
    code, _, err = run_cli(["samples/sample.mp4", target, "--output-format", "bogus"], capfd)
    named = target if dst != "-" else "stdout"
    assert code == 1 and err == f"error: {named}: cannot write (no container format 'bogus')\n", err
    assert list(tmp_path.iterdir()) == []


def test_empty_names_and_a_file_for_a_folder_are_one_line(capsys, tmp_path, monkeypatch):
    """An empty input name was the current folder (every file in it run into the output, minutes of work); an empty
    output name was said ": is a folder"; a file where the output's folder should be, "no such folder"; a name
    ending in / wrote a file of the name before it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.mp4").write_text("a file")
    for args, said in [
        (["", "out.mp4"], "the input's name is empty (a file, a folder, or - for stdin)"),
        ([str(ROOT / "samples/sample.mp4"), ""], "the output's name is empty (a file, a folder, or - for stdout)"),
        ([str(ROOT / "samples/sample.mp4"), "notes.mp4/out.mp4"], "notes.mp4: not a folder"),
        (
            [str(ROOT / "samples/sample.mp4"), "out.mkv/"],  # it wrote a file out.mkv
            "out.mkv/: a folder's name (it ends in /); name the output file in it, e.g. out.mkv/out.mp4",
        ),
    ]:
        code, _, err = run_cli(args, capsys)
        assert code == 1 and err == f"error: {said}\n", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_a_missing_input_is_said_before_torch_is_imported(tmp_path):
    script = (
        "import sys; sys.argv = ['drrn-stream', 'missing.mp4', 'out.mp4']\n"
        "from stream.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["1", "False"] and run.stderr == "error: missing.mp4: no such file\n"


def test_a_name_that_is_no_utf8_is_said_as_its_bytes(tmp_path):
    """A file from an old Latin-1 machine was said "caf\\udce9.mp4" (Python's escape), where ffmpeg and ls print
    its bytes."""
    script = "import sys; sys.argv = ['drrn-stream', sys.argv[1], 'out.mp4']\nfrom stream.cli import main\nmain()"
    run = subprocess.run([sys.executable, "-c", script, b"caf\xe9.mp4"], capture_output=True, cwd=tmp_path, timeout=120,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 1 and run.stderr == b"error: caf\xe9.mp4: no such file\n"


SIGNAL_IN_IMPORT = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])  # a stand-in `stream` whose import is where the signal comes
import drrn_stream_launcher
drrn_stream_launcher.main()
"""


@pytest.mark.parametrize("signum", [2, 15])
def test_a_stop_signal_while_the_cli_imports_is_one_line(tmp_path, signum):
    """Ctrl-C in the fifth of a second that importing the CLI takes came out as a traceback (exit -2);
    the console script starts at the launcher, which heeds the stop signals first."""
    (tmp_path / "stream" / "cli").mkdir(parents=True)
    (tmp_path / "stream" / "__init__.py").write_text(f"import os\nos.kill(os.getpid(), {signum})\n")
    (tmp_path / "stream" / "cli" / "__init__.py").write_text("def main():\n    print('the CLI ran')\n")
    run = subprocess.run([sys.executable, "-c", SIGNAL_IN_IMPORT, str(tmp_path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)  # fmt: skip
    said = {2: "SIGINT", 15: "SIGTERM"}[signum]
    assert (run.returncode, run.stdout, run.stderr) == (128 + signum, "", f"interrupted ({said})\n")
    (script,) = entry_points(group="console_scripts", name="drrn-stream")
    assert script.value == "drrn_stream_launcher:main"


def test_python_m_stream_heeds_a_stop_signal_while_the_cli_imports(tmp_path):
    """`python -m stream` (the tests' way in, and a checkout's) imported the CLI unguarded: a Ctrl-C there was a
    traceback. It starts at the launcher, as the console script does."""
    (tmp_path / "stream" / "cli").mkdir(parents=True)
    (tmp_path / "stream" / "__init__.py").write_text("")
    (tmp_path / "stream" / "__main__.py").write_text((ROOT / "stream" / "__main__.py").read_text())
    (tmp_path / "stream" / "cli" / "__init__.py").write_text("import os\nos.kill(os.getpid(), 2)\ndef main(): pass\n")
    run = subprocess.run([sys.executable, "-m", "stream"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env=os.environ | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})  # fmt: skip
    assert (run.returncode, run.stderr) == (130, "interrupted (SIGINT)\n")


def test_names_are_said_as_they_are(tmp_path, tiny_weights, capsys, monkeypatch):
    """rich read ":x:" in a name as an emoji ("a:x:.mp4" was said as "a\u274c.mp4") and, in a bar on a terminal,
    "[x264]" as a style it dropped. Downloads are named so: "[1080p] Film [x264].mp4"."""
    code, _, err = run_cli([str(tmp_path / "[x264] a:x:.mp4"), "out.mp4"], capsys)
    assert code == 1 and err == f"error: {tmp_path / '[x264] a:x:.mp4'}: no such file\n"
    monkeypatch.setattr("stream.console.LINE_SECONDS", 0.0)
    cv2.imwrite(str(tmp_path / "[x264] b:smile:.png"), np.zeros((24, 32, 3), np.uint8))
    code, _, err = run_cli([str(tmp_path / "[x264] b:smile:.png"), str(tmp_path / "o.png"), "--weights",
                            str(tiny_weights)], capsys)  # fmt: skip
    assert code == 0 and "\n[x264] b:smile:.png, windows: 1/1" in err, err
    shown = io.StringIO()
    with FramesBar(Console(file=shown, force_terminal=True, width=100), 3, "[x264] c:x:.mp4") as bar:
        bar.show(advance=1)
    assert "[x264] c:x:.mp4" in shown.getvalue(), shown.getvalue()


def test_a_bar_on_an_80_column_terminal_shows_the_time_left_and_the_note_whole():
    """The bar kept 40 columns and the percentage beside the frame count: at 80 columns the time left read "0:00:…"."""
    shown = io.StringIO()
    console = Console(file=shown, force_terminal=True, width=80, color_system=None)
    bar = FramesBar(console, 13800, "enhancing")
    bar.show(completed=1700, note="PSNR vs bicubic mean 49.19 dB")
    console.print(bar.progress.make_tasks_table(bar.progress.tasks))
    line = shown.getvalue().rstrip()
    assert " 1700/13800 frames " in line and line.endswith(" -:--:-- PSNR vs bicubic mean 49.19 dB"), line
    assert "━" in line and len(line) <= 80, line  # and room for some bar


def test_a_count_of_one_reads_in_the_singular(tmp_path, tiny_weights, capsys):
    """Issue #25 item 8: "(1 frames)" read wrong."""
    clip = make_clip(tmp_path / "one.mp4", width=32, height=32, pts_ms=[0], audio=False)
    code, _, err = run_cli([str(clip), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "(1 frame in " in err, err


def test_progress_is_plain_lines_where_stderr_is_not_a_terminal(capsys, tmp_path, monkeypatch):
    """CI logs, nohup, a pipe: rich draws no bar there, so lines say how far the run is (issue #25 item 5)."""
    monkeypatch.setattr("stream.console.LINE_SECONDS", 0.0)  # a line at every frame (else one every 5 s)
    code, _, err = run_cli(["samples/sample.mp4", str(tmp_path / "out.mkv"), "--units", "1"], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("enhancing: ")]
    assert len(lines) >= 8 and lines[-1].startswith("enhancing: 16/16") and "PSNR vs bicubic" in lines[-1]


@pytest.mark.parametrize("command", [["samples/sample.mp4", "{tmp}/out.mp4"], ["eval-video", "samples/sample.mp4"]])
def test_an_error_after_the_input_is_open_closes_it_before_exit(capsys, tmp_path, monkeypatch, command):
    """A device that is not there fails after the decoder started: the input is closed on the way out,
    not left to the GC at exit, where a frame-threaded decoder can wait forever (issue #25 item 1:
    about 1 run in 35 of `--device cuda` without CUDA never exited)."""
    from stream.video.source import VideoSource

    opened, closed = [], []
    original_init, original_close = VideoSource.__init__, VideoSource.close
    monkeypatch.setattr(
        VideoSource, "__init__", lambda self, *a, **k: opened.append(self) or original_init(self, *a, **k)
    )
    monkeypatch.setattr(VideoSource, "close", lambda self: closed.append(self) or original_close(self))
    args = [arg.format(tmp=tmp_path) for arg in command]
    code, _, err = run_cli([*args, "--device", "cuda:7"], capsys)  # not there, with CUDA or without
    assert code == 1 and err.count("\n") == 1 and "cuda:7" in err
    assert opened and all(source in closed for source in opened)


def test_the_error_path_exits_every_time(tmp_path):
    """The same error, run after run as separate processes: each one exits with its one line (a
    hang at exit shows as the timeout)."""
    args = [sys.executable, "-m", "stream", "samples/sample.mp4", str(tmp_path / "out.mp4"), "--device", "cuda:7"]
    for _ in range(8):
        run = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr


LEFT = """
import atexit, sys, threading
from stream.cli import leave
from stream.errors import LEFT_RUNNING
atexit.register(lambda: print("finalised"))
stuck = threading.Event()
thread = threading.Thread(target=stuck.wait, daemon=True)
thread.start()
print("exiting", flush=False)
LEFT_RUNNING.add(thread) if sys.argv[1] == "left" else None
leave(143)
"""


@pytest.mark.parametrize("left", [True, False])
def test_the_cli_exits_without_finalisation_where_it_left_a_thread_running(left):
    """A thread left running after a second stop signal (the model mid-batch, in PyTorch) was ended by Python's
    finalisation with a forced unwind through C++ frames: an abort, exit 134, where 143 was due. Output is flushed."""
    run = subprocess.run([sys.executable, "-c", LEFT, "left" if left else "joined"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)  # fmt: skip
    assert (run.returncode, run.stdout) == (143, "exiting\n" if left else "exiting\nfinalised\n"), run.stderr


FINALISED_UNDER_A_SIGNAL = """
import atexit, os, signal, time
atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(1)))  # Ctrl-C as Python finalises
from stream.cli import leave
leave(0)
"""


def test_a_stop_signal_as_the_cli_exits_ends_it_with_its_own_status():
    """A Ctrl-C just after "wrote out.mp4" came out of PyTorch's atexit clean-up as a KeyboardInterrupt traceback,
    and the process exited 0 (9 of 14 runs so stopped, found by a helper)."""
    run = subprocess.run([sys.executable, "-c", FINALISED_UNDER_A_SIGNAL], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)  # fmt: skip
    assert (run.returncode, run.stderr) == (130, "")


def test_a_reader_of_stderr_that_goes_away_costs_the_messages_not_the_output(tmp_path):
    """`drrn-stream in out 2>&1 | head -1`: the run goes on quietly and writes its output (it failed
    with status 1 at its next message, and lost the output where that came mid-run)."""
    from tests.media import probe

    dst = tmp_path / "out.mp4"
    read, write = os.pipe()
    run = subprocess.Popen([sys.executable, "-m", "stream", "samples/sample.mp4", str(dst), "--units", "1"],
                           stdout=subprocess.DEVNULL, stderr=write)  # fmt: skip
    os.close(write)
    first = os.read(read, 100)  # the header's start; then the reader goes away
    os.close(read)
    assert run.wait(timeout=300) == 0 and first.startswith(b"sample.mp4: ")
    assert probe(dst)["frames"] == 16


def test_a_run_started_without_stderr_writes_its_output(tmp_path, tiny_weights):
    """`drrn-stream in out 2>&-` failed (status 120, no output: Python's stderr is None then). Messages go nowhere,
    and each closed number of the three is held on /dev/null, so that no file opened takes it (libav logs to 2)."""
    dst = tmp_path / "out.mkv"
    args = ["samples/sample.mp4", str(dst), "--units", "1", "--weights", str(tiny_weights)]
    run = subprocess.run([sys.executable, "-m", "stream", *args], preexec_fn=lambda: os.close(2),
                         stdout=subprocess.PIPE, timeout=300)  # fmt: skip
    assert run.returncode == 0
    assert probe(dst)["frames"] == 16


@pytest.mark.parametrize(("closed", "args"), [(0, ["-", "out.mkv"]), (1, ["samples/sample.mp4", "-"])])
def test_reading_a_closed_stdin_or_writing_a_closed_stdout_is_one_line(closed, args):
    name = ("stdin", "stdout")[closed]
    run = subprocess.run([sys.executable, "-m", "stream", *args], preexec_fn=lambda: os.close(closed),
                         stderr=subprocess.PIPE, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 1 and run.stderr == f"error: {name} is closed\n"


def test_a_terminal_as_stdin_is_one_line(tmp_path):
    """`drrn-stream - out.mkv` typed with nothing piped in waited for the keyboard."""
    leader, follower = os.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "stream", "-", str(tmp_path / "out.mkv")], stdin=follower,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        os.close(leader)
        os.close(follower)
    assert run.returncode == 1 and run.stderr.startswith("error: stdin is a terminal; pipe a video in"), run.stderr


def test_a_link_or_a_device_as_the_output_is_written_through(tmp_path, tiny_weights, capsys):
    """As ffmpeg writes them: -y replaced a link with a file of its own (its target left as it was) and a device node
    with a regular file (/dev/null itself, run as root)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "target.mp4").write_bytes(b"old")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "real" / "target.mp4")
    args = ["samples/sample.mp4", str(tmp_path / "link.mp4"), "--units", "1", "--weights", str(tiny_weights), "-y"]
    code, _, err = run_cli(args, capsys)
    assert code == 0 and (tmp_path / "link.mp4").is_symlink(), err
    assert probe(tmp_path / "real" / "target.mp4")["frames"] == 16
    if os.geteuid() != 0:  # a device node takes root to make
        return
    os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    code, _, err = run_cli([*args[:1], str(tmp_path / "null"), *args[2:], "--output-format", "matroska"], capsys)
    assert code == 0 and stat.S_ISCHR((tmp_path / "null").stat().st_mode), err
    assert list(tmp_path.glob(".*")) == []  # no partial file beside it


def test_dev_stdout_on_a_pipe_is_written_as_stdout_is(tmp_path, tiny_weights):
    """The link was resolved first, to /proc/PID/fd/pipe:[N], a name nothing is at: "cannot write (No such file or
    directory)", where `ffmpeg ... /dev/stdout | ffprobe -` works."""
    args = ["samples/sample.mp4", "/dev/stdout", "--output-format", "matroska", "--weights", str(tiny_weights), "-qy"]
    run = subprocess.run([sys.executable, "-m", "stream", *args, "--duration", "0.2"], capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (tmp_path / "out.mkv").write_bytes(run.stdout)  # what came through the pipe
    assert probe(tmp_path / "out.mkv")["frames"] == 2  # 0.2 s at 10 fps


def test_a_name_near_the_longest_a_file_may_have_is_written(tmp_path, tiny_weights, capsys):
    """A 250-character name (ffmpeg writes it) failed as "File name too long", naming the hidden partial file, which
    the dot and ".partial" made longer than the file system's 255 bytes."""
    (tmp_path / "out").mkdir()
    dst = tmp_path / "out" / f"{'a' * 246}.mp4"
    code, _, err = run_cli(["samples/sample.mp4", str(dst), "--units", "1", "--weights", str(tiny_weights)], capsys)
    assert code == 0 and probe(dst)["frames"] == 16, err
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]  # no partial file left


def test_names_that_are_not_utf8_are_read_and_written(tmp_path, tiny_weights):
    """A Linux file's name is bytes, not always UTF-8 (one made on an old Latin-1 machine): OpenCV's bindings
    crashed the process reading such a picture (a segmentation fault), and a video's hidden partial file could
    not be named ("unexpected UnicodeEncodeError"). In a child process: a crash must fail the test, not end it."""
    cafe = os.fsdecode(b"caf\xe9")  # as Python names such a file: the byte kept as a surrogate escape
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((24, 32, 3), np.uint8))
    (tmp_path / "p.png").rename(tmp_path / f"{cafe}.png")
    for src, dst in [(tmp_path / f"{cafe}.png", tmp_path / f"{cafe} x2.png"), (ROOT / "samples" / "sample.mp4",
                     tmp_path / f"{cafe}.mkv")]:  # fmt: skip
        run = subprocess.run([sys.executable, "-m", "stream", str(src), str(dst), "--weights", str(tiny_weights)],
                             capture_output=True, text=True, timeout=300, errors="replace")  # fmt: skip
        assert run.returncode == 0, run.stderr
    written = cv2.imdecode(np.fromfile(tmp_path / f"{cafe} x2.png", np.uint8), cv2.IMREAD_COLOR)
    assert written.shape == (48, 64, 3) and probe(tmp_path / f"{cafe}.mkv")["frames"] == 16
    assert sorted(os.fsencode(p.name) for p in tmp_path.iterdir() if "caf" in p.name) == [
        b"caf\xe9 x2.png", b"caf\xe9.mkv", b"caf\xe9.png"]  # fmt: skip


def test_an_encoder_this_machine_lacks_is_one_line_before_any_frame(capsys, tmp_path):
    """NVENC without NVIDIA's driver (issue #23 item 3): refused when the sink is set up, naming the
    codec, and nothing written."""
    from fractions import Fraction

    import av

    if "h264_nvenc" not in av.codecs_available:
        pytest.skip("this PyAV has no h264_nvenc")
    try:
        probe = av.CodecContext.create("h264_nvenc", "w")
        probe.width, probe.height, probe.pix_fmt, probe.time_base = 64, 64, "yuv420p", Fraction(1, 25)
        probe.open()
        pytest.skip("NVENC opens here")
    except av.FFmpegError:
        pass
    dst = tmp_path / "out.mp4"
    code, _, err = run_cli(["samples/sample.mp4", str(dst), "--codec", "h264_nvenc", "--units", "1"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: --codec h264_nvenc: the encoder does not open (")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "codec", "said"),
    [("out.webm", ["--codec", "libx264"], "webm, cannot hold libx264 video (--codec names it: name another)"),
     ("out.ogv", ["--codec", "libx264"], "ogv, cannot hold libx264 video (--codec names it: name another)"),
     ("out.mkv", ["--codec", "huffyuv"], "matroska, cannot hold huffyuv video (--codec names it: name another)"),
     ("out.mxf", [], "mxf, takes no video at 8 fps (MXF: broadcast rates alone, 23.98 to 60); name another "
                     "container, e.g. .mov")],
)  # fmt: skip
def test_an_encoder_the_container_cannot_hold_is_one_line_before_any_frame(capsys, tmp_path, name, codec, said):
    """WebM refuses H.264 as the stream is added; Ogg only when its header is written; MXF at the sample's 8 fps (it
    holds H.264 at 25: it was "cannot hold libx264 video (its default here ...)")."""
    code, _, err = run_cli(["samples/sample.mp4", str(tmp_path / name), "--units", "1", *codec], capsys)
    assert code == 1 and err == f"error: the output's container, {said}\n", err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("alias", "encoder"), [("h264", b"x264"), ("hevc", b"x265")])
def test_a_formats_name_codes_as_the_encoder_it_stands_for(tmp_path, tiny_weights, alias, encoder):
    """--codec h264 is libx264, and it took none of the options the sink gives libx264: coded at x264's default
    CRF 23 whatever --crf said (hevc: CRF 28, and x265's banner on stderr). Run in a process of its own, whose
    stderr holds what x265 prints itself."""
    clip = make_clip(tmp_path / "in.mp4", width=32, height=32, pts_ms=[0, 40], audio=False)
    args = [str(clip), str(tmp_path / "out.mp4"), "--codec", alias, "--crf", "30", "--weights", str(tiny_weights)]
    run = subprocess.run([sys.executable, "-m", "stream", *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data = (tmp_path / "out.mp4").read_bytes()  # the encoder's settings, in the SEI it writes
    assert encoder in data and b"crf=30.0" in data
    assert "x265 [info]" not in run.stderr, run.stderr


@pytest.mark.parametrize(("codec", "kind"), [("aac", "audio"), ("srt", "subtitle")])
def test_an_encoder_of_no_video_is_one_line(capsys, tmp_path, codec, kind):
    """It failed as an "unexpected TypeError" (audio) or AttributeError (subtitles) while the sink set it up."""
    code, _, err = run_cli(["samples/sample.mp4", str(tmp_path / "out.mkv"), "--codec", codec], capsys)
    assert code == 1 and err == f"error: --codec {codec}: an encoder of {kind}, not of video\n", err
    assert list(tmp_path.iterdir()) == []


def test_ffmpegs_enomem_is_no_memory_a_run_cannot_have():
    """FFmpeg says ENOMEM for a damaged frame size a demuxer read (0xF0000000 bytes): that was "out of memory ...;
    ask for less at once (a smaller --batch ...)", advice that cannot help."""
    import av

    from stream.cli import out_of_memory

    assert out_of_memory(av.error.MemoryError(12, "Cannot allocate memory", "bad.ivf")) is None
    assert out_of_memory(MemoryError("Unable to allocate 72.8 TiB for an array")) == "72.8 TiB asked for"


@pytest.mark.parametrize(
    "raised, said",
    [
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried"
                " to allocate 360000000000 bytes. Error code 12 (Cannot allocate memory)"
            ),
            "out of memory (335.3 GiB asked for)",
        ),
        (MemoryError("Unable to allocate 72.8 TiB for an array with shape (10000000, 1000000)"), "72.8 TiB asked"),
    ],
)
def test_memory_a_run_cannot_have_is_one_line_saying_so(tmp_path, tiny_weights, capsys, monkeypatch, raised, said):
    """A --batch or --channels too big for the machine said "unexpected RuntimeError: [enforce fail at
    alloc_cpu.cpp:127] ..." with the advice to look at a traceback, as for a bug."""
    from kernels.inference import Restorer

    def allocate(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(Restorer, "_forward", allocate)
    args = ["samples/sample.mp4", str(tmp_path / "out.mp4"), "--weights", str(tiny_weights), "--duration", "0.1"]
    code, _, err = run_cli([*args, "--device", "cpu", "--precision", "fp32"], capsys)
    last = err.splitlines()[-1]  # after the run's header line
    assert code == 1 and "unexpected" not in err and "Traceback" not in err, err
    assert last.startswith("error: out of memory (") and said in last and "a smaller --batch" in last, err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bnech"], "bnech: no such command or file (did you mean bench?)"),  # "Missing argument 'OUT'"
        (["evl", "--dataset", "x"], "evl: no such command or file (did you mean eval?)"),  # "No such option"
        (["--verison"], "--verison: no such option (did you mean --version?)"),
    ],
)
def test_a_misspelled_command_is_said_as_one(capsys, args, said):
    """A first word that is no command went to enhance as its input: `bnech` was "Missing argument 'OUT'"."""
    assert run_cli(args, capsys)[::2] == (1, f"error: {said}\n")


def test_a_file_named_like_a_command_is_still_an_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evl").write_bytes(b"not a video")
    code, _, err = run_cli(["evl", "out.mp4"], capsys)
    assert code == 1 and "did you mean" not in err and err.startswith("error: evl")
