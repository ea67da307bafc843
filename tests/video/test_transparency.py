"""Animations and transparency: GIF and APNG in and out, alpha carried where the output holds it."""

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from PIL import Image

from kernels.choice import ModelChoice
from kernels.metrics import psnr
from stream.errors import UserError
from stream.video.chroma import fill_transparent
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.palette import Palettes
from stream.video.reencode import muxer_holds
from stream.video.sink import EncodeOptions, encoder_format
from tests.cli_helpers import run_cli

W, H, FRAMES = 32, 24, 6


def animation(frame: int, transparent: bool) -> np.ndarray:
    """BGRA: a smooth colour ramp (what a palette must keep), and where `transparent`, a disc moving right
    with nothing around it."""
    y, x = np.mgrid[:H, :W]
    bgra = np.stack([x * 255 // W, y * 255 // H, np.full_like(x, 128), np.full_like(x, 255)], axis=-1).astype(np.uint8)
    if transparent:
        bgra[..., 3] = np.where((x - 8 - 3 * frame) ** 2 + (y - H // 2) ** 2 < 40, 255, 0)
    return bgra


def make_gif(path: Path, transparent: bool) -> Path:
    """A 10 fps GIF as tools write them: each frame on its own palette, transparency as a palette entry."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("gif", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "pal8"
        palettes = Palettes(W, H, Fraction(1, 10))
        for i in [*range(FRAMES), None]:
            frame = None
            if i is not None:
                frame = av.VideoFrame.from_ndarray(animation(i, transparent), format="bgra")
                frame.pts, frame.time_base = i, Fraction(1, 10)
            for mapped in palettes.push(frame):
                for packet in video.encode(mapped):
                    out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def decoded(path: Path, decoder: str | None = None) -> tuple[list[np.ndarray], list[int]]:
    """Every frame as RGBA, and the packets' times (in the stream's time base); `decoder` by name (libvpx
    decodes VP9's alpha, FFmpeg's own VP9 decoder leaves it out)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = av.CodecContext.create(decoder, "r") if decoder else stream.codec_context
        packets = [p for p in container.demux(stream) if p.size]
        frames = [f for p in [*packets, None] for f in codec.decode(p)]
        return [f.to_ndarray(format="rgba") for f in frames], [p.pts for p in packets]


def run(src: Path, dst: Path, weights: Path, codec: str | None = None) -> None:
    enhance_file(src, dst, EnhanceOptions(model=ModelChoice(weights), encode=EncodeOptions(codec=codec)))


def transparent_share(frames: list[np.ndarray]) -> list[float]:
    return [float((f[..., 3] < 128).mean()) for f in frames]


@pytest.mark.parametrize(
    ("suffix", "decoder"), [(".gif", None), (".apng", None), (".webm", "libvpx-vp9"), (".webm", "libvpx")]
)
def test_a_transparent_animation_keeps_its_transparency_frames_and_times(tmp_path, tiny_weights, suffix, decoder):
    """A sticker GIF into GIF, APNG or WebM (VP9, or VP8 asked for): every frame, twice the size, at the input's
    times, the same part of each frame transparent (the alpha upscaled as chroma is), the moving disc opaque where
    it moved to."""
    src = make_gif(tmp_path / "in.gif", transparent=True)
    dst = tmp_path / f"out{suffix}"
    run(src, dst, tiny_weights, codec=decoder if decoder == "libvpx" else None)
    before, times = decoded(src)
    after, _ = decoded(dst, decoder)
    assert len(after) == FRAMES and after[0].shape == (2 * H, 2 * W, 4)
    assert transparent_share(after) == pytest.approx(transparent_share(before), abs=0.03)
    assert 0.5 < transparent_share(after)[0] < 0.95
    for i, frame in enumerate(after):  # the disc's centre is opaque, a corner is not
        assert frame[H, 2 * (8 + 3 * i), 3] == 255 and frame[0, -1, 3] == 0
    if suffix == ".gif":
        assert decoded(dst)[1] == times  # GIF's centiseconds, as the input's
    if suffix == ".webm":  # Matroska's AlphaMode, without which browsers show the alpha's picture as nothing
        with av.open(str(dst)) as container:
            assert container.streams.video[0].metadata.get("alpha_mode") == "1"


@pytest.mark.parametrize("encoder", ["libvpx-vp9", "libvpx"])
def test_a_transparent_webm_is_decoded_with_its_alpha(tmp_path, tiny_weights, encoder):
    """A WebM sticker (VP9 or VP8 with Matroska's alpha, which FFmpeg's own decoders leave out) into APNG:
    decoded by libvpx, its transparency kept, frame by frame."""
    src = tmp_path / "in.webm"
    with av.open(str(src), "w") as out:
        video = out.add_stream(encoder, rate=10)
        video.width, video.height, video.pix_fmt = W, H, "yuva420p"
        video.options = {"auto-alt-ref": "0"}  # libvpx's VP8 codes no alpha with alternate references
        frames = [av.VideoFrame.from_ndarray(animation(i, True), format="bgra") for i in range(FRAMES)]
        for frame in [*(f.reformat(format="yuva420p") for f in frames), None]:
            out.mux(video.encode(frame))
    run(src, tmp_path / "out.apng", tiny_weights)
    after, _ = decoded(tmp_path / "out.apng")
    assert len(after) == FRAMES
    made = [animation(i, True) for i in range(FRAMES)]
    assert transparent_share(after) == pytest.approx(transparent_share(made), abs=0.03)
    assert all(frame[H, 2 * (8 + 3 * i), 3] == 255 and frame[0, -1, 3] == 0 for i, frame in enumerate(after))
    run(src, tmp_path / "opaque.mkv", tiny_weights, codec="libx264")  # the input's AlphaMode is not copied as a tag
    with av.open(str(tmp_path / "opaque.mkv")) as container:
        assert "alpha_mode" not in {key.lower() for key in container.streams.video[0].metadata}


def test_a_gif_gets_a_palette_of_its_own_colours_per_frame(tmp_path, identity_weights):
    """With DRRN an identity, the GIF written is the bicubic upscale mapped onto 256 colours: each frame's own
    palette keeps a ramp of some 2,000 colours within a few levels, where swscale's fixed 3-3-2 palette (FFmpeg's
    without filters) bands it at 32 levels a step in red and green."""
    src = make_gif(tmp_path / "in.gif", transparent=False)
    gif, mkv = tmp_path / "out.gif", tmp_path / "out.mkv"
    run(src, gif, identity_weights)
    run(src, mkv, identity_weights, codec="ffv1")
    (paletted, _), (exact, _) = decoded(gif), decoded(mkv)
    for p, e in zip(paletted, exact, strict=True):
        rgb = np.ascontiguousarray(e[..., :3])
        fixed = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="rgb8").to_ndarray(format="rgb24")
        assert psnr(torch.from_numpy(p[..., :3]), torch.from_numpy(rgb)) > 33  # 35.0
        assert psnr(torch.from_numpy(fixed), torch.from_numpy(rgb)) < 25  # 20.7


def test_an_opaque_gif_carries_no_alpha_and_a_transparent_one_says_what_drops_it(tmp_path, tiny_weights, capsys):
    """Every GIF decodes to BGRA: one opaque throughout is worked as YUV 4:4:4, nothing said; a transparent one
    into MP4 (H.264 holds no alpha) or Ogg (VP8's alpha rides beside its picture, which only Matroska carries)
    says in one line that its transparency is dropped."""
    opaque, transparent = make_gif(tmp_path / "o.gif", False), make_gif(tmp_path / "t.gif", True)
    code, _, err = run_cli(["--weights", str(tiny_weights), str(opaque), str(tmp_path / "o.mp4")], capsys)
    assert code == 0 and "transparency" not in err and " bgra -> 64x48 yuv444p;" in err
    code, _, err = run_cli(["--weights", str(tiny_weights), str(transparent), str(tmp_path / "t.mp4")], capsys)
    assert code == 0 and "libx264 in mp4 holds no transparency: the input's is dropped" in err
    assert min(transparent_share(decoded(tmp_path / "t.mp4")[0])) == 0
    code, _, err = run_cli(["--weights", str(tiny_weights), str(transparent), str(tmp_path / "t.ogv")], capsys)
    assert code == 0 and "libvpx in ogv holds no transparency" in err  # coded opaque: VP8's alpha needs Matroska
    code, _, err = run_cli(["--weights", str(tiny_weights), "--codec", "libvpx-vp9", str(transparent),
                            str(tmp_path / "t9.mp4")], capsys)  # fmt: skip
    assert code == 0 and "libvpx-vp9 in mp4 holds no transparency" in err
    assert "encoding yuva420p" not in err  # what is coded is said: 4:4:4 without alpha, as the input's planes are


def disc_on_white(src: Path) -> Path:
    """A dark disc on transparent white (what a GIF's transparent entry often holds), moving, in two frames."""
    with av.open(str(src), "w") as out:
        video = out.add_stream("apng", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "rgba"
        for i in range(2):
            rgba = animation(i, transparent=True)
            rgba[..., :3] = np.where(rgba[..., 3:] > 0, [40, 60, 80], 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return src


def test_the_colour_under_transparent_pixels_does_not_fringe_the_edges(tmp_path, identity_weights):
    """With DRRN an identity, the upscaled disc's visible edge keeps the disc's colour, where blending with the
    white under the transparent pixels would lighten it by tens of levels."""
    run(disc_on_white(tmp_path / "in.apng"), tmp_path / "out.apng", identity_weights)
    for frame in decoded(tmp_path / "out.apng")[0]:
        visible = frame[frame[..., 3] > 0][:, :3].astype(int)
        assert len(visible) > 100 and np.abs(visible - [40, 60, 80]).max() <= 3


@pytest.mark.parametrize("chunked", [False, True])
def test_where_transparency_is_dropped_what_it_hid_shows(tmp_path, identity_weights, capsys, chunked):
    """Into MP4 (H.264 holds no alpha) the hidden white showed as the disc's colour smeared over it: the fill that
    keeps a kept alpha's edges clean, where ffmpeg, PIL and every player show the colours the alpha hid."""
    src = disc_on_white(tmp_path / "in.apng")
    chunks = ["--chunk-seconds", "0.1"] if chunked else []
    code, _, err = run_cli(["--weights", str(identity_weights), *chunks, str(src), str(tmp_path / "out.mp4")], capsys)
    assert code == 0 and "transparency" in err and "dropped" in err
    shown, alphas = decoded(tmp_path / "out.mp4")[0], [f[..., 3].repeat(2, 0).repeat(2, 1) for f in decoded(src)[0]]
    assert len(shown) == len(alphas) == 2
    for frame, alpha in zip(shown, alphas, strict=True):  # white, but for the disc's edges (a fill was its colour)
        assert np.abs(frame[..., :3][alpha == 0].astype(int) - 255).mean() < 20


def test_filling_keeps_what_is_visible_and_reaches_every_hidden_pixel():
    plane = np.full((24, 32), 235, np.uint8)
    plane[8:16, 4:12], plane[8:16, 20:28] = 40, 100
    alpha = np.zeros_like(plane)
    alpha[8:16, 4:12] = alpha[8:16, 20:28] = 255
    filled = fill_transparent(plane, alpha)
    assert np.array_equal(filled[alpha > 0], plane[alpha > 0]) and filled[12, 0] == 40 and filled[12, 31] == 100
    assert 40 < filled[12, 16] < 100  # between the two: a mean of both
    chroma = fill_transparent(plane[::2, ::2].copy(), alpha)  # 4:2:0 chroma under the full-size alpha
    assert chroma.shape == (12, 16) and chroma.max() == 100
    assert fill_transparent(plane, np.full_like(alpha, 255)) is plane


@pytest.mark.parametrize(
    ("fmt", "codec", "expected"),
    [
        ("yuva444p", "libvpx-vp9", "yuva420p"),  # libvpx codes alpha only in 4:2:0, though it lists 4:4:4
        ("yuva444p", "libx264", "yuv444p"),  # no alpha in H.264: the chroma kept
        ("yuva444p", "ffv1", "yuva444p"),
        ("yuva444p", "apng", "rgba"),
        ("yuva420p10le", "png", "rgba64be"),
        ("yuv444p", "gif", "pal8"),  # through video/palette.py
        ("yuv420p", "prores_ks", "yuv422p10le"),  # ProRes codes 10 bits only: its first format
        ("yuv444p", "prores_ks", "yuv444p10le"),
        ("yuva420p", "prores_ks", "yuva444p10le"),  # ProRes 4444 holds alpha (its 4:2:2, first, had dropped it)
        ("yuv420p10le", "libx264", "yuv420p10le"),
        ("yuv422p10le", "utvideo", "yuv422p"),  # 8 bits only: the layout kept, as ffmpeg keeps it (was 4:2:0)
        ("yuv422p10le", "mpeg2video", "yuv422p"),
        ("yuv444p10le", "libvpx-vp9", "yuv444p"),
    ],
)
def test_each_encoder_gets_the_nearest_format_it_takes(fmt, codec, expected):
    assert encoder_format(fmt, av.Codec(codec, "w")) == expected


def test_an_encoder_that_takes_only_a_devices_frames_is_refused_in_one_line():
    with pytest.raises(UserError, match="takes none of the formats"):
        encoder_format("yuv420p", SimpleNamespace(name="h264_vaapi", video_formats=[av.VideoFormat("vaapi")]))


def test_gif_and_apng_hold_their_own_codec_only():
    """The muxer trial takes GIF's video though GIF's muxer refuses the trailer of no frame."""

    def video(codec: str, pix_fmt: str):
        def add(trial):
            stream = trial.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
            return stream

        return add

    assert muxer_holds("gif", video("gif", "pal8")) and muxer_holds("apng", video("apng", "rgba"))
    assert not muxer_holds("gif", video("libx264", "yuv420p"))


@pytest.mark.parametrize("suffix", [".gif", ".apng", ".webp", ".mp4", ".mkv"])
def test_the_last_frame_keeps_its_hold(tmp_path, tiny_weights, suffix):
    """An animation that pauses on its last frame (1 s, the others 0.1 s): muxers time a frame by the next one's
    pts, and the last one's by its packet's duration, else by a guess (the previous frame's, or the rate's): the
    output lasted 0.4 to 0.62 s of the input's 1.3. APNG and WebP hold it in their packets' bytes."""
    src = tmp_path / "in.gif"
    with av.open(str(src), "w") as out:
        video = out.add_stream("gif", rate=10)
        video.width, video.height, video.pix_fmt = W, H, "rgb8"
        video.time_base = video.codec_context.time_base = Fraction(1, 100)
        for i, (pts, duration) in enumerate([(0, 10), (10, 10), (20, 10), (30, 100)]):
            bgr = animation(i, False)[..., :3].copy()
            bgr[:, : 4 * (i + 1)] = 0  # frames that differ (libwebp merges equal ones into one)
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="rgb8")
            frame.pts, frame.time_base = pts, Fraction(1, 100)
            for packet in video.encode(frame):
                packet.duration = duration
                out.mux(packet)
        out.mux(video.encode(None))
    run(src, tmp_path / f"out{suffix}", tiny_weights)
    if suffix in (".gif", ".apng", ".webp"):  # each frame's delay, as browsers read it
        with Image.open(tmp_path / f"out{suffix}") as out:
            delays = []
            for i in range(out.n_frames):
                out.seek(i)
                out.load()
                delays.append(round(out.info["duration"]))
        assert delays == [100, 100, 100, 1000]
        return
    with av.open(str(tmp_path / f"out{suffix}")) as container:
        assert container.duration == 1_300_000  # microseconds: what players show and play
        assert len([p for p in container.demux(container.streams.video[0]) if p.size]) == 4
