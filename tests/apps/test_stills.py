"""Pictures in, pictures out: one or a numbered sequence, 8 or 16 bits, grey, colour or with alpha."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kernels import host_memory
from kernels.choice import ModelChoice
from kernels.metrics import psnr, ssim
from kernels.resolve import onednn_int8_auto
from stream.apps.api import FrameEnhancer
from stream.chunked.run import Chunking
from stream.eval.images import luma, read_luma
from stream.files import is_numbered, sequence_gap
from stream.video.enhance import EnhanceOptions
from stream.video.sink import EncodeOptions
from tests.cli_helpers import file_size_limit, run_cli
from tests.media import make_clip, probe


def enhance(capsys, src: Path, dst: Path, weights: Path, *args: str) -> str:
    code, _, err = run_cli([str(src), str(dst), "--weights", str(weights), "--precision", "fp32", *args], capsys)
    assert code == 0, err
    return err


def test_a_picture_comes_out_as_the_frame_api_makes_it(tmp_path, photo, tiny_weights, capsys):
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    err = enhance(capsys, tmp_path / "photo.png", tmp_path / "photo_x2.png", tiny_weights)
    out = cv2.imread(str(tmp_path / "photo_x2.png"), cv2.IMREAD_UNCHANGED)
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    assert np.array_equal(out, api(photo, order="bgr"))  # PNG is lossless: exactly the API's result
    assert "MATLAB rgb2ycbcr (BT.601, studio range)" in err and "wrote 1 picture" in err


def test_the_frame_api_refuses_what_is_no_picture(tiny_weights):
    """An empty array failed deep in the model as a ZeroDivisionError."""
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    for bad in (np.zeros((0, 8, 3), np.uint8), np.zeros((8, 0), np.uint8), np.zeros((8, 8), np.float32)):
        with pytest.raises(ValueError, match=r"expected (H x W or H x W x 3 uint8 or uint16|an image of at least one "
                           r"pixel), got \("):  # fmt: skip
            api(bad)


def test_the_frame_api_takes_big_endian_16_bit_and_numpys_integers(tiny_weights):
    """A 16-bit PGM's or FITS's pixels (">u2") were "expected ... uint16, got ... >u2"; np.int64(2) as a scale, a
    depth or a tile was "expected a whole number"."""
    api = FrameEnhancer(np.int64(2), ModelChoice(tiny_weights, units=np.int64(1), tile=np.int64(0), precision="fp32"))
    image = np.random.default_rng(0).integers(0, 65536, (8, 12, 3)).astype(np.uint16)
    np.testing.assert_array_equal(api(image.astype(">u2")), api(image))
    assert api.compare(image, units=np.int64(2)).output.shape == (16, 24, 3)
    assert type(EnhanceOptions(scale=np.int64(3), stream=np.uint8(0)).scale) is int  # as JSON and Ray write it


def test_the_frame_api_runs_int8_deeper_than_its_calibration_as_fp32():
    """compare(units=26) on the shipped weights, calibrated for int8 to 25 units (int8 being the CPU's default where
    it pays), raised "int8 calibrated for 25 units, asked for 26" from inside the model, as the live preview's +
    key did past it; the run's choice at that depth is fp32."""
    if not onednn_int8_auto():
        pytest.skip("this torch or CPU has no oneDNN int8 convolutions")
    int8 = FrameEnhancer(2, ModelChoice(units=1, precision="int8"))
    image = np.random.default_rng(0).integers(0, 256, (12, 12), np.uint8)
    fp32 = FrameEnhancer(2, ModelChoice(units=1, precision="fp32"))
    np.testing.assert_array_equal(int8.compare(image, units=26).output, fp32.compare(image, units=26).output)


def test_the_file_api_refuses_options_of_another_type(tmp_path):
    """A dict for options failed deep in: "'dict' object has no attribute 'fps'"."""
    from stream import enhance as enhance_api

    with pytest.raises(TypeError, match=r"^options=\{'scale': 2\}: expected EnhanceOptions\(...\), or None$"):
        enhance_api(tmp_path / "in.mp4", tmp_path / "out.mp4", {"scale": 2})  # type: ignore[arg-type]


def test_every_option_type_the_readme_uses_is_the_apis():
    """--codec, --crf and chunked runs had no public name: EncodeOptions and Chunking lay in stream.video.sink and
    stream.chunked.run."""
    import stream

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    names = re.search(r"from stream import (.*)", readme)[1].split(", ")  # type: ignore[index]
    assert {"Chunking", "EncodeOptions"} <= set(names) <= set(stream.__all__)
    assert (stream.Chunking, stream.EncodeOptions) == (Chunking, EncodeOptions)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda: ModelChoice(units=-1), "ModelChoice.units=-1: expected a whole number from 1, or None"),  # ran
        (lambda: ModelChoice(units=0), "ModelChoice.units=0: expected"),  # ran the default depth
        (lambda: ModelChoice(precision="fp64"), "ModelChoice.precision='fp64': expected one of auto, fp32"),  # KeyError
        (lambda: ModelChoice(content="bogus"), "ModelChoice.content='bogus': expected one of auto, clean"),  # KeyError
        (lambda: ModelChoice(batch=0), "ModelChoice.batch=0: expected"),  # range() arg 3 must not be zero
        (lambda: ModelChoice(tile=-5), "ModelChoice.tile=-5: expected"),  # said as "tiles -5"
        (lambda: ModelChoice(tile=3), "ModelChoice.tile=3: expected output pixels from 16"),  # 700x the work
        (lambda: ModelChoice(halo=-3), "ModelChoice.halo=-3: expected"),
        (lambda: EnhanceOptions(scale=7), r"EnhanceOptions.scale=7: expected 1 \(sharpens in place\) to 4"),  # x7 out
        (lambda: FrameEnhancer(scale=2.0), r"FrameEnhancer.scale=2.0: expected 1"),  # OpenCV's "Can't parse 'dsize'"
        (lambda: EnhanceOptions(deinterlace="yes"), "EnhanceOptions.deinterlace='yes': expected one of auto"),  # "off"
        (lambda: EnhanceOptions(start=-1), r"EnhanceOptions.start=-1: expected seconds from 0"),  # ran from 0
        (lambda: EnhanceOptions(start="0:01"), r"EnhanceOptions.start='0:01': expected seconds"),  # a bare TypeError
        (lambda: EnhanceOptions(duration=0), r"EnhanceOptions.duration=0: expected seconds above 0"),  # "no frame"
        (lambda: EnhanceOptions(queue_frames=0), r"EnhanceOptions.queue_frames=0: expected"),  # ran
        (lambda: EnhanceOptions(overwrite="no"), r"EnhanceOptions.overwrite='no': expected True or False"),  # replaced
        (lambda: EnhanceOptions(model={"units": 1}), r"EnhanceOptions.model=\{'units': 1\}: expected a ModelChoice"),
        (lambda: EnhanceOptions(log=3), r"EnhanceOptions.log=3: expected a path, or None"),  # an AttributeError
        (lambda: ModelChoice(weights=3), r"ModelChoice.weights=3: expected a path or a name"),  # 'endswith'
        (lambda: Chunking(seconds=1, workers=0), r"Chunking.workers=0: expected a whole number from 1"),  # ZeroDivision
        (lambda: Chunking(seconds=-1), r"Chunking.seconds=-1: expected seconds above 0"),  # ran
        (lambda: EncodeOptions(crf="18"), r"EncodeOptions.crf='18': expected a whole number"),  # a bare TypeError
    ],
)
def test_the_api_says_which_field_is_out_of_range(make, said):
    """The CLI's options check their ranges; the API took anything, ran some and failed deep in others."""
    with pytest.raises(ValueError, match=said):
        make()


def test_the_api_enhances_with_the_clis_defaults(tmp_path):
    """enhance(src, dst) without options was a TypeError: the CLI needs none. What the CLI says in a line is a
    UserError an API caller can import to catch (it could not)."""
    from stream import UserError
    from stream import enhance as enhance_api

    src = make_clip(tmp_path / "in.mp4", width=32, height=24, pts_ms=[0, 40], audio=False)
    enhance_api(src, tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4")["size"] == (64, 48)
    with pytest.raises(UserError, match=r"out\.mp4: exists"):
        enhance_api(src, tmp_path / "out.mp4")


@pytest.mark.parametrize(("stop", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)])
@pytest.mark.parametrize("folder", [False, True])
def test_a_stop_in_the_api_keeps_the_output_and_is_raised_as_python_raises_it(
    tmp_path, tiny_weights, monkeypatch, stop, raised, folder
):
    """One video's run returned its stats (a caller's loop over files went on to the next), a folder's raised this
    package's own Interrupted, which `except KeyboardInterrupt` misses."""
    from stream import enhance as enhance_api
    from stream.video.processor import LumaEnhancer

    restore = LumaEnhancer.__call__

    def stopped_at_once(self, *args, **kwargs):
        os.kill(os.getpid(), stop)  # as Ctrl-C or `kill` sends it, in the middle of the run
        return restore(self, *args, **kwargs)

    monkeypatch.setattr(LumaEnhancer, "__call__", stopped_at_once)
    (tmp_path / "in").mkdir()
    src = make_clip(tmp_path / "in" / "a.mp4", width=32, height=24, pts_ms=[40 * i for i in range(20)], audio=False)
    options = EnhanceOptions(model=ModelChoice(tiny_weights), queue_frames=1)
    with pytest.raises(raised) as caught:
        enhance_api(src.parent if folder else src, tmp_path / ("out" if folder else "out.mp4"), options)
    assert raised is KeyboardInterrupt or caught.value.code == 128 + stop
    kept = tmp_path / "out" / "a.mp4" if folder else tmp_path / "out.mp4"
    assert 0 < probe(kept)["frames"] < 20  # cut short, playable


def test_the_api_takes_times_and_paths_as_the_cli_gives_them(tmp_path):
    """log="x.csv" failed deep in as an AttributeError ('str' object has no attribute 'suffix')."""
    options = EnhanceOptions(log=str(tmp_path / "log.csv"), reference="ref.mp4", start=0.1, duration=2)
    assert (options.log, options.reference) == (tmp_path / "log.csv", Path("ref.mp4"))
    assert (options.start, options.duration) == (Fraction(1, 10), Fraction(2))  # exact, as --start 0.1 is


def test_the_api_refuses_an_empty_input_name(tmp_path, monkeypatch):
    """enhance("", "out.mp4") ran every file of the current folder into a folder named out.mp4."""
    from stream import UserError
    from stream import enhance as enhance_api

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"^the input's name is empty"):
        enhance_api("", "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_weights_that_cannot_run_are_user_errors_to_the_api(tmp_path, tiny_weights):
    """README: what the CLI says in one line is a stream.UserError; a missing or broken weights file and a
    choice that cannot run were ValueErrors alone, which a caller catching UserError let through."""
    from stream import UserError
    from stream import enhance as enhance_api

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 cut short")
    for weights, message in ((tmp_path / "none.pt", "no such weights file"), (tmp_path / "cut.pt", r"cut\.pt: ")):
        with pytest.raises(UserError, match=message):
            enhance_api(tmp_path / "a.png", tmp_path / "b.png", EnhanceOptions(model=ModelChoice(weights)))
    with pytest.raises(UserError, match="fp16"):
        FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp16", device="cpu"))
    assert not (tmp_path / "b.png").exists()


def test_the_frame_api_refuses_a_depth_or_picture_it_cannot_run(tiny_weights):
    """units=0 ran the model's own depth and -1 a model of its own; a list failed as an AttributeError."""
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    for units in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match=rf"units={units!r}: expected a whole number from 1, or None"):
            api.compare(np.zeros((8, 8), np.uint8), units=units)
    with pytest.raises(TypeError, match=r"expected a numpy array \(H x W or H x W x 3\), got list"):
        api([[0, 1], [2, 3]])
    with pytest.raises(TypeError, match=r"model='fast': expected a ModelChoice"):
        FrameEnhancer(2, "fast")


def test_a_picture_is_never_written_over_itself(tmp_path, tiny_weights, capsys):
    """With -y a picture named as its own output was replaced by its result (a video's run refused it)."""
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((8, 8, 3), 90, np.uint8))
    before = (tmp_path / "photo.png").read_bytes()
    for out in ("photo.png", "./photo.png"):
        code, _, err = run_cli([str(tmp_path / "photo.png"), str(tmp_path / out), "-y", "--weights", str(tiny_weights)],
                               capsys)  # fmt: skip
        assert code == 1 and err == f"error: {tmp_path / out}: the output would overwrite the input\n"
    assert (tmp_path / "photo.png").read_bytes() == before


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs /sys, a folder that takes no files, even as root")
def test_pictures_into_a_folder_that_takes_no_files_fail_before_the_model(tmp_path, tiny_weights, monkeypatch):
    """The model ran first and the error named the hidden partial file: /sys/.photo.partial.png."""
    from stream import UserError
    from stream import enhance as enhance_api
    from stream.apps import stills

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((8, 8, 3), 90, np.uint8))
    monkeypatch.setattr(stills, "FrameEnhancer", None)  # no model is built: calling it fails the test
    with pytest.raises(UserError, match=r"^/sys/photo.png: cannot write \(Permission denied\)$"):
        enhance_api(tmp_path / "photo.png", "/sys/photo.png", EnhanceOptions(model=ModelChoice(tiny_weights)))


def test_the_frame_api_refuses_an_order_it_does_not_know(tiny_weights):
    """order="BGR" (capitals) was taken as RGB: the colours swapped without a word."""
    with pytest.raises(ValueError, match=r"order='BGR': expected one of rgb, bgr, ycbcr"):
        FrameEnhancer(2, ModelChoice(tiny_weights))(np.zeros((8, 8, 3), np.uint8), order="BGR")


@pytest.mark.parametrize("depth", [1, 8, 16])
def test_a_grey_pngs_transparent_code_keeps_it_transparent(tmp_path, tiny_weights, capsys, depth):
    """OpenCV reads a grey PNG whose tRNS makes one code transparent as grey alone: the output was opaque."""
    grey = np.tile(np.arange(24) % 2, (16, 1)).astype(bool)  # columns of 0 and 1; code 1 transparent
    grey[:, :12] = False
    image = {1: Image.fromarray(grey), 8: Image.fromarray(grey.astype(np.uint8) * 200, "L"),
             16: Image.fromarray(grey.astype(np.uint16) * 51400)}[depth]  # fmt: skip
    image.save(tmp_path / "in.png", transparency={1: 1, 8: 200, 16: 51400}[depth])
    enhance(capsys, tmp_path / "in.png", tmp_path / "out.png", tiny_weights)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (32, 48, 4)
    assert (out[:, :20, 3] == out.max()).all() and (out[:, 28:, 3] < out.max()).sum() > 100  # see-through at right


def test_grey_16_bit_and_alpha_keep_their_layout(tmp_path, photo, strong_weights, capsys):
    ramp = np.arange(48)[:, None]  # 16-bit detail below 8 bits
    deep = (photo.astype(np.int64) * 257 + ramp).clip(0, 65535).astype(np.uint16)
    rgba = np.dstack([photo, np.tile(np.arange(48, dtype=np.uint8) * 5, (36, 1))])
    cases = {"grey.tif": photo[..., 0], "deep.png": deep, "rgba.png": rgba}
    api = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32"))
    for name, image in cases.items():
        cv2.imwrite(str(tmp_path / name), image)
        enhance(capsys, tmp_path / name, tmp_path / f"x2-{name}", strong_weights)
        out = cv2.imread(str(tmp_path / f"x2-{name}"), cv2.IMREAD_UNCHANGED)
        assert out.shape[:2] == (72, 96) and out.dtype == image.dtype and out.ndim == image.ndim, name
    grey = cv2.imread(str(tmp_path / "x2-grey.tif"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(grey, api(photo[..., 0]))  # grey is used as luma
    deep_out = cv2.imread(str(tmp_path / "x2-deep.png"), cv2.IMREAD_UNCHANGED)
    assert (deep_out % 257 != 0).mean() > 0.25  # 16-bit precision (an 8-bit path x 257 gives 0; clipped pixels are)
    assert np.abs(deep_out / 257 - api(photo, order="bgr")).mean() < 1  # and the same picture as 8-bit
    alpha = cv2.imread(str(tmp_path / "x2-rgba.png"), cv2.IMREAD_UNCHANGED)[..., 3]
    assert np.array_equal(alpha, cv2.resize(rgba[..., 3], (96, 72), interpolation=cv2.INTER_CUBIC))


def test_the_memory_a_whole_picture_runs_in_is_counted(tmp_path, photo, tiny_weights, capsys, monkeypatch):
    """--tile 0 on a CPU holds every pixel's activations at once (4.9 GB for a 2000x1500 output in fp32, where the
    default tiles take 2.0): the check counted the default window's alone, and let the kernel's OOM killer end it."""
    from stream.apps import stills

    monkeypatch.setattr(stills, "DEFAULT_WINDOW_PIXELS", 0)  # so that a small picture's window counts
    room = stills.PICTURE_BASE_BYTES + stills.PICTURE_BYTES_PER_PIXEL * 96 * 72 + 5e6  # 96 x 72 out: 10.6 MB whole
    monkeypatch.setattr(stills, "room_bytes", lambda: room)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    args = [str(tmp_path / "photo.png"), str(tmp_path / "out.png"), "--weights", str(tiny_weights), "--tile"]
    code, _, err = run_cli([*args, "0"], capsys)
    assert code == 1 and "needs about 1.2 GB" in err and "(--tile 768, the CPU default, or" in err, err
    code, _, err = run_cli([*args, "16", "--batch", "64"], capsys)  # all 30 windows at once: 106 MB
    assert code == 1 and "(--batch 1, the CPU default, or" in err, err  # (was "a smaller --scale")
    assert run_cli([*args, "16"], capsys)[0] == 0  # 48 x 48 windows, one at a time: 3.5 MB


def test_a_big_pictures_windows_are_counted_where_stderr_is_a_log(tmp_path, photo, tiny_weights, capsys, monkeypatch):
    """A phone's photo runs for minutes on a CPU: its windows are counted, as a line where stderr is no terminal."""
    monkeypatch.setattr("stream.console.LINE_SECONDS", 0)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    err = enhance(capsys, tmp_path / "photo.png", tmp_path / "photo_x2.png", tiny_weights, "--tile", "32")
    counts = re.findall(r"photo.png, windows: (\d+)/(\d+)", err)
    assert counts == [(str(n), "9") for n in range(1, 10)]  # 72 x 96 out: 3 x 3 windows of 32, one at a time


def test_a_picture_too_big_for_the_memory_left_is_one_line(tmp_path, photo, tiny_weights, capsys, monkeypatch):
    """A 48 MP photo x4 needs about 20 GB: where the machine has less, the OOM killer ended the run without a word,
    minutes in. Refused before the model runs, nothing written."""
    monkeypatch.setattr("stream.apps.stills.room_bytes", lambda: 10**9)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    args = [str(tmp_path / "photo.png"), str(tmp_path / "out.png"), "--weights", str(tiny_weights)]
    code, _, err = run_cli(args, capsys)
    said = "photo.png: x2 makes a 96x72 picture, which needs about 1.2 GB of memory, and 1.0 GB is all it can have"
    assert code == 1 and said in err.strip().splitlines()[-1], err
    assert not (tmp_path / "out.png").exists()
    monkeypatch.setattr("stream.apps.stills.room_bytes", lambda: 2 * 10**9)
    assert run_cli(args, capsys)[0] == 0


def test_transparency_into_jpeg_is_said_lost(tmp_path, photo, tiny_weights, capsys):
    """JPEG holds no alpha, and what transparent pixels hid shows: said as the video path says it. An alpha channel
    all opaque hides nothing, and WebP keeps it."""
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "opaque.png"), rgba)
    rgba[:, :20, 3] = 0
    cv2.imwrite(str(tmp_path / "logo.png"), rgba)
    lost = "warning: logo.jpg: written without the input's transparency (not carried into .jpg)"
    assert lost in enhance(capsys, tmp_path / "logo.png", tmp_path / "logo.jpg", tiny_weights)
    assert "warning" not in enhance(capsys, tmp_path / "opaque.png", tmp_path / "opaque.jpg", tiny_weights)
    assert "warning" not in enhance(capsys, tmp_path / "logo.png", tmp_path / "logo.webp", tiny_weights)


def test_into_jpeg_what_transparency_hid_shows(tmp_path, photo, identity_weights, capsys):
    """A logo's hidden white came out as the visible colours smeared over it (the fill that keeps a kept alpha's
    edges clean), where PIL, ImageMagick and ffmpeg show what the alpha hid."""
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, :20] = (255, 255, 255, 0)
    cv2.imwrite(str(tmp_path / "logo.png"), rgba)
    enhance(capsys, tmp_path / "logo.png", tmp_path / "logo.jpg", identity_weights)
    hidden = cv2.imread(str(tmp_path / "logo.jpg"))[:, :36].astype(int)  # 40 hidden columns at x2, less the edge
    assert np.abs(hidden - 255).mean() < 3


@pytest.mark.parametrize(
    ("name", "said"),
    [("wide.webp", "WebP holds at most 16383"), ("wide_%02d.webp", "libwebp codes at most 16383"), ("wide.jpg", None)],
)
def test_a_picture_larger_than_its_format_holds_is_refused_before_the_model(tmp_path, tiny_weights, capsys, name,
                                                                             said):  # fmt: skip
    """A panorama into WebP (16383 px a side) was refused once restored ("cannot write this image format", under
    OpenCV's own lines), a video's frames into WebP by an "unexpected ArgumentError" after the first frame's work."""
    strip = np.random.default_rng(0).integers(0, 256, (4, 8200, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "wide.png"), strip)
    src = tmp_path / "wide.png" if "%" not in name else make_clip(tmp_path / "wide.mkv", 8200, 16, [0], audio=False)
    code, _, err = run_cli([str(src), str(tmp_path / name), "--weights", str(tiny_weights)], capsys)
    refused = code == 1 and said in err.strip().splitlines()[-1] and "ERROR" not in err  # (OpenCV's lines)
    assert refused if said else code == 0, err
    assert said is None or not list(tmp_path.glob("wide*.webp"))


def test_numbered_sequences_in_and_out(tmp_path, photo, tiny_weights, capsys):
    for n in (5, 7, 12):
        cv2.imwrite(str(tmp_path / f"in_{n:04d}.png"), np.roll(photo, n, axis=1))
    err = enhance(capsys, tmp_path / "in_%04d.png", tmp_path / "out_%03d.jpg", tiny_weights)
    assert sorted(p.name for p in tmp_path.glob("out_*")) == ["out_005.jpg", "out_007.jpg", "out_012.jpg"]
    assert "wrote 3 pictures" in err


def test_a_video_to_numbered_pictures_and_back(tmp_path, tiny_weights, capsys):
    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0, 40, 80], audio=False)
    enhance(capsys, clip, tmp_path / "frame_%02d.png", tiny_weights)  # was: 'image2' does not support libx264
    assert sorted(p.name for p in tmp_path.glob("frame_*")) == ["frame_01.png", "frame_02.png", "frame_03.png"]
    assert cv2.imread(str(tmp_path / "frame_01.png")).shape == (96, 128, 3)
    enhance(capsys, tmp_path / "frame_%02d.png", tmp_path / "back.mkv", tiny_weights, "--scale", "1")
    assert probe(tmp_path / "back.mkv")["frames"] == 3 and probe(tmp_path / "back.mkv")["size"] == (128, 96)


def test_a_video_into_numbered_pictures_replaces_none_of_them_unasked(tmp_path, tiny_weights, capsys):
    """Only the first picture's name was checked: with it gone (or numbering from 2), the others were replaced
    without -y."""
    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0, 40, 80], audio=False)
    for n in (2, 3):
        (tmp_path / f"frame_{n:02d}.png").write_bytes(b"someone's picture")
    args = [str(clip), str(tmp_path / "frame_%02d.png"), "--weights", str(tiny_weights)]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and err == f"error: {tmp_path / 'frame_02.png'}: exists (and 1 more); pass -y to replace them\n"
    assert (tmp_path / "frame_03.png").read_bytes() == b"someone's picture" and not (tmp_path / "frame_01.png").exists()
    assert run_cli([*args, "-y"], capsys)[0] == 0 and cv2.imread(str(tmp_path / "frame_03.png")) is not None
    (tmp_path / "frame_02.png").unlink()
    (tmp_path / "frame_02.png").mkdir()  # image2 wrote past it: exit 0, "wrote 3 frames", two of them lost
    code, _, err = run_cli([*args, "-y"], capsys)
    assert (code, err) == (1, f"error: {tmp_path / 'frame_02.png'}: is a folder\n")


def test_a_pictures_name_that_is_no_utf8_goes_into_the_log_as_its_bytes(tmp_path, photo, tiny_weights, capsys):
    """A name of Latin-1 bytes (an old camera's, a copy from Windows): --log x.csv failed the run as "unexpected
    UnicodeEncodeError", the picture written, its log a header alone."""
    name = os.fsdecode(b"caf\xe9.png")
    cv2.imwrite(str(tmp_path / "a.png"), photo)
    os.rename(tmp_path / "a.png", tmp_path / name)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream",
            str(tmp_path / name),
            str(tmp_path / "o.png"),
            "--weights",
            str(tiny_weights),
            "--log",
            str(tmp_path / "log.csv"),
        ],
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr  # (in a subprocess: pytest's stderr takes no such name)
    assert (tmp_path / "log.csv").read_bytes().splitlines()[1].startswith(b"caf\xe9.png,")


def test_a_url_escape_in_a_name_is_no_numbered_sequence(tmp_path, photo, tiny_weights, capsys):
    """A download's my%20dog.png read as a pattern (%20d: a width of 20): the picture was "no files match it", and
    an existing keep%20dog.mp4 was replaced without -y, by image2 writing pictures under the video's name."""
    cv2.imwrite(str(tmp_path / "my%20dog.png"), photo)
    enhance(capsys, tmp_path / "my%20dog.png", tmp_path / "out%20dog.png", tiny_weights)
    assert cv2.imread(str(tmp_path / "out%20dog.png")).shape == (72, 96, 3)
    kept = make_clip(tmp_path / "keep%20dog.mp4", pts_ms=[0, 40], audio=False).read_bytes()
    args = [str(make_clip(tmp_path / "in.mp4", pts_ms=[0], audio=False)), str(tmp_path / "keep%20dog.mp4")]
    code, _, err = run_cli([*args, "--weights", str(tiny_weights)], capsys)
    assert code == 1 and err.endswith("keep%20dog.mp4: exists; pass -y to replace it\n") and kept == (
        tmp_path / "keep%20dog.mp4").read_bytes()  # fmt: skip
    assert is_numbered("frames_%05d.png") and is_numbered("f%d.jpg") and not is_numbered("clip_%05d.mp4")


def test_numbered_pictures_from_any_first_number_make_a_video(tmp_path, photo, tiny_weights, capsys):
    """FFmpeg's image2 looks for the first picture from 0 to 4 alone: a sequence from 7 failed as "not a readable
    media file (No such file or directory)", where the same sequence into pictures ran."""
    for n in (7, 8, 9):
        cv2.imwrite(str(tmp_path / f"g_{n:03d}.png"), np.roll(photo, n, axis=1))
    enhance(capsys, tmp_path / "g_%03d.png", tmp_path / "out.mp4", tiny_weights)
    assert probe(tmp_path / "out.mp4")["frames"] == 3


def test_a_gap_in_numbered_pictures_is_said_as_the_sequences_end_not_damage(tmp_path, photo, tiny_weights, capsys):
    """image2 ends a sequence at its first missing picture, as ffmpeg does; that was "damaged input, decoded past 32
    errors" (each of 16 retries at the missing file counted twice), the pictures after the gap unnamed."""
    for n in (1, 2, 3, 5, 6):
        cv2.imwrite(str(tmp_path / f"g{n}.png"), np.roll(photo, n, axis=1))
    err = enhance(capsys, tmp_path / "g%d.png", tmp_path / "out.mp4", tiny_weights, "--quiet")
    assert probe(tmp_path / "out.mp4")["frames"] == 3
    assert err == ("warning: g%d.png: g4.png is missing: the sequence ends before it, as ffmpeg reads it; 2 pictures "
                   "after it left out (renumber them to take them in)\n")  # fmt: skip
    assert sequence_gap(tmp_path / "g%d.png") == (tmp_path / "g4.png", 2) and sequence_gap(tmp_path / "x%d.png") is None
    for later in ("g5.png", "g6.png"):
        (tmp_path / later).unlink()
    assert enhance(capsys, tmp_path / "g%d.png", tmp_path / "out.mp4", tiny_weights, "--quiet", "-y") == ""


def test_an_unreadable_picture_in_a_sequence_leaves_the_others_to_run(tmp_path, photo, tiny_weights, capsys):
    """The sequence stopped at its first unreadable picture, those after it left undone; now each is tried, as a
    folder's files are, and the run fails at the end naming what failed."""
    for n in (1, 2, 3):
        cv2.imwrite(str(tmp_path / f"s{n}.png"), np.roll(photo, n, axis=1))
    (tmp_path / "s2.png").write_bytes((tmp_path / "s2.png").read_bytes()[:100])
    (tmp_path / "out").mkdir()
    code, _, err = run_cli([str(tmp_path / "s%d.png"), str(tmp_path / "out" / "o%d.png"), "--weights",
                            str(tiny_weights), "--quiet"], capsys)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o1.png", "o3.png"]
    assert code == 1 and err == (f"[2/3] failed: {tmp_path}/s2.png: not a readable 8- or 16-bit image\n"
                                 f"error: 1 of 3 pictures failed (first: {tmp_path}/s2.png: not a readable 8- or "
                                 "16-bit image); the other 2 written\n")  # fmt: skip
    one = [str(tmp_path / "s2.png"), str(tmp_path / "one.png"), "--weights", str(tiny_weights)]
    code, _, err = run_cli(one, capsys)
    assert code == 1 and err.endswith(f"\nerror: {tmp_path}/s2.png: not a readable 8- or 16-bit image\n")


@pytest.mark.parametrize(
    ("extra", "flags"),
    [(["--start", "0.08", "--duration", "0.08"], "--start, --duration"), (["--codec", "libx265"], "--codec")],
)
def test_what_is_for_videos_is_refused_for_pictures(tmp_path, photo, tiny_weights, capsys, extra, flags):
    """They were taken and ignored: every picture of the sequence made, a PNG from --codec libx265."""
    cv2.imwrite(str(tmp_path / "in_0001.png"), photo)
    args = [str(tmp_path / "in_%04d.png"), str(tmp_path / "out_%04d.png"), "--weights", str(tiny_weights), *extra]
    code, _, err = run_cli(args, capsys)
    assert (
        code == 1 and err == f"error: {tmp_path / 'out_%04d.png'}: pictures out take no {flags} (they are for videos)\n"
    )
    assert not list(tmp_path.glob("out_*"))


def test_a_picture_cut_short_by_a_failed_write_is_left_under_no_name(tmp_path, tiny_weights):
    """A video into numbered pictures on a full disk (here a file-size limit: "File too large") left its last
    picture cut short under its own name, a picture that does not open among those that do."""
    clip = make_clip(tmp_path / "in.mp4", width=64, height=64, pts_ms=[0, 40, 80], audio=False)
    out = tmp_path / "out"
    out.mkdir()
    args = [str(clip), str(out / "f_%05d.png"), "--weights", str(tiny_weights)]
    limit = file_size_limit(1000)  # less than a picture
    run = subprocess.run([sys.executable, "-m", "stream", *args], preexec_fn=limit, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 1 and run.stderr.endswith("File too large\n"), run.stderr
    assert list(out.iterdir()) == []


def test_numbered_pictures_become_a_video_at_the_rate_asked(tmp_path, photo, tiny_weights, capsys):
    """Issue #25 item 8: numbered pictures became 25 fps video, whatever the user wanted."""
    for n in (1, 2, 3):
        cv2.imwrite(str(tmp_path / f"in_{n}.png"), photo)
    enhance(capsys, tmp_path / "in_%d.png", tmp_path / "ntsc.mkv", tiny_weights, "--fps", "30000/1001")
    enhance(capsys, tmp_path / "in_%d.png", tmp_path / "plain.mkv", tiny_weights)
    assert probe(tmp_path / "ntsc.mkv")["pts_ms"] == [0, 33, 67]  # 1001/30000 s apart
    assert probe(tmp_path / "plain.mkv")["pts_ms"] == [0, 40, 80]  # ffmpeg's 25 without it


@pytest.mark.parametrize(
    "src, dst, fps, message",
    [("clip.mp4", "out.mkv", "30", "clip.mp4: --fps is for numbered pictures in (frames_%05d.png); a video keeps"),
     ("in_%d.png", "out_%d.png", "30", "out_%d.png: --fps is the rate of a video made of pictures; pictures out"),
     ("in_%d.png", "out.mkv", "-30", "Invalid value for '--fps': -30 is not a positive number or fraction")],
)  # fmt: skip
def test_fps_where_it_means_nothing_is_one_line(tmp_path, photo, tiny_weights, capsys, src, dst, fps, message):
    cv2.imwrite(str(tmp_path / "in_1.png"), photo)
    make_clip(tmp_path / "clip.mp4", pts_ms=[0, 40], audio=False)
    args = [str(tmp_path / src), str(tmp_path / dst), "--fps", fps, "--weights", str(tiny_weights)]
    code, _, err = run_cli(args, capsys)
    assert code in (1, 2) and message in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize(
    "src, dst, message",
    [("photo.png", "out_%03d.png", "out_%03d.png: numbered, for a sequence; one picture in makes one picture out"),
     ("photo_%03d.png", "one.png", "a numbered sequence in makes one out: name it so (e.g. one_%05d.png)"),
     ("clip.mp4", "one.png", "a video makes many pictures: number them"),
     ("none_%03d.png", "out_%03d.png", "no files match it")],
)  # fmt: skip
def test_mismatched_pictures_are_one_line(tmp_path, photo, tiny_weights, capsys, src, dst, message):
    for name in ("photo.png", "photo_001.png"):
        cv2.imwrite(str(tmp_path / name), photo)
    make_clip(tmp_path / "clip.mp4", pts_ms=[0, 40], audio=False)
    code, _, err = run_cli([str(tmp_path / src), str(tmp_path / dst), "--weights", str(tiny_weights)], capsys)
    assert code == 1 and message in err and err.count("\n") == 1


def test_a_video_of_one_frame_makes_one_picture(tmp_path, strong_weights, capsys):
    """A one-frame video (a still exported as a clip, a one-frame GIF) into one picture, unnumbered: the
    picture its numbered output is (a video of two frames is refused above)."""
    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0], audio=False)
    enhance(capsys, clip, tmp_path / "one.png", strong_weights)
    enhance(capsys, clip, tmp_path / "png_%d.png", strong_weights)
    one = cv2.imread(str(tmp_path / "one.png"))
    assert one.shape == (96, 128, 3) and np.array_equal(one, cv2.imread(str(tmp_path / "png_1.png")))


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".tif", ".webp"])
def test_numbered_pictures_of_a_video_in_every_picture_format(tmp_path, strong_weights, capsys, suffix):
    """Each encoder gets RGB (or JPEG's full-range YUV), so every format shows the same picture as PNG."""
    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0, 40], audio=False)
    enhance(capsys, clip, tmp_path / "png_%d.png", strong_weights)
    enhance(capsys, clip, tmp_path / f"other_%d{suffix}", strong_weights)
    reference = cv2.imread(str(tmp_path / "png_1.png")).astype(float)
    other = cv2.imread(str(tmp_path / f"other_1{suffix}"), cv2.IMREAD_UNCHANGED)
    assert other.shape == (96, 128, 3) and other.dtype == np.uint8
    assert np.abs(other - reference).mean() < 8  # lossy ones (JPEG, 4:2:0 WebP) lose detail, not colour:
    assert np.abs(other.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() < 1.5  # a range or channel slip would


def test_16_bit_into_an_8_bit_format_is_scaled_not_clipped(tmp_path, photo, strong_weights, capsys):
    cv2.imwrite(str(tmp_path / "deep.png"), photo.astype(np.uint16) * 257)
    enhance(capsys, tmp_path / "deep.png", tmp_path / "out.jpg", strong_weights)
    out = cv2.imread(str(tmp_path / "out.jpg"))
    expected = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32"))(photo, order="bgr").astype(float)
    assert np.abs(out.mean(axis=(0, 1)) - expected.mean(axis=(0, 1))).max() < 1.5  # clipping made it white


def test_a_picture_gets_its_log_row_and_its_reference_scores(tmp_path, photo, strong_weights, capsys):
    """Issue #25 item 3: --log and --reference were silently ignored for pictures."""
    truth = cv2.resize(photo, (96, 72), interpolation=cv2.INTER_CUBIC)[::-1].copy()  # the output's size
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    cv2.imwrite(str(tmp_path / "truth.png"), truth)
    args = ["--log", str(tmp_path / "log.csv"), "--reference", str(tmp_path / "truth.png")]
    err = enhance(capsys, tmp_path / "photo.png", tmp_path / "out.png", strong_weights, *args)
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    api = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32")).compare(photo, order="bgr")
    expected = {
        "psnr_ref": psnr(read_luma(tmp_path / "out.png"), read_luma(tmp_path / "truth.png"), 2),
        "ssim_ref": ssim(read_luma(tmp_path / "out.png"), read_luma(tmp_path / "truth.png"), 2),
        "psnr_ref_bicubic": psnr(luma(api.bicubic), read_luma(tmp_path / "truth.png"), 2),
    }
    assert len(rows) == 1 and rows[0]["picture"] == "photo.png"
    assert float(rows[0]["psnr_vs_bicubic"]) == pytest.approx(api.psnr_vs_bicubic, abs=1e-4)
    for key, value in expected.items():
        assert float(rows[0][key]) == pytest.approx(value, abs=1e-4), key
    assert f"against the reference: DRRN {expected['psnr_ref']:.2f} dB / SSIM {expected['ssim_ref']:.4f}" in err


def test_a_sequence_logs_a_row_per_picture_against_its_numbered_reference(tmp_path, photo, tiny_weights, capsys):
    for n in (3, 4):
        cv2.imwrite(str(tmp_path / f"in_{n}.png"), np.roll(photo, n, axis=1))
        cv2.imwrite(str(tmp_path / f"ref_{n}.png"), cv2.resize(photo, (96, 72)) // n)
    args = ["--log", str(tmp_path / "log.jsonl"), "--reference", str(tmp_path / "ref_%d.png")]
    enhance(capsys, tmp_path / "in_%d.png", tmp_path / "out_%d.png", tiny_weights, *args)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["picture"] for row in rows] == ["in_3.png", "in_4.png"]
    for n, row in zip((3, 4), rows, strict=True):
        scored = psnr(read_luma(tmp_path / f"out_{n}.png"), read_luma(tmp_path / f"ref_{n}.png"), 2)
        assert row["psnr_ref"] == pytest.approx(scored, abs=1e-4)


def test_a_reference_is_read_upright_in_any_picture_format(tmp_path, photo, tiny_weights, capsys):
    """It was read by OpenCV as stored: a phone's sideways JPEG did not fit, a 16-bit PNG was refused."""
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    truth = cv2.resize(photo, (96, 72), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "truth.png"), truth)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: shown a quarter turn clockwise from how it is stored
    Image.fromarray(np.ascontiguousarray(np.rot90(truth)[..., ::-1])).save(tmp_path / "sideways.jpg", exif=exif,
                                                                            quality=100)  # fmt: skip
    cv2.imwrite(str(tmp_path / "deep.png"), truth.astype(np.uint16) * 257)
    scores = []
    for reference in ("truth.png", "sideways.jpg", "deep.png"):
        args = ["--reference", str(tmp_path / reference), "--log", str(tmp_path / f"{reference}.csv")]
        enhance(capsys, tmp_path / "photo.png", tmp_path / "out.png", tiny_weights, "-y", *args)
        scores.append(float(next(csv.DictReader((tmp_path / f"{reference}.csv").open()))["psnr_ref"]))
    assert scores[2] == pytest.approx(scores[0], abs=1e-9)  # the same codes, at 16 bits
    assert scores[1] == pytest.approx(scores[0], abs=1.0)  # through JPEG at quality 100, upright


@pytest.mark.parametrize(
    "src, dst, reference, message",
    [("photo.png", "out.png", "small.png", "small.png: is 48x36, the output is 96x72"),
     ("in_%d.png", "out_%d.png", "ref_%d.png", "ref_2.png: no such file (the reference for in_2.png)"),
     ("in_%d.png", "out_%d.png", "small.png", "small.png: a numbered sequence in is scored against a numbered"),
     ("in_%d.png", "out_%d.png", "big_%d.png", "big_2.png: is 48x36, the output is 96x72")],
)  # fmt: skip
def test_a_reference_that_cannot_score_is_one_line(tmp_path, photo, tiny_weights, capsys, src, dst, reference,
                                                    message):  # fmt: skip
    """Each before any model time: a sequence's last reference of the wrong size failed the run once the
    outputs before it were written (and a rerun was refused for them)."""
    for name in ("photo.png", "in_1.png", "in_2.png", "ref_1.png", "small.png", "big_2.png"):
        cv2.imwrite(str(tmp_path / name), photo)
    cv2.imwrite(str(tmp_path / "big_1.png"), cv2.resize(photo, (96, 72)))
    args = [str(tmp_path / src), str(tmp_path / dst), "--reference", str(tmp_path / reference)]
    code, _, err = run_cli([*args, "--weights", str(tiny_weights)], capsys)
    assert code == 1 and err.startswith(f"error: {tmp_path / message}") and err.count("\n") == 1, err
    assert not list(tmp_path.glob("out*"))


def test_a_sequence_reads_the_names_its_pattern_writes(tmp_path, photo, tiny_weights, capsys):
    """s_1, s_01 and s_001 all took number 1 from s_%02d.png: three pictures "written", one left, the first's."""
    for n, name in enumerate(("s_1.png", "s_01.png", "s_001.png", "s_12.png", "s_123.png")):
        cv2.imwrite(str(tmp_path / name), photo // (n + 1))
    err = enhance(capsys, tmp_path / "s_%02d.png", tmp_path / "t_%02d.png", tiny_weights)
    assert "wrote 3 pictures" in err  # as FFmpeg's image2 reads them: s_01, s_12 and s_123
    assert sorted(p.name for p in tmp_path.glob("t_*")) == ["t_01.png", "t_12.png", "t_123.png"]
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    assert np.array_equal(cv2.imread(str(tmp_path / "t_01.png")), api(photo // 2, order="bgr"))  # s_01's


def test_a_picture_converted_in_bands_and_without_its_bicubic_is_the_same(photo, strong_weights, monkeypatch):
    """A 12 MP photo x2 held 0.6 GB per whole-picture float32 copy in its colour conversion; it is converted in
    bands, and its bicubic upscale is made only where a reference is to score it."""
    whole = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32")).compare(photo, order="bgr")
    monkeypatch.setattr(host_memory, "BAND_PIXELS", 7 * 96)  # 7 rows of the 96-wide output: 11 bands, the last 2
    banded = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32")).compare(photo, order="bgr")
    alone = FrameEnhancer(2, ModelChoice(strong_weights, precision="fp32")).compare(photo, "bgr", bicubic=False)
    assert np.array_equal(banded.output, whole.output) and np.array_equal(banded.bicubic, whole.bicubic)
    assert alone.bicubic is None and np.array_equal(alone.output, whole.output)
    assert np.abs(whole.output.astype(int) - whole.bicubic).mean() > 1  # the weights did change the picture


def test_links_are_written_through_and_a_loop_of_them_is_one_line(tmp_path, photo, tiny_weights, capsys):
    """A picture written onto a link replaced the link with a file, its target left stale (a video's output, and
    ffmpeg, write through it); a loop of links was "unexpected RuntimeError: Symlink loop"."""
    cv2.imwrite(str(tmp_path / "in.png"), photo)
    (tmp_path / "target.png").write_bytes(b"yesterday's")
    (tmp_path / "link.png").symlink_to("target.png")
    enhance(capsys, tmp_path / "in.png", tmp_path / "link.png", tiny_weights, "-y")
    assert (tmp_path / "link.png").is_symlink() and cv2.imread(str(tmp_path / "target.png")).shape == (72, 96, 3)
    (tmp_path / "a.mp4").symlink_to("b.mp4")
    (tmp_path / "b.mp4").symlink_to("a.mp4")
    for dst in ("a.mp4", "a.png"):
        if dst == "a.png":
            (tmp_path / "a.png").symlink_to("a.png")
        code, _, err = run_cli([str(tmp_path / "in.png"), str(tmp_path / dst), "--weights", str(tiny_weights), "-y"],
                               capsys)  # fmt: skip
        assert code == 1 and err.endswith(f"error: {tmp_path / dst}: too many levels of symbolic links\n"), err
