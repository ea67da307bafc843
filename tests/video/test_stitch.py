"""MPEG-TS recordings joined by `cat`: their timestamps jump, and are stitched as ffmpeg stitches them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from tests.cli_helpers import run_cli

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")


def joined(folder: Path, offset: str) -> Path:
    """Two one-second recordings (10 frames, AAC), the second's clock at `offset` s, joined as `cat` joins them."""
    parts = []
    for i, at in enumerate(["0", offset]):
        part = folder / f"part{i}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=10:d=1", "-f", "lavfi",
                        "-i", "sine=d=1", "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset", at, str(part)],
                       check=True)  # fmt: skip
        parts.append(part.read_bytes())
    (both := folder / "joined.ts").write_bytes(b"".join(parts))
    return both


def times(path: Path, kind: str) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return [float(p.pts * p.time_base) for p in container.demux(stream) if p.size]


@pytest.mark.parametrize("offset", ["0", "100"])  # the second part's clock starts again, or 100 s on
def test_joined_recordings_play_on_as_ffmpeg_stitches_them(tmp_path, tiny_weights, capsys, offset):
    """The second part's frames were squeezed into the first's last instant (its sound too), or came after a 100 s
    freeze; ffmpeg's copy plays the second part on where the first ends."""
    src, ours, theirs = joined(tmp_path, offset), tmp_path / "ours.mkv", tmp_path / "ffmpeg.mkv"
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(theirs)], check=True)
    video = sorted(times(ours, "video"))
    assert len(video) == 20 and np.allclose(np.diff(video), 0.1, atol=0.002)
    assert times(ours, "audio") == times(theirs, "audio")


def test_a_chunked_run_refuses_timestamps_that_jump_in_one_line(tmp_path, tiny_weights, capsys):
    """It cut chunks by times the file holds twice."""
    src = joined(tmp_path, "0")
    args = [str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights), "--chunk-seconds", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and err.count("\n") == 1 and "its timestamps jump (recordings joined?)" in err, err
