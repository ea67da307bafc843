"""A folder in, a folder out: each picture and video enhanced under its own name (issue #25 item 8)."""

from __future__ import annotations

import io
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from kernels.choice import ModelChoice
from stream.apps.api import FrameEnhancer
from stream.apps.folder import enhance_folder
from stream.video.enhance import EnhanceOptions
from stream.video.pipeline import RunStats
from tests.cli_helpers import run_cli
from tests.media import make_clip, probe


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two pictures, a video and a text file."""
    (tmp_path / "in").mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "in" / "a.png"), noise)
    cv2.imwrite(str(tmp_path / "in" / "b.jpg"), noise[::-1])
    make_clip(tmp_path / "in" / "c.mp4", width=32, height=32, pts_ms=[0, 40])
    (tmp_path / "in" / "notes.txt").write_text("not media")
    return tmp_path / "in"


def run(capsys, src: Path, dst: Path, weights: Path, *args: str) -> tuple[int, str]:
    code, _, err = run_cli([str(src), str(dst), "--weights", str(weights), "--precision", "fp32", *args], capsys)
    return code, err


def test_each_picture_and_video_comes_out_under_its_name(tmp_path, folder, tiny_weights, capsys):
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg", "c.mp4"]
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    png = cv2.imread(str(tmp_path / "out" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(png, api(cv2.imread(str(folder / "a.png")), order="bgr"))  # as one picture's run makes it
    assert cv2.imread(str(tmp_path / "out" / "b.jpg")).shape == (16, 24, 3)
    video = probe(tmp_path / "out" / "c.mp4")
    assert video["streams"] == ["video", "audio"] and video["size"] == (64, 64) and video["frames"] == 2
    lines = err.splitlines()  # stderr is not a terminal here: a plain line per file
    assert "notes.txt: skipped, neither a picture nor a video" in lines
    assert [line.split(" -> ")[0] for line in lines if line.startswith("[")] == ["[1/3] a.png", "[2/3] b.jpg",
                                                                                 "[3/3] c.mp4"]  # fmt: skip
    assert lines[-1] == f"wrote 3 of 3 files to {tmp_path / 'out'}"


def test_a_failing_file_is_one_line_the_others_run_and_the_status_says_so(tmp_path, folder, tiny_weights, capsys):
    (folder / "bad.png").write_bytes(b"not a picture")
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("[!.]*")) == ["a.png", "b.jpg", "c.mp4"]  # none half-made
    assert [line for line in err.splitlines() if "bad.png" in line] == [
        f"[3/4] bad.png: failed ({folder / 'bad.png'}: not a readable 8- or 16-bit image)"
    ]
    assert err.endswith("error: 1 of 4 files failed (each said above); --resume runs them again, keeping the others\n")


def test_the_api_names_the_files_that_failed(tmp_path, folder, tiny_weights):
    """A folder's run from Python raised "1 of 4 files failed (each said above)": above was stderr, and the caller
    had no way to tell which file to look at or run again."""
    from stream import EnhanceOptions, FilesFailed, ModelChoice, UserError, enhance

    (folder / "bad.png").write_bytes(b"not a picture")
    options = EnhanceOptions(model=ModelChoice(weights=str(tiny_weights), precision="fp32"))
    with pytest.raises(FilesFailed) as failed:
        enhance(folder, tmp_path / "out", options)
    assert isinstance(failed.value, UserError) and str(failed.value).startswith("1 of 4 files failed")
    assert failed.value.failed == {folder / "bad.png": f"{folder / 'bad.png'}: not a readable 8- or 16-bit image"}
    again = pickle.loads(pickle.dumps(failed.value))  # from a worker process: it broke the pool (a TypeError)
    assert (str(again), again.failed) == (str(failed.value), failed.value.failed)


def test_a_file_that_cannot_be_read_fails_alone(tmp_path, folder, tiny_weights, capsys, monkeypatch):
    """A .png, .webp or HEIF file is opened as the folder is listed (an animation is a video): one unreadable
    stopped the whole batch before any file ran ("error: in/a.png: Permission denied")."""
    from stream import files

    opened = files.png_animation

    def refused(path: str | Path) -> tuple[int, int] | None:  # as root, chmod 000 keeps nothing out
        if Path(path).name == "a.png":
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path)

    monkeypatch.setattr(files, "png_animation", refused)
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg", "c.mp4"]


def test_a_failing_video_is_said_in_its_line_alone(tmp_path, folder, tiny_weights):
    """After a video had run, libav's own log reached the terminal through logging's last resort: a bare
    "moov atom not found" above the empty file's line, --quiet or not (a process of its own: pytest's
    log capture is a handler, which keeps the last resort from speaking)."""
    (folder / "d.mp4").write_bytes(b"")
    args = [str(folder), str(tmp_path / "out"), "--weights", str(tiny_weights), "--quiet"]
    run = subprocess.run([sys.executable, "-m", "stream", *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and run.stderr.splitlines() == [
        f"[4/4] d.mp4: failed ({folder / 'd.mp4'}: not a readable media file (Invalid data found when processing "
        "input))",
        "error: 1 of 4 files failed (each said above); --resume runs them again, keeping the others",
    ]


def test_a_stop_signal_says_what_the_batch_left(tmp_path, folder, tiny_weights, capsys, monkeypatch):
    """A video stopped mid-way is kept cut short, playable, as one file's run keeps it: it was left as if finished
    with "interrupted (SIGINT)" alone, and the next run refused it as existing."""
    monkeypatch.setattr("stream.apps.folder.enhance_file", lambda *_: RunStats(frames=1, signal=signal.SIGINT))
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    kept = tmp_path / "out" / "c.mp4"
    assert (
        code == 130
        and err.splitlines()[-1]
        == f"interrupted (SIGINT): 2 of 3 files done; kept {kept} cut short (1 frame); the same command with --resume "
        "goes on"
    )


def test_a_batch_that_stopped_goes_on_with_resume_keeping_what_it_finished(
    tmp_path, folder, tiny_weights, capsys, monkeypatch
):
    """A stop in a batch of hours left a choice of refusing every output made, or making them all again with -y."""
    out = tmp_path / "out"

    def cut_short(_source, target, *_args):
        target.write_bytes(b"a video cut short")  # as a stop leaves it: kept, playable, under its name
        return RunStats(frames=1, signal=signal.SIGTERM)

    with monkeypatch.context() as patched:
        patched.setattr("stream.apps.folder.enhance_file", cut_short)
        assert run(capsys, folder, out, tiny_weights)[0] == 128 + signal.SIGTERM
    finished = {name: (out / name).stat().st_mtime_ns for name in ("a.png", "b.jpg")}
    code, err = run(capsys, folder, out, tiny_weights)
    assert code == 1 and err.endswith("pass -y to replace them, or --resume to go on with the run that stopped\n"), err
    code, err = run(capsys, folder, out, tiny_weights, "--resume", "--scale", "3")
    assert code == 1 and "its run was made with other options (scale)" in err, err
    code, err = run(capsys, folder, out, tiny_weights, "--resume", "--units", "1", "--tile", "64")
    assert code == 1 and "its run was made with other options (tile, units)" in err, err  # (said as "model")
    code, err = run(capsys, folder, out, tiny_weights, "--resume")
    assert code == 0, err
    assert "3 files (2 files done before, kept)" in err.splitlines()[1]
    assert [line for line in err.splitlines() if line.startswith("[")] == [f"[3/3] c.mp4 -> {out / 'c.mp4'}"]
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished  # not made again
    assert probe(out / "c.mp4")["frames"] == 2 and sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.mp4"]


def test_a_resume_keeps_no_output_changed_since_the_run_made_it(tmp_path, folder, tiny_weights, capsys, monkeypatch):
    """The record knows an output by its size and time: one a person has put there since is theirs, kept from
    being replaced without -y as any existing output is."""
    out = tmp_path / "out"
    monkeypatch.setattr("stream.apps.folder.enhance_file", lambda *_: RunStats(frames=0, signal=signal.SIGINT))
    assert run(capsys, folder, out, tiny_weights)[0] == 130
    (out / "b.jpg").write_bytes(b"a person's own picture")
    code, err = run(capsys, folder, out, tiny_weights, "--resume")
    assert code == 1 and err.startswith(f"error: {out / 'b.jpg'}: exists; pass -y to replace it"), err
    assert (out / "b.jpg").read_bytes() == b"a person's own picture"


def test_existing_outputs_are_refused_before_any_work_unless_overwrite(tmp_path, folder, tiny_weights, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.jpg").write_bytes(b"keep me")
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    assert code == 1 and err == f"error: {tmp_path / 'out' / 'b.jpg'}: exists; pass -y to replace it\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.jpg"]
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights, "-y")
    assert code == 0 and cv2.imread(str(tmp_path / "out" / "b.jpg")).shape == (16, 24, 3)


def test_an_output_that_is_a_folder_is_refused_without_offering_y(tmp_path, folder, tiny_weights, capsys):
    """It said "exists; pass -y to replace it", and -y then failed the file as a folder."""
    (tmp_path / "out" / "b.jpg").mkdir(parents=True)
    for more in ([], ["-y"]):
        code, err = run(capsys, folder, tmp_path / "out", tiny_weights, *more)
        assert code == 1 and err == f"error: {tmp_path / 'out' / 'b.jpg'}: is a folder\n"


def test_a_link_to_nothing_fails_in_its_line(tmp_path, folder, tiny_weights, capsys):
    """It was passed over without a word, as a hidden file is."""
    (folder / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    code, err = run(capsys, folder, tmp_path / "out", tiny_weights)
    assert code == 1 and f"[4/4] gone.mp4: failed ({folder / 'gone.mp4'}: no such file)" in err.splitlines(), err


@pytest.mark.parametrize(
    "dst, extra, message",
    [("in", [], "in: is the input folder; the outputs would replace the inputs"),
     ("out", ["--log", "log.csv"], "in: a folder in takes no --log (they are for one file)"),
     ("out", ["--chunk-seconds", "1"], "in: a folder in takes no --chunk-seconds (they are for one file)"),
     ("in/notes.txt", [], "notes.txt: not a folder (a folder in is written to a folder)"),
     ("-", [], "in: a folder in is written to a folder, not to stdout")],
)  # fmt: skip
def test_what_a_folder_cannot_do_is_one_line(tmp_path, folder, tiny_weights, capsys, dst, extra, message):
    code, err = run(capsys, folder, Path(dst) if dst == "-" else tmp_path / dst, tiny_weights, *extra)
    assert code == 1 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_on_a_terminal_one_bar_counts_the_files(tmp_path, folder, tiny_weights):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, color_system=None, width=100)
    options = EnhanceOptions(model=ModelChoice(tiny_weights, precision="fp32"))
    enhance_folder(folder, tmp_path / "out", options, False, console)
    said = screen.getvalue()
    assert "3/3 files" in said and "[1/3]" not in said  # the bar, not a line per file
