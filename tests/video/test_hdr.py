"""HDR10 input kept whole: HEVC in 10 bits with its colour tags and static metadata (issue #25 item 9)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from tests.cli_helpers import run_cli

MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
X265_HDR10 = (f"log-level=error:hdr10=1:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:"
              f"master-display={MASTER_DISPLAY}:max-cll=1000,400")  # fmt: skip
COLOUR = ("pix_fmt", "color_range", "color_space", "color_transfer", "color_primaries")


@pytest.fixture
def hdr10_clip(tmp_path: Path) -> Path:
    """Five 64x64 frames of x265 HDR10, as a grading tool writes them."""
    if "libx265" not in av.codecs_available or not shutil.which("ffmpeg"):
        pytest.skip("needs libx265 in PyAV and ffmpeg")
    path = tmp_path / "hdr10.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=0.2",
                    "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", X265_HDR10,
                    "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc", str(path)],
                   check=True)  # fmt: skip
    return path


def ffprobe(path: Path) -> tuple[dict, list[dict]]:
    """-> (the video stream, its first frame's side data but for the encoders' unregistered SEI blobs)."""
    shown = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams",
                                       "-show_frames", "-read_intervals", "%+#1", "-of", "json", str(path)],
                                      capture_output=True, text=True, check=True).stdout)  # fmt: skip
    side_data = [s for s in shown["frames"][0].get("side_data_list", []) if "SEI" not in s["side_data_type"]]
    return shown["streams"][0], side_data


def test_hdr10_comes_out_as_hevc_10_bit_with_its_tags_and_metadata(hdr10_clip, tmp_path, tiny_weights, capfd):
    """x265 writes to the stderr file descriptor itself (capfd, not capsys, hears it): the trial encoder opened
    without the colour tags printed "x265 [error]: Recommended Settings for HDR10-opt ..." on every HDR run."""
    dst = tmp_path / "out.mkv"
    code, _, err = run_cli([str(hdr10_clip), str(dst), "--weights", str(tiny_weights)], capfd)
    assert code == 0, err
    (before, before_side), (after, after_side) = ffprobe(hdr10_clip), ffprobe(dst)
    assert (after["codec_name"], after["profile"], after["width"]) == ("hevc", "Main 10", 128)
    assert [after[k] for k in COLOUR] == [before[k] for k in COLOUR]
    assert [after[k] for k in COLOUR][2:] == ["bt2020nc", "smpte2084", "bt2020"]
    assert after_side == before_side
    assert {s["side_data_type"] for s in after_side} == {"Mastering display metadata", "Content light level metadata"}
    assert "x265 [" not in err, err  # x265's banners are kept off the terminal


def test_an_explicit_codec_wins_and_says_what_hdr_loses(hdr10_clip, tmp_path, tiny_weights, capsys):
    dst = tmp_path / "out.mkv"
    code, _, err = run_cli([str(hdr10_clip), str(dst), "--codec", "libx264", "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    after, side_data = ffprobe(dst)
    assert (after["codec_name"], after["pix_fmt"], after["color_transfer"]) == ("h264", "yuv420p10le", "smpte2084")
    assert side_data == []
    assert "libx264 writes no HDR10 metadata (mastering display, light levels): libx265 does" in err.splitlines()


def test_hdr10_into_8_bits_says_its_metadata_is_lost_too(hdr10_clip, tmp_path, tiny_weights, capsys):
    """WebM's VP9 here is 8-bit: the banding was said, the mastering display and light levels lost unsaid."""
    code, _, err = run_cli([str(hdr10_clip), str(tmp_path / "out.webm"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    said = ("warning: libvpx-vp9 encodes this HDR input in 8 bits (yuv420p): expect banding, and writes no HDR10 "
            "metadata (mastering display, light levels) (libx265 keeps 10 bits and it)")  # fmt: skip
    assert said in err.splitlines() and ffprobe(tmp_path / "out.webm")[1] == []


def test_hdr_into_y4m_says_the_tags_are_lost_and_what_to_tell_the_reader(hdr10_clip, tmp_path, tiny_weights, capsys):
    """Y4M's header holds no transfer or primaries: the copy was read as SDR, washed out, and nothing said so."""
    dst = tmp_path / "out.y4m"
    code, _, err = run_cli([str(hdr10_clip), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert ffprobe(dst)[0].get("color_transfer", "unknown") == "unknown"  # what the warning is for
    said = ("warning: Y4M has no colour tags: this HDR video goes untagged; tell what reads it (ffmpeg: -color_trc "
            "smpte2084 -color_primaries bt2020 -colorspace bt2020nc)")  # fmt: skip
    assert said in err.splitlines(), err


def test_hevc_in_mp4_is_tagged_hvc1_as_apple_players_take_it(hdr10_clip, tmp_path, capsys):
    dst = tmp_path / "out.mp4"
    code, _, err = run_cli([str(hdr10_clip), str(dst), "--units", "1"], capsys)
    assert code == 0, err
    stream, _ = ffprobe(dst)
    assert (stream["codec_name"], stream["codec_tag_string"]) == ("hevc", "hvc1")  # FFmpeg's default is hev1
