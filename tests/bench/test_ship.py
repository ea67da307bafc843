"""benchmarks.ship: the depth curves it writes into shipped weights, from benchmarks.degraded runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.ship import clip_curves


def degraded_run(path: Path, units: int, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"ran": {"units": units}, "rows": rows}))
    return path


def row(clip: str, crf: int, psnr: float, quantiser: float | None = None, scale: int = 2) -> dict:
    judged = {} if quantiser is None else {"quantiser": quantiser}
    return {"clip": clip, "scale": scale, "degrade": f"x264:crf={crf}:preset=medium", "psnr": psnr} | judged


def test_heavy_curves_take_the_clips_whose_quantiser_the_product_judges_heavy(tmp_path):
    # at CRF 28 one clip reads 36 (heavy from 33), the other 25; at CRF 35 a run without quantisers: by its CRF
    runs = [
        degraded_run(tmp_path / "u5.json", 5, [row("a", 28, 30.0, 36.0), row("b", 28, 40.0, 25.0), row("a", 35, 27.0)]),
        degraded_run(tmp_path / "u7.json", 7, [row("a", 28, 31.0, 36.0), row("b", 28, 41.0, 25.0), row("a", 35, 28.0)]),
    ]
    assert clip_curves(runs, "heavy") == {
        "x2 x264:crf=28": {"5": 30.0, "7": 31.0},  # clip b, read 25, runs the compressed set: not its curve
        "x2 x264:crf=35": {"5": 27.0, "7": 28.0},
    }


def test_light_curves_take_the_clips_whose_quantiser_the_product_judges_lightly_coded(tmp_path):
    # at CRF 18 one clip reads 20 (lightly coded to 25), the other 27 (compressed); at CRF 8 a run without
    # quantisers: by its CRF; at CRF 35 (heavy by its CRF) nothing
    rows = [row("a", 18, 38.0, 20.0), row("b", 18, 36.0, 27.0), row("a", 8, 42.0), row("a", 35, 30.0)]
    run = degraded_run(tmp_path / "u9.json", 9, rows)
    assert clip_curves([run], "light") == {"x2 x264:crf=18": {"9": 38.0}, "x2 x264:crf=8": {"9": 42.0}}
    assert clip_curves([run], "heavy") == {"x2 x264:crf=35": {"9": 30.0}}


def test_compressed_curves_take_every_clip_at_x2(tmp_path):
    rows = [row("a", 23, 30.0, 36.0), row("b", 23, 40.0, 25.0), row("a", 23, 1.0, scale=4)]
    run = degraded_run(tmp_path / "u9.json", 9, rows)
    assert clip_curves([run]) == {"x264:crf=23": {"9": pytest.approx(35.0)}}
