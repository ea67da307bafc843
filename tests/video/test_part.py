"""--start and --duration: a part of the input, to try settings on before the whole (as ffmpeg -ss -t)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import av
import pytest
import typer

from stream.cli.video import time_span
from tests.cli_helpers import run_cli
from tests.media import make_clip, probe


def test_a_part_keeps_its_frames_their_spacing_and_the_sound_under_them(tmp_path, capsys):
    src, dst = make_clip(tmp_path / "in.mkv"), tmp_path / "part.mkv"  # frames at 0, 40, 80, 160, 200, 240, 330, ... ms
    code, _, err = run_cli([str(src), str(dst), "--units", "1", "--start", "0.2", "--duration", "0.2"], capsys)
    assert code == 0, err
    times = probe(dst)["pts_ms"]
    assert len(times) == 4 and [b - a for a, b in itertools.pairwise(times)] == [40, 90, 40]  # 200, 240, 330, 370
    assert times[0] < 25  # from the part's start (the sound's packet under it may start a little before)
    with av.open(str(dst)) as out:
        sound = list(out.decode(audio=0))
    assert sum(f.samples for f in sound) / sound[0].rate == pytest.approx(0.2, abs=0.05)


def test_a_part_past_the_end_is_one_line(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", audio=False)
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--units", "1", "--start", "30"], capsys)
    assert code == 1 and err == "error: in.mp4: no frame from 30 s on\n"
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--start", "1", "--chunk-seconds", "1"], capsys)
    assert code == 1 and err.count("\n") == 1 and "--start and --duration" in err


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("1.5", Fraction(3, 2)), ("1:30", 90), ("00:01:30.5", 90.5)])
def test_times_read_as_ffmpeg_writes_them(text, seconds):
    assert time_span(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1", "1:2:3:4", ""])
def test_a_time_that_is_none_is_refused(text):
    with pytest.raises(typer.BadParameter):
        time_span(text)
