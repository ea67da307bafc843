"""--start and --duration: a part of the input, to try settings on before the whole (as ffmpeg -ss -t)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
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


def test_a_subtitle_showing_at_the_start_shows_what_it_has_left(tmp_path, capsys):
    """A cue from 0 to 0.2 s, cut at 0.1: kept at -0.1 s, Matroska's muxer moved every stream 0.1 s later (the
    picture's start too); MP4's showed it whole from 0, and the later cue 0.1 s late."""
    src = make_clip(tmp_path / "in.mkv", audio=False, subtitles=True)  # cues 0-0.2, 0.3-0.5; frames 0, 40, 80, 160
    for suffix in (".mkv", ".mp4"):
        dst = tmp_path / f"part{suffix}"
        code, _, err = run_cli([str(src), str(dst), "--units", "1", "--start", "0.1", "--duration", "0.3"], capsys)
        assert code == 0, err
        with av.open(str(dst)) as out:  # (a packet's stream, read after its file is closed, crashes PyAV)
            packets = [
                (p.stream.type, p.pts * p.time_base, p.duration * p.time_base, p.size) for p in out.demux() if p.size
            ]
        first_frame = min(start for kind, start, _, size in packets if kind == "video")
        shown = [
            (float(start), float(length)) for kind, start, length, size in packets if kind == "subtitle" and size > 2
        ]  # MP4's empty samples (2 bytes) fill the gaps between cues
        assert first_frame == pytest.approx(0.06, abs=0.002)  # the frame at 160 ms, 0.1 s into the part
        assert shown == [pytest.approx((0.0, 0.1), abs=0.002), pytest.approx((0.2, 0.2), abs=0.002)], suffix


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_another_video_in_a_part_is_kept_from_its_first_keyframe(tmp_path, capsys):
    """A second video stream was copied from its first packet in the part, a P-frame: nothing of it decoded."""
    src, dst = tmp_path / "in.mkv", tmp_path / "part.mkv"
    second = ["-f", "lavfi", "-i", "testsrc2=s=32x24:r=10:d=3", "-c:v:1", "libx264", "-g:v:1", "15", "-bf:v:1", "0"]
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=10:d=3", *second, "-map", "0",
                    "-map", "1", "-c:v:0", "libx264", "-g:v:0", "5", str(src)], check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(dst), "--units", "1", "--start", "1", "--duration", "1"], capsys)
    assert code == 0, err
    with av.open(str(dst)) as out:
        kept = [(float(p.pts * p.time_base), p.is_keyframe) for p in out.demux(out.streams.video[1]) if p.size]
    with av.open(str(dst)) as out:
        shown = len(list(out.decode(out.streams.video[1])))
    assert kept[0] == (pytest.approx(0.5, abs=0.01), True) and len(kept) == shown == 5  # from 1.5 s, its keyframe


@pytest.mark.parametrize(("start", "duration"), [("0", "0.1"), ("0.1", "0.1"), ("0.2", None)])
def test_the_progress_bar_counts_the_frames_a_part_holds(tmp_path, start, duration):
    """0.1 s at 25 fps holds the frames at 0, 40 and 80 ms: rounded, the bar counted 2 of them ("3/2")."""
    from stream.video.source import VideoSource

    src = make_clip(tmp_path / "in.mp4", pts_ms=[40 * i for i in range(12)], audio=False)
    part = {"start": Fraction(start), "duration": Fraction(duration) if duration else None}
    with VideoSource(src, **part) as source:
        frames = sum(not isinstance(item, av.Packet) for item in source)
        assert source.info.frames == frames


def test_a_part_past_the_end_is_one_line(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", audio=False)
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--units", "1", "--start", "30"], capsys)
    assert code == 1 and err == "error: in.mp4: no frame from 30 s on\n"
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--start", "1", "--chunk-seconds", "1"], capsys)
    assert code == 1 and err.count("\n") == 1 and "--start and --duration" in err
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--duration", "00:00"], capsys)  # not the start's
    assert code == 2 and err.startswith("error: Invalid value for '--duration': 00:00 is no time: give more than 0")


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("1.5", Fraction(3, 2)), ("1:30", 90), ("00:01:30.5", 90.5)])
def test_times_read_as_ffmpeg_writes_them(text, seconds):
    assert time_span(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1", "1:2:3:4", ""])
def test_a_time_that_is_none_is_refused(text):
    with pytest.raises(typer.BadParameter):
        time_span(text)


def test_a_part_far_in_is_read_from_a_keyframe_before_it_and_decodes_as_the_whole_does(tmp_path):
    """Past PREROLL the input is sought: the part's frames are the whole decode's, bit for bit (x264's
    keyframes 2 s apart, so the seek lands on one before the part and decodes up to it)."""
    from stream.video.source import PREROLL, VideoSource

    src = make_clip(tmp_path / "long.mp4", pts_ms=[200 * i for i in range(70)], audio=False,
                    encoder={"x264-params": "keyint=10:min-keyint=10"})  # fmt: skip
    start = PREROLL + 2
    with VideoSource(src) as whole:
        tick = whole.info.time_base
        wanted = [(f.pts, f.y) for f in whole if not isinstance(f, av.Packet) and start <= f.pts * tick < start + 1]
    with VideoSource(src, start=Fraction(start), duration=Fraction(1)) as part:
        frames = [(f.pts, f.y) for f in part if not isinstance(f, av.Packet)]
    assert len(frames) == len(wanted) == 5
    assert [pts for pts, _ in frames] == [pts - start / tick for pts, _ in wanted]  # from the part's start
    assert all((a == b).all() for (_, a), (_, b) in zip(frames, wanted, strict=True))


def test_a_part_of_a_raw_stream_is_timed_by_its_frames(tmp_path, capsys):
    """A raw H.264 stream (a camera's, a conformance clip) carries no times: its frames are timed at the nominal
    rate, as ffmpeg times them, where every frame was kept whatever --start and --duration asked."""
    src = tmp_path / "in.264"
    with av.open(str(src), "w", format="h264") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            out.mux(video.encode(frame.reformat(format="yuv420p")))
        out.mux(video.encode(None))
    for args, first, frames in ((["--duration", "0.2"], 0, 5), (["--start", "0.4", "--duration", "0.12"], 10, 3)):
        code, _, err = run_cli([str(src), str(tmp_path / "part.mkv"), "--units", "1", "-y", *args], capsys)
        assert code == 0, err
        assert len(probe(tmp_path / "part.mkv")["pts_ms"]) == frames
        with av.open(str(tmp_path / "part.mkv")) as part:  # the part's first frame is the input's `first`
            luma = next(part.decode(video=0)).to_ndarray(format="gray").mean()
        assert abs(luma - 10 * first) < 4  # (grey levels, as the input frame was made)
