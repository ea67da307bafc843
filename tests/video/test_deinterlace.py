"""Interlaced input: deinterlaced by bwdif before it is enhanced, a frame for each frame or field, timestamps kept."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.errors import UserError
from stream.video.deinterlace import Deinterlace
from stream.video.source import VideoSource
from tests.cli_helpers import run_cli
from tests.media import make_clip, probe

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 frames of 64x48, top field first, each field from its own moment of a moving picture (as a camcorder's;
    the noise changes from field to field everywhere, so no line of the other field survives bwdif as it was)."""
    path = tmp_path_factory.mktemp("interlaced") / "tff.mp4"
    fields = "noise=alls=40:allf=t,tinterlace=interleave_top,setfield=tff"  # 50 pictures a second, 25 frames
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=50", "-vf", fields,
                    "-frames:v", "6", "-flags", "+ildct+ilme", "-c:v", "libx264", "-x264-params", "tff=1", "-crf", "10",
                    str(path)], check=True)  # fmt: skip
    return path


def decoded(path: Path, deinterlace: Deinterlace) -> tuple[str, list[tuple[int, np.ndarray]]]:
    with VideoSource(path, deinterlace=deinterlace) as source:
        frames = [(item.pts, item.y) for item in source if not isinstance(item, av.Packet)]
        return source.scan, frames


def test_interlaced_frames_keep_their_top_field_and_get_the_other_interpolated(interlaced: Path) -> None:
    said, combed = decoded(interlaced, "off")
    scan, woven = decoded(interlaced, "auto")
    assert said == " interlaced (top field first), left so (--deinterlace off)"
    assert scan == " interlaced (top field first), deinterlaced by bwdif"
    assert [pts for pts, _ in woven] == [pts for pts, _ in combed]  # a frame for each frame, at its time
    assert len(woven) == 6
    for (_, progressive), (_, as_decoded) in zip(woven, combed, strict=True):
        assert np.array_equal(progressive[0::2], as_decoded[0::2])  # the top field, the first shown, as it was
        assert not np.array_equal(progressive[1::2], as_decoded[1::2])  # the bottom field's lines rebuilt


def test_progressive_input_is_left_alone_unless_asked(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "progressive.mkv", pts_ms=[i * 40 for i in range(6)], audio=False)
    scan, auto = decoded(clip, "auto")
    _, off = decoded(clip, "off")
    assert scan == ""
    assert all(np.array_equal(a, o) for (_, a), (_, o) in zip(auto, off, strict=True))  # bit-exact: no filter ran
    scan, forced = decoded(clip, "on")
    assert scan == " flagged progressive, deinterlaced by bwdif"
    assert [pts for pts, _ in forced] == [pts for pts, _ in off]
    assert not all(np.array_equal(f, o) for (_, f), (_, o) in zip(forced, off, strict=True))


def test_frames_flagged_interlaced_after_a_progressive_start_are_deinterlaced(interlaced: Path, tmp_path: Path,
                                                                               capsys) -> None:  # fmt: skip
    """A broadcast's programme after a progressive advert: only the first frame's flag decided, and the interlaced
    frames after it went through combed. Now each frame by its flag, as ffmpeg's bwdif=deint=interlaced takes it."""
    progressive, joined = tmp_path / "progressive.h264", tmp_path / "joined.h264"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "4",
                    "-c:v", "libx264", str(progressive)], check=True)  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(interlaced), "-c", "copy", "-bsf:v", "h264_mp4toannexb",
                    str(tmp_path / "interlaced.h264")], check=True)  # fmt: skip
    joined.write_bytes(progressive.read_bytes() + (tmp_path / "interlaced.h264").read_bytes())
    scan, auto = decoded(joined, "auto")
    _, off = decoded(joined, "off")
    assert scan == " interlaced from frame 4 on, deinterlaced by bwdif" and len(auto) == len(off) == 10
    same = [np.array_equal(a, o) for (_, a), (_, o) in zip(auto, off, strict=True)]
    assert same == [True] * 4 + [False] * 6
    code, _, err = run_cli([str(joined), str(tmp_path / "out.mkv"), "--units", "1"], capsys)
    assert code == 0 and "frames flagged interlaced from frame 4 on: deinterlaced by bwdif\n" in err, err


def test_enhance_deinterlaces_and_writes_every_frame_progressive(interlaced: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mkv"
    code, _, err = run_cli([str(interlaced), str(out), "--units", "1"], capsys)
    assert code == 0, err
    assert "64x48 yuv420p interlaced (top field first), deinterlaced by bwdif -> 128x96" in err
    written, source = probe(out), probe(interlaced)
    assert written["frames"] == source["frames"] == 6
    assert written["pts_ms"] == source["pts_ms"]
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.field_order in (0, 1)  # unknown or progressive


def test_a_frame_per_field_doubles_the_frames_and_the_rate(interlaced: Path, tmp_path: Path, capsys) -> None:
    with VideoSource(interlaced, deinterlace="off") as source:
        frame_times = [item.pts * source.info.time_base for item in source if not isinstance(item, av.Packet)]
        rate = source.info.rate
    with VideoSource(interlaced, deinterlace="field") as source:
        assert source.scan == " interlaced (top field first), deinterlaced by bwdif, a frame per field"
        assert source.info.rate == 2 * rate and source.info.frames in (None, 12)
        field_times = [item.pts * source.info.time_base for item in source if not isinstance(item, av.Packet)]
    assert field_times[0::2] == frame_times  # the top field at its frame's time
    assert field_times[1::2] == [t + 1 / (2 * rate) for t in frame_times]  # the bottom half a period later
    out = tmp_path / "out.mkv"
    code, _, err = run_cli([str(interlaced), str(out), "--units", "1", "--deinterlace", "field"], capsys)
    assert code == 0, err
    assert probe(out)["frames"] == 12
    code, _, err = run_cli([str(interlaced), str(tmp_path / "chunked.mkv"), "--deinterlace", "field",
                            "--chunk-seconds", "1"], capsys)  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "--deinterlace field" in err


def test_a_chunk_is_deinterlaced_as_the_whole_run_is(tmp_path: Path) -> None:
    """A chunk starts at a keyframe; bwdif also reads the frame before it, so the chunk is decoded from
    the keyframe before that: its first frame comes out as in a whole run (not from its own fields alone)."""
    path = tmp_path / "gops.mp4"
    fields = "noise=alls=40:allf=t,tinterlace=interleave_top,setfield=tff"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=50", "-vf", fields,
                    "-frames:v", "6", "-flags", "+ildct+ilme", "-c:v", "libx264", "-x264-params", "tff=1:keyint=2",
                    "-bf", "0", "-crf", "10", str(path)], check=True)  # fmt: skip
    _, whole = decoded(path, "auto")
    chunk_start = whole[2][0]  # the second GOP's keyframe
    with VideoSource(path, deinterlace="auto") as source:
        source.restart_at(chunk_start)
        first = next(f for f in source if not isinstance(f, av.Packet) and f.pts >= chunk_start)
    assert first.pts == chunk_start and np.array_equal(first.y, whole[2][1])


def container_interlaced(path: Path, codec: str, field_order: str = "tt", size: str = "64x48") -> Path:
    """Frames woven from fields (top first) in a codec whose frames say nothing of it, or progressive ones that
    do, in a container whose field order says interlaced: a tape's capture in Ut Video, a file tagged wrongly."""
    weave = ["-vf", "noise=alls=40:allf=t,tinterlace=interleave_top"] if codec != "libx264" else []
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=50", *weave,
                    "-frames:v", "4", "-c:v", codec, "-pix_fmt", "yuv420p", "-field_order", field_order, str(path)],
                   check=True)  # fmt: skip
    return path


def test_the_containers_word_is_taken_where_the_codec_flags_no_frame(tmp_path: Path) -> None:
    """A Ut Video capture in Matroska, interlaced by its field order alone, was said "deinterlaced by bwdif" and
    left combed: bwdif took its unflagged frames for progressive. A progressive H.264 tagged interlaced is left so,
    as its frames say, and said."""
    captured = container_interlaced(tmp_path / "capture.mkv", "utvideo")
    scan, auto = decoded(captured, "auto")
    assert scan == " interlaced (top field first) by its container, not by its frames, deinterlaced by bwdif"
    _, off = decoded(captured, "off")
    assert all(not np.array_equal(a, o) for (_, a), (_, o) in zip(auto, off, strict=True))
    assert [a.tolist() for _, a in auto] == [o.tolist() for _, o in decoded(captured, "on")[1]]
    tagged = container_interlaced(tmp_path / "tagged.mkv", "libx264")
    scan, auto = decoded(tagged, "auto")
    assert scan == " interlaced (top field first) by its container, not by its frames: left so (--deinterlace on " \
                   "deinterlaces it)"  # fmt: skip
    assert all(np.array_equal(a, o) for (_, a), (_, o) in zip(auto, decoded(tagged, "off")[1], strict=True))


def test_a_picture_too_small_for_bwdif_is_left_so_or_refused_in_a_line(tmp_path: Path) -> None:
    """bwdif takes no plane under 4 lines: a 16x6 interlaced clip failed by default as "unexpected ArgumentError"."""
    small = container_interlaced(tmp_path / "small.mkv", "utvideo", size="16x6")
    scan, frames = decoded(small, "auto")
    assert scan == " interlaced (top field first), too small for bwdif: left so" and len(frames) == 4
    with pytest.raises(UserError, match=r"small\.mkv: 16x6 yuv420p is too small for bwdif to deinterlace"):
        decoded(small, "on")


def test_a_lone_frames_two_fields_are_half_a_period_apart(interlaced: Path, tmp_path: Path, capsys) -> None:
    """bwdif gave both fields of a one-frame clip its time: the second was moved a tick on, the file lasting none.
    Into one picture, a frame per field was refused only once the model had run ("encoding failed")."""
    one = tmp_path / "one.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(interlaced), "-frames:v", "1", "-c", "copy", str(one)],
                   check=True)  # fmt: skip
    with VideoSource(one, deinterlace="field") as source:
        times = [item.pts * source.info.time_base for item in source if not isinstance(item, av.Packet)]
    assert len(times) == 2 and times[1] - times[0] == Fraction(1, 50)
    code, _, err = run_cli([str(one), str(tmp_path / "one.png"), "--units", "1", "--deinterlace", "field"], capsys)
    assert code == 1 and "--deinterlace field makes two frames of each: number the pictures" in err, err
