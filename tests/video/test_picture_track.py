"""Cover art written as a track without its flag is not taken for the film (issue #25 item 12)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest
from av.stream import Disposition

from tests.cli_helpers import run_cli
from tests.media import probe

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")


def picture_then_film(tmp_path: Path) -> Path:
    """A Matroska file whose first video track is one 32x32 PNG (no attached_pic), then 10 frames of film."""
    png, path = tmp_path / "cover.png", tmp_path / "in.mkv"
    ffmpeg = ["ffmpeg", "-v", "error", "-f", "lavfi"]
    subprocess.run([*ffmpeg, "-i", "testsrc2=size=32x32:rate=1", "-frames:v", "1", str(png)], check=True)
    subprocess.run([*ffmpeg[:3], "-i", str(png), *ffmpeg[3:], "-i", "testsrc2=size=64x48:rate=25:duration=0.4",
                    "-map", "0", "-map", "1", "-c:v:0", "png", "-c:v:1", "libx264", str(path)], check=True)  # fmt: skip
    return path


def pictures(path: Path) -> list[bytes]:
    """The PNG pictures a file holds as video streams (Matroska's attachments read back as attached pictures)."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams.video if s.codec_context.name == "png"]
        return [bytes(p) for p in c.demux(*streams) if p.size] if streams else []


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_the_film_is_enhanced_and_the_picture_kept_as_it_is(tmp_path, tiny_weights, capsys, suffix):
    src, dst = picture_then_film(tmp_path), tmp_path / f"out{suffix}"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert err.splitlines()[0].startswith("in.mkv: video stream 1 (h264), 64x48 yuv420p -> 128x96 yuv420p;")
    after = probe(dst)
    assert (after["codecs"][0], after["size"], after["frames"]) == ("h264", (128, 96), 10)  # the film, at 2x
    assert pictures(dst) == pictures(src) and len(pictures(src)) == 1  # the PNG's bytes, untouched
    with av.open(str(dst)) as out:
        [picture] = [s for s in out.streams.video if s.codec_context.name == "png"]
        assert picture.disposition & Disposition.attached_pic  # and now marked as the cover it is
    assert "left out" not in err


def test_stream_still_chooses_the_picture(tmp_path, tiny_weights, capsys):
    src, dst = picture_then_film(tmp_path), tmp_path / "out.mkv"
    code, _, err = run_cli([str(src), str(dst), "--stream", "0", "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert err.splitlines()[0].startswith("in.mkv: video stream 0 (png), 32x32")
    assert (probe(dst)["size"], probe(dst)["frames"]) == ((64, 64), 1)
