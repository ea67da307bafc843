"""A GIF judged by its palette (stream.gif): its own colours, an ordered dither, or FFmpeg's fixed palette."""

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream import gif
from stream.content import judge, judge_source
from stream.gif import FAINT_ORDERED, ORDERED, gif_palette, on_fixed_palette, ordered_dither_peak, smooth_dither
from stream.video.frames import Frame, plane_view
from stream.video.palette import PALETTE_INPUT, Palettes, paletted
from stream.video.source import VideoSource

W, H = 160, 96


def picture(seed: int) -> np.ndarray:
    """RGB with detail at every scale, as a photograph has (blurred noise, summed over octaves)."""
    rng = np.random.default_rng(seed)
    layers = [cv2.GaussianBlur(rng.normal(0, 1, (H, W, 3)), (0, 0), s) * s for s in (1, 2, 4, 8, 16)]
    total = sum(layers)
    return np.clip(128 + 60 * total / total.std(), 0, 255).astype(np.uint8)


def on_palette(rgb: np.ndarray, dither: str) -> np.ndarray:
    """`rgb` mapped onto a palette of its own colours with paletteuse's `dither`, or ("fixed") onto swscale's."""
    if dither == "fixed":
        return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="rgb8").to_ndarray(format="rgb24")
    return paletted(rgb, dither)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("dither", "kind"),
    [("none", "own"), ("sierra2_4a", "own"), ("floyd_steinberg", "own"), ("bayer:bayer_scale=1", "ordered"),
     ("bayer", "ordered"), ("fixed", "fixed")],
)  # fmt: skip
def test_a_palette_is_told_by_its_colours_and_its_dither(seed, dither, kind):
    """Error diffusion reads about 1 here, Bayer at FFmpeg's default scale 25-31 (at scale 3 about 8, at 4 about 3:
    the thresholds' neighbourhood, left to the next test)."""
    assert gif_palette(on_palette(picture(seed), dither)) == kind


@pytest.mark.parametrize(
    ("peak", "kind"),
    [(0.0, "own"), (FAINT_ORDERED - 0.01, "own"), (FAINT_ORDERED, "faint ordered"), (ORDERED - 0.01, "faint ordered"),
     (ORDERED, "ordered"), (1e6, "ordered")],
)  # fmt: skip
def test_the_crosshatchs_strength_picks_between_faint_and_strong(monkeypatch, peak, kind):
    monkeypatch.setattr(gif, "ordered_dither_peak", lambda y: peak)
    assert gif_palette(picture(0)) == kind
    assert judge("gif", palette=kind)[0] == {"own": "light", "faint ordered": "compressed", "ordered": "heavy"}[kind]


def test_the_lossless_picture_has_no_crosshatch_and_is_on_no_fixed_palette():
    rgb = picture(0)
    assert ordered_dither_peak(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)) == pytest.approx(1, abs=0.5)  # no peak
    assert not on_fixed_palette(rgb) and on_fixed_palette(on_palette(rgb, "fixed"))
    assert on_fixed_palette(np.ascontiguousarray(on_palette(rgb, "fixed")[..., ::-1]))  # bgr8's order


def test_a_frame_smaller_than_the_pattern_reads_none():
    assert ordered_dither_peak(np.zeros((5, 40))) == 0.0


def write_gif(path: Path, dither: str, black: int = 0) -> Path:
    """A GIF of the picture on the `dither`'s palette, after `black` frames of black (a fade's opening)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("gif", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "pal8"
        pictures = [np.zeros((H, W, 3), np.uint8)] * black + [on_palette(picture(1), dither)]
        palettes = Palettes(W, H, Fraction(1, 10), "none")  # its colours are already on a palette: kept
        for i, rgb in enumerate([*pictures, None]):
            frame = None
            if rgb is not None:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=PALETTE_INPUT)
                frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in [p for mapped in palettes.push(frame) for p in video.encode(mapped)]:
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


@pytest.mark.parametrize(
    ("dither", "content", "evidence"),
    [("sierra2_4a", "light", "GIF, its own palette"), ("bayer", "heavy", "GIF, an ordered dither"),
     ("fixed", "heavy", "GIF, FFmpeg's fixed 3-3-2 palette, its dither smoothed")],
)  # fmt: skip
@pytest.mark.parametrize("black", [0, 3])
def test_a_gif_file_is_judged_by_the_opening_frames_that_show_something(tmp_path, dither, content, evidence, black):
    """A fade's black frames fit every palette, and black is on the fixed one's lattice: a GIF of its own colours
    opening on black was taken for FFmpeg's fixed palette (smoothed, and the heavy set ran). Every frame still
    comes out, those read ahead to judge it included."""
    with VideoSource(write_gif(tmp_path / "in.gif", dither, black)) as source:
        assert judge_source(source) == (content, evidence)
        assert sum(isinstance(item, Frame) for item in source) == black + 1


def test_most_of_the_telling_frames_decide(monkeypatch):
    said = iter(["faint ordered", "own", "own"])
    monkeypatch.setattr(gif, "gif_palette", lambda rgb: next(said))
    flat, detailed = np.zeros((H, W, 3), np.uint8), picture(0)
    assert gif.opening_palette([flat, detailed, flat, detailed, detailed]) == "own"
    assert gif.colours(flat) == 1 and gif.colours(detailed) >= gif.TELLING


@pytest.mark.parametrize("dither", ["fixed", "sierra2_4a"])
def test_only_a_gif_on_the_fixed_palette_has_its_dither_smoothed_before_restoring(tmp_path, dither):
    """The source smooths every plane of such a GIF (its dither is in each channel), and no other's."""
    path = write_gif(tmp_path / "in.gif", dither)
    with av.open(str(path)) as container:
        raw = next(container.decode(video=0)).reformat(format="yuv444p", dst_colorspace="itu601", dst_color_range=1)
        planes = [plane_view(plane, np.uint8).copy() for plane in raw.planes]
    with VideoSource(path) as source:
        frame = next(item for item in source if isinstance(item, Frame))
    smoothed = dither == "fixed"
    assert source.smooths_dither is smoothed
    for got, decoded in zip([frame.y, *frame.chroma], planes, strict=True):
        assert np.array_equal(got, smooth_dither(decoded) if smoothed else decoded)
        assert (got != decoded).any() == smoothed
