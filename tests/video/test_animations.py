"""Animations under pictures' names: animated WebP in (unpacked by Pillow: FFmpeg does not decode it) and out
(libwebp_anim), animated AVIF out and in, APNG under a .png name (OpenCV read its first frame alone)."""

import shlex
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from stream.content import judge_source
from stream.files import is_animated_png, is_picture, is_video
from stream.loops import animation_plays
from stream.video.source import VideoSource
from stream.webp import webp_layout
from tests.cli_helpers import run_cli
from tests.media import make_clip
from tests.video.test_pipes import drrn
from tests.video.test_transparency import FRAMES, H, W, animation, decoded, make_gif, run, transparent_share

DURATIONS = [100, 0, 150, 100, 100, 250]  # ms; a 0 ms frame is shown for 100, as browsers show it
STARTS = [0, 100, 200, 350, 450, 550]


def make_webp(path: Path, lossless: bool) -> Path:
    """A transparent sticker as Pillow (libwebp's animation encoder) writes it: a disc moving right."""
    frames = [Image.fromarray(animation(i, True)[..., [2, 1, 0, 3]], "RGBA") for i in range(FRAMES)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=DURATIONS, loop=0, lossless=lossless)
    return path


def pillow_frames(path: Path) -> tuple[list[np.ndarray], list[int], int]:
    """An animated WebP's frames (RGBA) as a browser shows them, their durations, and its loop count."""
    with Image.open(path) as picture:
        frames, durations = [], []
        for i in range(picture.n_frames):
            picture.seek(i)
            picture.load()
            frames.append(np.asarray(picture.convert("RGBA")))
            durations.append(picture.info["duration"])
        return frames, durations, picture.info["loop"]


def test_a_webps_chunks_say_its_frames_and_whether_it_is_lossless(tmp_path):
    photo = np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "lossy.webp"), photo, [cv2.IMWRITE_WEBP_QUALITY, 80])
    cv2.imwrite(str(tmp_path / "lossless.webp"), photo, [cv2.IMWRITE_WEBP_QUALITY, 101])
    cv2.imwrite(str(tmp_path / "still.png"), photo)
    assert webp_layout(tmp_path / "lossy.webp") == (1, False) and webp_layout(tmp_path / "lossless.webp") == (1, True)
    assert webp_layout(tmp_path / "still.png") == (0, False)
    assert webp_layout(make_webp(tmp_path / "a.webp", lossless=True)) == (FRAMES, True)
    assert webp_layout(make_webp(tmp_path / "b.webp", lossless=False)) == (FRAMES, False)
    assert is_video(tmp_path / "a.webp") and not is_picture(tmp_path / "a.webp")  # a folder runs it as a video
    assert is_picture(tmp_path / "lossy.webp") and is_picture(tmp_path / "new.webp")  # a name not there: a picture


def test_an_animated_webp_keeps_every_frame_its_times_and_transparency(tmp_path, tiny_weights):
    """Into APNG: every frame (FFmpeg's decoder read none of them), twice the size, at the animation's times (its
    0 ms frame shown for 100), the same part of each frame transparent, the moving disc opaque where it moved."""
    src = make_webp(tmp_path / "in.webp", lossless=False)
    run(src, tmp_path / "out.apng", tiny_weights)
    before = pillow_frames(src)[0]
    after, times = decoded(tmp_path / "out.apng")
    with av.open(str(tmp_path / "out.apng")) as container:
        time_base = container.streams.video[0].time_base
    assert len(after) == FRAMES and after[0].shape == (2 * H, 2 * W, 4)
    assert [round(t * time_base * 1000) for t in times] == STARTS
    assert transparent_share(after) == pytest.approx(transparent_share(before), abs=0.03)
    for i, frame in enumerate(after):
        assert frame[H, 2 * (8 + 3 * i), 3] == 255 and frame[0, -1, 3] == 0


@pytest.mark.parametrize(("lossless", "judged"), [(True, ("clean", "WebP, lossless")), (False, ("compressed", "WebP"))])
def test_an_animated_webp_is_judged_by_its_own_bitstreams(tmp_path, lossless, judged):
    """Not by the lossless video it is unpacked into: a lossy animation (VP8) is compressed input."""
    with VideoSource(make_webp(tmp_path / "in.webp", lossless)) as source:
        assert judge_source(source) == judged


@pytest.mark.parametrize("make", ["gif", "webp"])
def test_an_animation_into_webp_is_a_lossless_animated_webp_that_loops(tmp_path, identity_weights, make):
    """A GIF or an animated WebP into .webp: an animation (not "number the pictures"), every frame, looping
    forever as the input did (WebP's muxer plays once by default), lossless: with DRRN an identity, its frames are
    an FFV1 run's to the level."""
    src = make_gif(tmp_path / "in.gif", True) if make == "gif" else make_webp(tmp_path / "in.webp", False)
    run(src, tmp_path / "out.webp", identity_weights)
    run(src, tmp_path / "exact.mkv", identity_weights, codec="ffv1")
    frames, durations, loop = pillow_frames(tmp_path / "out.webp")
    assert webp_layout(tmp_path / "out.webp") == (FRAMES, True) and loop == 0
    exact = decoded(tmp_path / "exact.mkv")[0]
    visible = [f[..., 3] > 0 for f in exact]
    assert all(np.array_equal(f[v], e[v]) for f, e, v in zip(frames, exact, visible, strict=True))
    if make == "webp":  # the last frame's too (libwebp_anim gives it the one before's: video/hold.py)
        assert durations == [100, 100, 150, 100, 100, 250]


def test_an_apng_loops_forever(tmp_path, tiny_weights):
    """APNG's muxer plays an animation once by default: a GIF into APNG stopped after its first run."""
    run(make_gif(tmp_path / "in.gif", False), tmp_path / "out.apng", tiny_weights)
    data = (tmp_path / "out.apng").read_bytes()
    actl = data.index(b"acTL")
    assert int.from_bytes(data[actl + 4 : actl + 8], "big") == FRAMES
    assert int.from_bytes(data[actl + 8 : actl + 12], "big") == 0  # plays: 0, forever


def pillow_plays(path: Path) -> int:
    """An animation's plays (0: forever) as Pillow reads its file: a GIF's NETSCAPE count is of repeats, and
    without one a GIF plays once."""
    with Image.open(path) as picture:
        loop = picture.info.get("loop")
        if picture.format == "GIF":
            return 1 if loop is None else (loop + 1 if loop else 0)
        return loop


@pytest.mark.parametrize("src, plays", [("once.gif", 1), ("thrice.gif", 3), ("twice.png", 2), ("five.webp", 5)])
def test_an_animation_plays_as_often_as_its_input(tmp_path, tiny_weights, src, plays):
    """Every animation came out looping forever: a GIF made to play once (or three times) did not stop."""
    noise = np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)
    frames = [Image.fromarray(cv2.resize(np.roll(noise, i, axis=1), (W, H))) for i in range(FRAMES)]
    loop = {"once.gif": {}, "thrice.gif": {"loop": 2}}.get(src, {"loop": plays})  # GIF's counts repeats
    frames[0].save(tmp_path / src, save_all=True, append_images=frames[1:], duration=100, **loop)
    assert pillow_plays(tmp_path / src) == plays and animation_plays(tmp_path / src) == plays
    for out in ("out.gif", "out.apng", "out.webp"):
        run(tmp_path / src, tmp_path / out, tiny_weights)
        assert pillow_plays(tmp_path / out) == plays, out


def test_a_one_frame_animation_into_apng_is_written(tmp_path, tiny_weights):
    """Its one packet, its pause written into a new packet, lost the encoder's extradata: APNG's muxer crashed
    (a segmentation fault, so in a process of its own here)."""
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "one.gif")
    for out in ("out.apng", "out.webp"):
        proc = subprocess.run(shlex.split(drrn(tiny_weights, str(tmp_path / "one.gif"), str(tmp_path / out))),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, (out, proc.returncode, proc.stderr)
        assert decoded(tmp_path / out)[0][0].shape[:2] == (2 * H, 2 * W)


def test_a_video_made_an_animation_loops_forever(tmp_path, tiny_weights):
    src = make_clip(tmp_path / "in.mkv", width=32, height=24, codec="ffv1", pts_ms=[0, 40, 80], audio=False)
    for out in ("out.gif", "out.apng", "out.webp"):
        run(src, tmp_path / out, tiny_weights)
        assert pillow_plays(tmp_path / out) == 0, out


def test_a_one_frame_video_into_webp_is_a_still(tmp_path, tiny_weights):
    clip = make_clip(tmp_path / "in.mp4", pts_ms=[0], audio=False)
    run(clip, tmp_path / "one.webp", tiny_weights)
    assert webp_layout(tmp_path / "one.webp").frames == 1
    assert cv2.imread(str(tmp_path / "one.webp")).shape == (96, 128, 3)


def test_a_damaged_animated_webp_is_one_line_and_writes_nothing(tmp_path, tiny_weights, capsys):
    """libwebp's animation decoder refuses a truncated file whole: said in one line."""
    data = make_webp(tmp_path / "in.webp", lossless=False).read_bytes()
    (tmp_path / "cut.webp").write_bytes(data[: len(data) * 3 // 4])
    code, _, err = run_cli([str(tmp_path / "cut.webp"), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights)],
                           capsys)  # fmt: skip
    assert code == 1 and "an animated WebP that cannot be decoded" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.mp4").exists()


def test_a_folder_runs_an_animated_webp_as_the_animation_it_is(tmp_path, tiny_weights, capsys):
    """In a folder, a .webp is a picture unless it holds an animation: then every frame comes out."""
    (tmp_path / "in").mkdir()
    make_webp(tmp_path / "in" / "sticker.webp", lossless=False)
    cv2.imwrite(str(tmp_path / "in" / "still.webp"), animation(0, False)[..., :3])
    code, _, err = run_cli([str(tmp_path / "in"), str(tmp_path / "out"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert webp_layout(tmp_path / "out" / "sticker.webp").frames == FRAMES
    assert cv2.imread(str(tmp_path / "out" / "still.webp")).shape == (2 * H, 2 * W, 3)


def test_an_animated_webp_on_a_pipe_says_to_name_the_file(tmp_path, tiny_weights):
    """Only a named file is unpacked (FFmpeg's WebP decoder takes stills alone): a pipe's animation is one line
    that says so, where it said only that no frame decoded."""
    src = make_webp(tmp_path / "in.webp", lossless=False)
    proc = subprocess.run(["bash", "-c", f"cat {src} | {drrn(tiny_weights, '-', str(tmp_path / 'out.mp4'))}"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "an animated WebP? name the file" in proc.stderr


def test_an_animation_into_avif_is_an_animated_avif(tmp_path, tiny_weights):
    """.avif, whose container took no H.264 (the default), gets AV1 by SVT-AV1: every frame, at its times (in the
    animation's track; AVIF's first is its still, the first frame)."""
    run(make_webp(tmp_path / "in.webp", lossless=False), tmp_path / "out.avif", tiny_weights)
    with av.open(str(tmp_path / "out.avif")) as container:
        video = max(container.streams.video, key=lambda stream: stream.frames)
        packets = [p for p in container.demux(video) if p.size]
        assert video.codec_context.name in ("libdav1d", "av1") and (video.width, video.height) == (2 * W, 2 * H)
        assert [round(p.pts * p.time_base * 1000) for p in packets] == STARTS
    run(tmp_path / "out.avif", tmp_path / "again.mp4", tiny_weights)  # its still is not carried: MP4 refused it
    with av.open(str(tmp_path / "again.mp4")) as container:
        assert [s.frames for s in container.streams] == [FRAMES]


def make_apng(path: Path, frames: int) -> Path:
    """An APNG of `frames` frames of the moving disc, under whatever name `path` has (.png: as browsers take it),
    looping forever as stickers do (APNG's muxer plays once by default)."""
    with av.open(str(path), "w", format="apng", options={"plays": "0"}) as out:
        video = out.add_stream("apng", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "rgba"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(animation(i, True)[..., [2, 1, 0, 3]], format="rgba")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def test_an_apng_named_png_is_told_from_a_still(tmp_path):
    cv2.imwrite(str(tmp_path / "still.png"), animation(0, False))
    assert is_animated_png(make_apng(tmp_path / "anim.png", FRAMES)) and not is_picture(tmp_path / "anim.png")
    assert not is_animated_png(tmp_path / "still.png") and is_picture(tmp_path / "still.png")
    assert not is_animated_png(make_apng(tmp_path / "one.png", 1))  # one frame: FFmpeg writes a plain PNG


def test_an_animated_png_into_png_stays_an_animation(tmp_path, tiny_weights, capsys):
    """OpenCV read its first frame alone, and one picture was written without a word: now every frame, an APNG
    under the .png name asked for (as the input was), looping; into .gif too, and in a folder, under its name."""
    src = make_apng(tmp_path / "anim.png", FRAMES)
    code, _, err = run_cli([str(src), str(tmp_path / "out.png"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    frames, _, loop = pillow_frames(tmp_path / "out.png")
    assert len(frames) == FRAMES and frames[0].shape == (2 * H, 2 * W, 4) and loop == 0
    assert transparent_share(frames) == pytest.approx(transparent_share(pillow_frames(src)[0]), abs=0.03)
    (tmp_path / "in").mkdir()
    src.rename(tmp_path / "in" / "sticker.png")
    code, _, err = run_cli([str(tmp_path / "in"), str(tmp_path / "out"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and len(pillow_frames(tmp_path / "out" / "sticker.png")[0]) == FRAMES, err
