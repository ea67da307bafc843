"""stream.degrade: spec parsing, downscale kernels against their references, codec round trips."""

from __future__ import annotations

import shutil
import subprocess
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from kernels.resize import imresize
from stream.degrade import (
    DOWNSCALE_KERNELS,
    CodecRoundTrip,
    Degradation,
    downscale,
    parse_degradation,
    q_index,
    round_trip,
)
from stream.errors import UserError


def textured(h: int, w: int, t: int = 0, seed: int = 0) -> np.ndarray:
    """Smooth waves drifting with t (motion for inter coding to predict), plus fine noise."""
    yy, xx = np.mgrid[:h, :w]
    waves = 60 * np.sin((xx + 2 * t) / 3.0) * np.cos((yy + t) / 5.0)
    noise = np.random.default_rng(seed).normal(0, 8, (h, w))
    return np.clip(128 + waves + noise, 0, 255).astype(np.uint8)


def mean_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(x.astype(np.int16) - y).mean() for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("clean", "clean"),
        ("jpeg:q=40", "jpeg:q=40"),
        ("x264:crf=23", "x264:crf=23:preset=medium"),
        ("x265:crf=28", "x265:crf=28:preset=medium"),
        ("x264:crf=0:preset=veryfast", "x264:crf=0:preset=veryfast"),
        ("x265:intra:crf=51:preset=placebo", "x265:crf=51:preset=placebo:intra"),
        ("mpeg2:q=8", "mpeg2:q=8"),
        ("mpeg2:intra:q=31", "mpeg2:q=31:intra"),
        ("vp9:crf=40", "vp9:crf=40"),
        ("mpeg4:intra:q=2", "mpeg4:q=2:intra"),
        ("vp9:intra:crf=63", "vp9:crf=63:intra"),
        ("av1:crf=35", "av1:crf=35"),
        ("av1:intra:crf=1", "av1:crf=1:intra"),
        ("vp8:q=0", "vp8:q=0"),
        ("vp8:intra:q=63", "vp8:q=63:intra"),
    ],
)
def test_parse_round_trips_through_str(text: str, canonical: str) -> None:
    degradation = parse_degradation(text)
    assert str(degradation) == canonical
    assert parse_degradation(canonical) == degradation


def test_q_index_is_libvpx_and_svt_av1s_table() -> None:
    """quantizer_to_qindex: 4 a step, its last two 249 and 255; what a VP9 or AV1 spec asks where none was read."""
    assert [q_index(c) for c in (0, 1, 10, 61, 62, 63)] == [0, 4, 40, 244, 249, 255]
    assert parse_degradation("av1:crf=35").asked_quantiser == parse_degradation("vp9:crf=35").asked_quantiser == 140


def test_vp8s_quantiser_is_asked_on_its_q_index_scale() -> None:
    """libvpx's VP8 q_trans: its quantiser 0-63 (FFmpeg's qmin and qmax) to the q index (0-127) its headers say."""
    assert [parse_degradation(f"vp8:q={q}").asked_quantiser for q in (0, 10, 20, 40, 63)] == [0, 12, 25, 59, 127]


def test_parse_fields() -> None:
    assert parse_degradation("x264:crf=23:intra") == Degradation("x264", 23, "medium", intra=True)
    assert parse_degradation("jpeg:q=7") == Degradation("jpeg", 7, None)
    assert parse_degradation("mpeg2:q=4:intra") == Degradation("mpeg2", 4, None, intra=True)
    assert parse_degradation("vp9:crf=0") == Degradation("vp9", 0, None)
    assert parse_degradation("mpeg4:q=31") == Degradation("mpeg4", 31, None)
    assert parse_degradation("clean").clean


@pytest.mark.parametrize(
    "text",
    [
        "",
        "h264:crf=23",
        "x264",
        "x264:q=3",
        "x264:crf=52",
        "x265:crf=-1",
        "x264:crf=2.5",
        "x264:crf=23:crf=24",
        "x264:crf=23:preset=fastest",
        "x264:crf=23:intra=1",
        "jpeg:crf=30",
        "jpeg:q=0",
        "jpeg:q=101",
        "jpeg:q=40:intra",
        "mpeg2:q=0",
        "mpeg2:q=32",
        "mpeg2:crf=23",
        "mpeg2:q=8:preset=medium",
        "vp9:crf=64",
        "mpeg4:crf=20",
        "mpeg4:q=32",
        "vp9:q=40",
        "vp9:crf=40:preset=medium",
        "av1:crf=0",
        "av1:crf=64",
        "av1:q=40",
        "av1:crf=40:preset=8",
        "vp8:crf=30",
        "vp8:q=64",
        "clean:q=3",
    ],
)
def test_bad_spec_is_a_one_line_user_error(text: str) -> None:
    with pytest.raises(UserError) as error:
        parse_degradation(text)
    message = str(error.value)
    assert message.startswith(f"--degrade {text!r}: ")
    assert "\n" not in message


@pytest.mark.parametrize("kernel", DOWNSCALE_KERNELS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscale_shape(kernel: str, scale: int) -> None:
    lr = downscale(textured(48, 96), scale, kernel)
    assert lr.shape == (48 // scale, 96 // scale)
    assert lr.dtype == np.uint8


def test_matlab_downscale_is_imresize_rounded() -> None:
    hr = textured(60, 90)[:, 1:-5]  # a view, not contiguous
    expected = imresize(torch.from_numpy(np.ascontiguousarray(hr)).double() / 255, 1 / 3).numpy() * 255
    np.testing.assert_array_equal(downscale(hr, 3), np.clip(np.round(expected), 0, 255).astype(np.uint8))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")
@pytest.mark.parametrize("kernel", [k for k in DOWNSCALE_KERNELS if k != "matlab"])
@pytest.mark.parametrize("scale", [2, 3])
def test_swscale_kernels_match_the_ffmpeg_cli_exactly(tmp_path: Path, kernel: str, scale: int) -> None:
    hr = textured(60, 96)
    cv2.imwrite(str(tmp_path / "in.png"), hr)
    w, h = 96 // scale, 60 // scale
    command = ["ffmpeg", "-v", "error", "-i", "in.png", "-vf", f"scale={w}:{h}:flags={kernel}", "-pix_fmt", "gray"]
    subprocess.run([*command, "out.png"], cwd=tmp_path, check=True)
    expected = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(downscale(hr, scale, kernel), expected)


def test_kernels_differ_from_each_other() -> None:
    hr = textured(96, 96)
    outputs = {kernel: downscale(hr, 4, kernel) for kernel in DOWNSCALE_KERNELS}
    for a, b in combinations(DOWNSCALE_KERNELS, 2):
        assert not np.array_equal(outputs[a], outputs[b]), (a, b)


def test_downscale_rejects_sizes_not_a_multiple_of_the_scale() -> None:
    with pytest.raises(ValueError, match="mod-crop"):
        downscale(textured(50, 48), 4)


def test_clean_is_bit_exact() -> None:
    frames = [textured(32, 48, t) for t in range(3)]
    for got, expected in zip(round_trip(frames, parse_degradation("clean")), frames, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("coarse", "fine"),
    [
        ("x264:crf=35", "x264:crf=0"),
        ("x265:crf=35", "x265:crf=5"),
        ("mpeg2:q=24", "mpeg2:q=1"),
        ("vp9:crf=55", "vp9:crf=5"),
        ("av1:crf=55", "av1:crf=5"),
        ("vp8:q=50", "vp8:q=5"),
        ("mpeg4:q=24", "mpeg4:q=1"),
        ("jpeg:q=20", "jpeg:q=100"),
    ],
)
def test_codecs_degrade_and_quality_controls_how_much(coarse: str, fine: str) -> None:
    frames = [textured(48, 64, t) for t in range(4)]
    far = mean_abs_diff(round_trip(frames, parse_degradation(coarse)), frames)
    near = mean_abs_diff(round_trip(frames, parse_degradation(fine)), frames)
    assert far > 1.0
    assert near < far / 4


@pytest.mark.parametrize(
    "spec",
    [
        "x264:crf=15", "x264:crf=15:intra", "x265:crf=15", "x265:crf=15:intra", "mpeg2:q=2", "vp9:crf=15",
        "av1:crf=15", "vp8:q=8", "jpeg:q=90",
    ],
)  # fmt: skip
def test_odd_sizes_and_frame_counts_are_kept(spec: str) -> None:
    frames = [textured(47, 33, t) for t in range(5)]
    out = round_trip(frames, parse_degradation(spec))
    assert [(y.shape, y.dtype) for y in out] == [((47, 33), np.uint8)] * 5
    assert mean_abs_diff(out, frames) < 4  # cropped back in place: a 1-pixel shift measures 9 or more


def test_lossless_x264_keeps_odd_sized_frames_exactly() -> None:
    frames = [textured(47, 33, t) for t in range(3)]
    for got, expected in zip(round_trip(frames, parse_degradation("x264:crf=0")), frames, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "inter", ["x264:crf=28", "x265:crf=28", "mpeg2:q=8", "mpeg4:q=8", "vp9:crf=40", "av1:crf=40", "vp8:q=30"]
)
def test_inter_coding_has_one_keyframe_and_intra_all(inter: str) -> None:
    for spec, keyframes in ((inter, 1), (f"{inter}:intra", 6)):  # MPEG-2: its GOP of 12 starts once in 6
        round_trip_ = CodecRoundTrip(parse_degradation(spec), 64, 48)
        for t in range(6):
            round_trip_.push(textured(48, 64, t))
        round_trip_.flush()
        assert round_trip_.keyframes == keyframes, spec


def test_round_trips_record_the_quantiser_the_product_judges_by() -> None:
    """One per decoded frame, on each codec's scale, coarser at a coarser setting: H.264's quantiser,
    MPEG-2's and MPEG-4's quantiser_scale (twice their q: the linear scale), VP9's q index (libvpx's CRF N
    aims at about 4 N), HEVC's quantiser from its slice headers, AV1's q index from its frame headers (SVT-AV1's
    CRF N also aims at 4 N; its key frames much finer), VP8's from its frame headers (q_trans of its fixed
    quantiser); JPEG records none (its quality judges it)."""
    frames = [textured(48, 64, t) for t in range(4)]
    medians = {}
    specs = ("x264:crf=18", "x264:crf=35", "x265:crf=18", "x265:crf=35", "mpeg2:q=3", "mpeg2:q=12", "mpeg4:q=5")
    for spec in (*specs, "vp9:crf=20", "vp9:crf=50", "av1:crf=20", "av1:crf=50", "vp8:q=20"):
        codec = CodecRoundTrip(parse_degradation(spec), 64, 48)
        for y in frames:
            codec.push(y)
        codec.flush()
        assert len(codec.quantisers) >= 3, spec
        medians[spec] = float(np.median(codec.quantisers))
    assert 10 < medians["x264:crf=18"] < medians["x264:crf=35"] - 8
    assert 10 < medians["x265:crf=18"] < medians["x265:crf=35"] - 8
    assert (medians["mpeg2:q=3"], medians["mpeg2:q=12"], medians["mpeg4:q=5"]) == (6, 24, 10)
    assert 40 < medians["vp9:crf=20"] <= 80 < 150 < medians["vp9:crf=50"] <= 200
    assert 0 < medians["av1:crf=20"] <= 80 < 150 < medians["av1:crf=50"] <= 200
    assert medians["vp8:q=20"] == 25
    codec = CodecRoundTrip(parse_degradation("jpeg:q=40"), 64, 48)
    _ = [codec.push(y) for y in frames], codec.flush()
    assert codec.quantisers == []


@pytest.mark.parametrize("spec", ["x264:crf=23:preset=veryfast", "x265:crf=23:preset=ultrafast"])
def test_streaming_returns_every_frame_in_order(spec: str) -> None:
    levels = [20 + 10 * i for i in range(20)]
    pattern = (np.indices((32, 48)).sum(axis=0) % 8 * 4).astype(np.uint8)  # 0..28, mean 14
    codec = CodecRoundTrip(parse_degradation(spec), 48, 32)
    early = [y for level in levels for y in codec.push(pattern + level)]
    out = early + codec.flush()
    assert 0 < len(early) < 20  # some frames came back before the end: it streams
    assert len(out) == 20
    np.testing.assert_allclose([y.mean() - 14 for y in out], levels, atol=3)


@pytest.mark.parametrize(
    "spec", ["x264:crf=28", "x265:crf=28", "x265:crf=28:intra", "vp9:crf=40", "av1:crf=40", "vp8:q=30"]
)
def test_encoders_write_nothing_to_stderr(spec: str, capfd: pytest.CaptureFixture[str]) -> None:
    round_trip([textured(32, 32, t) for t in range(3)], parse_degradation(spec))
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    "spec",
    ["x264:crf=26:preset=veryfast", "x264:crf=20:preset=medium", "x265:crf=26", "vp9:crf=30", "av1:crf=30", "vp8:q=20"],
)
def test_the_same_frames_code_the_same_whatever_was_coded_before(spec: str) -> None:
    """A coded training set is made again from its seed, and a degraded evaluation is a measurement:
    neither may depend on what the encoder's memory held before (x264's AVX-512 lookahead did)."""
    frames = [textured(224, 64, t, seed=t) for t in range(5)]
    first = round_trip(frames, parse_degradation(spec))
    rng = np.random.default_rng(1)
    for h, w in rng.integers(20, 150, (6, 2)) * 2:  # other sizes and contents in between
        round_trip([textured(int(h), int(w), t, seed=7) for t in range(5)], parse_degradation(spec))
        again = round_trip(frames, parse_degradation(spec))
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
