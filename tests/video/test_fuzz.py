"""Damaged files of every kind, made by a seeded mutator: each run ends in time with a result or
one line, never a traceback or a hang, and what it writes plays."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.media import make_clip

CONTAINERS = (".mp4", ".mkv", ".ts")
MUTATIONS = ("flip", "flip", "truncate", "duplicate", "drop", "flip+truncate", "drop+duplicate", "flip")


def mutate(data: bytes, how: str, rng: random.Random) -> bytes:
    """Bit flips, a cut, a byte range repeated elsewhere or removed: what storage and networks do."""
    out = bytearray(data)
    for step in how.split("+"):
        n = len(out)
        start, length = rng.randrange(n // 8, n), rng.randrange(16, max(17, n // 10))
        if step == "flip":
            for i in rng.sample(range(n), k=max(1, n // 200)):
                out[i] ^= 1 << rng.randrange(8)
        elif step == "truncate":
            del out[rng.randrange(n // 4, n) :]
        elif step == "duplicate":
            out[start:start] = out[rng.randrange(n // 8, n) :][:length]
        elif step == "drop":
            del out[start : start + length]
    return bytes(out)


def plays(path: Path) -> int:
    """Decodes every frame of the first video stream; -> how many."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        s: make_clip(folder / f"clip{s}", width=32, height=24, pts_ms=[40 * i for i in range(16)]) for s in CONTAINERS
    }
    return {s: path.read_bytes() for s, path in made.items()}


@pytest.mark.parametrize("suffix", CONTAINERS)
@pytest.mark.parametrize("case", range(len(MUTATIONS)))
def test_damaged_files_end_cleanly(tmp_path, tiny_weights, clips, suffix, case):
    rng = random.Random(f"{suffix}{case}")
    src, dst = tmp_path / f"damaged{suffix}", tmp_path / "out.mkv"
    src.write_bytes(mutate(clips[suffix], MUTATIONS[case], rng))
    run = subprocess.run(
        [sys.executable, "-m", "stream", str(src), str(dst), "--weights", str(tiny_weights), "--quiet"],
        capture_output=True, text=True, timeout=180,  # a hang fails the test here
    )  # fmt: skip
    lines = run.stderr.strip().splitlines()
    assert "Traceback" not in run.stderr and len(lines) <= 1, run.stderr
    if run.returncode == 0:
        assert all(line.startswith("warning: ") for line in lines)
        assert plays(dst) >= 1
    else:
        assert run.returncode == 1 and lines and lines[0].startswith("error: "), run.stderr
        assert not dst.exists() or plays(dst) >= 1  # --strict is not set: a file is either whole or absent
