"""Which shipped weights an input gets: judged from its coding, said in the first line (issue #22 item 3)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from kernels.choice import CONTENT_WORDS, ModelChoice
from kernels.pretrained import CODED, CONTENT_WEIGHTS, JUDGED_WEIGHTS, PRETRAINED
from kernels.weights import find_weights
from stream.apps.capture import coding
from stream.content import (
    AV1_HEAVY,
    AV1_LIGHT,
    HEAVY_QP,
    HEVC_HEAVY,
    HEVC_LIGHT,
    JPEG_HEAVY_QUALITY,
    JPEG_LIGHT_QUALITY,
    LIGHT_QP,
    MPEG_HEAVY,
    MPEG_LIGHT,
    VP8_HEAVY,
    VP8_LIGHT,
    VP9_HEAVY,
    VP9_LIGHT,
    for_content,
    jpeg_quality,
    judge,
    judge_degradation,
    judge_picture,
    judge_source,
    loaded_for,
    opening_quantiser,
    source_quantiser,
)
from stream.degrade import parse_degradation
from stream.eval.protocol import picture_quantisers, read_dataset
from stream.eval.video import VideoProtocol, coded_quantisers
from stream.video.frames import Frame
from stream.video.source import VideoSource
from tests.cli_helpers import run_cli
from tests.media import make_clip

CLIP = {"width": 64, "height": 48, "pts_ms": [0, 40, 80], "audio": False}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same frames lossless (FFV1), losslessly by x264 (QP 0), lightly (QP 16) and coarsely by x264 (CRF 35)."""
    folder = tmp_path_factory.mktemp("content")
    return {
        "ffv1": make_clip(folder / "ffv1.mkv", codec="ffv1", **CLIP),
        "x264_qp0": make_clip(folder / "qp0.mp4", encoder={"qp": "0"}, **CLIP),
        "x264_qp16": make_clip(folder / "qp16.mp4", encoder={"qp": "16"}, **CLIP),
        "x264_crf35": make_clip(folder / "crf35.mp4", encoder={"crf": "35"}, **CLIP),
    }


@pytest.mark.parametrize(
    "clip, content, evidence",
    [("ffv1", "clean", "ffv1, lossless"), ("x264_qp0", "clean", "h264, quantiser 0"),
     ("x264_qp16", "light", "h264, quantiser 1"), ("x264_crf35", "heavy", "h264, quantiser ")],
)  # fmt: skip
def test_a_stream_is_judged_by_its_coding(clips, clip, content, evidence):
    with VideoSource(clips[clip]) as source:
        judged = judge_source(source)
    assert judged[0] == content and judged[1].startswith(evidence), judged


def coded_clip(path: Path, codec: str, options: dict[str, str], quantiser: int = 0) -> Path:
    """Six frames of a moving texture coded by `codec` (MPEG at a fixed `quantiser`, its q)."""
    texture = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=25, options=options)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if quantiser:
            video.codec_context.qmin = video.codec_context.qmax = quantiser
        for i in range(6):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.roll(texture, 2 * i, axis=1), format="rgb24")))
        out.mux(video.encode(None))
    return path


@pytest.mark.parametrize(
    "name, codec, options, quantiser, content, evidence",
    [("q1.mpg", "mpeg2video", {}, 1, "light", "mpeg2video, quantiser scale 2 over"),
     ("q4.mpg", "mpeg2video", {}, 4, "compressed", "mpeg2video, quantiser scale 8 over"),
     ("heavy.mpg", "mpeg1video", {}, MPEG_HEAVY // 2, "heavy", f"mpeg1video, quantiser scale {MPEG_HEAVY} over"),
     ("xvid.avi", "mpeg4", {}, MPEG_HEAVY // 2, "heavy", f"mpeg4, quantiser scale {MPEG_HEAVY} over"),
     ("old.wmv", "wmv2", {}, 3, "compressed", "wmv2, quantiser scale 6 over"),
     ("lossless.webm", "libvpx-vp9", {"lossless": "1"}, 0, "clean", "vp9, q index 0 over"),
     ("crf50.webm", "libvpx-vp9", {"crf": "50", "b": "0"}, 0, "compressed", "vp9, q index "),
     ("crf63.mkv", "libvpx-vp9", {"crf": "63", "b": "0"}, 0, "heavy", "vp9, q index 2")],
)  # fmt: skip
def test_mpeg_and_vp9_files_are_judged_by_their_quantisers(
    tmp_path, name, codec, options, quantiser, content, evidence
):
    """DVDs, VCDs and broadcasts (MPEG-2, MPEG-1), XviD AVIs (MPEG-4 Part 2), old web video (WMV) and YouTube's
    VP9 export their quantisers as H.264 does: each is judged on its own scale, whatever its bit rate says."""
    with VideoSource(coded_clip(tmp_path / name, codec, options, quantiser)) as source:
        judged = judge_source(source)
    assert judged[0] == content and judged[1].startswith(evidence), judged


def test_the_quantiser_read_is_the_coders(clips):
    with VideoSource(clips["x264_qp0"]) as lossless, VideoSource(clips["x264_crf35"]) as coarse:
        lossless_qp, coarse_qp = source_quantiser(lossless), source_quantiser(coarse)
        assert lossless_qp == (0, 3) and coarse_qp is not None and coarse_qp[0] > 30 and coarse_qp[1] == 3


@pytest.mark.parametrize(
    "args, content",
    [(("rawvideo",), "clean"), (("h264", (0.0, 9)), "clean"), (("h264", (8.0, 1)), "light"),
     (("h264", (LIGHT_QP, 9)), "light"), (("h264", (LIGHT_QP + 0.1, 9)), "compressed"),
     (("h264", (HEAVY_QP - 0.1, 9)), "compressed"), (("h264", (HEAVY_QP, 9)), "heavy"),
     (("hevc",), "compressed"), (("prores", None, 3.5), "clean"), (("hevc", None, 0.05), "compressed"),
     (("mjpeg", None, 4.0), "compressed"), (("mjpeg", None, 4.0, JPEG_HEAVY_QUALITY), "compressed"),
     (("mjpeg", None, 4.0, JPEG_HEAVY_QUALITY - 0.6), "heavy"), (("webp", None, None, 10.0), "compressed"),
     (("mjpeg", None, None, JPEG_LIGHT_QUALITY - 0.6), "compressed"),
     (("mjpeg", None, None, JPEG_LIGHT_QUALITY - 0.4), "light"),
     (("mjpeg", None, 4.0, JPEG_HEAVY_QUALITY - 0.4), "compressed"),
     (("mpeg2video", (MPEG_LIGHT, 9), 0.1), "light"), (("mpeg2video", (MPEG_LIGHT + 1, 9), 4.0), "compressed"),
     (("mpeg2video", (MPEG_HEAVY - 1, 9), 0.1), "compressed"),
     (("mpeg1video", (MPEG_HEAVY, 9)), "heavy"), (("vp9", (0.0, 9), 0.1), "clean"), (("vp9", (VP9_LIGHT, 9)), "light"),
     (("vp9", (VP9_LIGHT + 1, 9), 4.0), "compressed"), (("vp9", (VP9_HEAVY - 1, 9)), "compressed"),
     (("vp9", (VP9_HEAVY, 9)), "heavy"),
     (("hevc", (HEVC_LIGHT, 9), 0.05), "light"), (("hevc", (HEVC_LIGHT + 1, 9)), "compressed"),
     (("hevc", (HEVC_HEAVY, 9)), "heavy"), (("av1", (0.0, 9)), "clean"), (("av1", (AV1_LIGHT, 9), 0.05), "light"),
     (("av1", (AV1_LIGHT + 1, 9)), "compressed"), (("av1", (AV1_HEAVY - 1, 9)), "compressed"),
     (("av1", (AV1_HEAVY, 9)), "heavy"), (("av1", None, 0.05), "compressed"), (("vp8", (VP8_LIGHT, 9)), "light"),
     (("vp8", (VP8_LIGHT + 1, 9)), "compressed"), (("vp8", (VP8_HEAVY, 9)), "heavy")],
)  # fmt: skip
def test_the_rule(args, content):
    """Lossless codecs are clean; a quantiser decides before bits per pixel, on its codec's scale (0 lossless, to
    LIGHT_QP lightly coded, from HEAVY_QP heavily compressed; the MPEG family's and VP9's alike), and only where the
    codec has a scale; a lossy codec with no evidence is compressed; JPEG by its quality however many bits it
    spends (read to within 0.5, rounded to libjpeg's scale), below JPEG_HEAVY_QUALITY heavily compressed, from
    JPEG_LIGHT_QUALITY lightly coded."""
    assert judge(*args)[0] == content


@pytest.mark.parametrize(
    "spec, content",
    [("x264:crf=23", "compressed"), ("x264:crf=18", "light"), ("x264:crf=33", "heavy"),
     (f"x265:crf={HEVC_HEAVY}", "heavy"), ("x265:crf=8", "light"), ("jpeg:q=20", "heavy"),
     ("jpeg:q=90", "compressed"), ("jpeg:q=98", "light"), ("mpeg2:q=2", "light"), ("mpeg2:q=4", "compressed"),
     (f"mpeg2:q={MPEG_HEAVY // 2}", "heavy"), (f"mpeg4:q={MPEG_HEAVY // 2 - 1}", "compressed"),
     ("vp9:crf=5", "light"), ("vp9:crf=40", "light"), ("vp9:crf=45", "compressed"), ("vp9:crf=63", "heavy"),
     ("av1:crf=20", "light"), (f"av1:crf={AV1_LIGHT // 4 + 1}", "compressed"), ("av1:crf=63", "heavy"),
     ("vp8:q=12", "light"), ("vp8:q=14", "compressed"), ("vp8:q=40", "heavy")],
)  # fmt: skip
def test_evaluation_judges_coded_lr_as_the_product_would_such_input(spec, content):
    """Where no quantiser was read, what the spec asked stands in for it: x264's CRF for H.264's
    quantiser, x265's for HEVC's, MPEG-2's q for its quantiser_scale (twice it), VP9's and AV1's CRF for the q
    index libvpx and SVT-AV1 aim at, VP8's fixed quantiser for its q index (libvpx's q_trans)."""
    judged = judge_degradation(parse_degradation(spec), "bicubic")
    assert judged is not None and judged[0] == content


def test_coded_lr_is_judged_by_its_quantiser_where_read():
    """x264 codes at its CRF only on average (the clips' 4 frames at CRF 23 read 19 to 32): where the
    coded LR's quantiser was read, it judges, as the product judges a file."""
    crf35 = parse_degradation("x264:crf=35")
    assert judge_degradation(crf35, "bicubic", 24.0) == ("compressed", "x264 CRF 35, quantiser 24")
    assert judge_degradation(crf35, "bicubic", 20.0) == ("light", "x264 CRF 35, quantiser 20")
    # past the light bound by a hair, said so: it read "quantiser 21", which the README calls lightly coded
    assert judge_degradation(crf35, "bicubic", 21.22) == ("compressed", "x264 CRF 35, quantiser 21.22")
    assert judge("h264", (21.5, 9)) == ("compressed", "h264, quantiser 21.5 over its first 9 frames")
    assert judge_degradation(parse_degradation("x264:crf=18"), "bicubic", 36.0)[0] == "heavy"
    assert judge_degradation(crf35, "bicubic") == ("heavy", "x264 CRF 35")
    mpeg2, vp9 = parse_degradation("mpeg2:q=2"), parse_degradation("vp9:crf=30")
    assert judge_degradation(mpeg2, "bicubic", MPEG_HEAVY) == ("heavy", f"MPEG-2 q 2, quantiser scale {MPEG_HEAVY}")
    assert judge_degradation(vp9, "bicubic", 10.0)[0] == "light"
    assert judge_degradation(vp9, "bicubic", 190.0) == ("compressed", "VP9 CRF 30, q index 190")
    x265 = parse_degradation("x265:crf=8")
    assert judge_degradation(x265, "bicubic", HEVC_HEAVY) == ("heavy", f"x265 CRF 8, quantiser {HEVC_HEAVY}")


def test_evaluation_restores_coded_lr_with_the_set_its_quantiser_picks():
    """eval-video and benchmarks.degraded read the coded LR of each spec whose codec the product reads
    (x264, x265, MPEG-2, VP9, AV1) first (a pass of its own) and load the set the product would run on a file coded
    so."""
    crf18, crf35, jpeg, x265, mpeg2, vp9, av1 = map(
        parse_degradation,
        ("x264:crf=18", "x264:crf=35", "jpeg:q=90", "x265:crf=28", "mpeg2:q=6", "vp9:crf=40", "av1:crf=40"),
    )
    protocol = VideoProtocol(2, (crf18, crf35, jpeg, x265, mpeg2, vp9, av1), "bicubic", 32)
    quantisers = coded_quantisers(Path("samples/sample.mp4"), protocol, 2)
    assert set(quantisers) == {crf18, crf35, x265, mpeg2, vp9, av1} and quantisers[crf18] < quantisers[crf35]
    assert quantisers[mpeg2] == 12 and quantisers[vp9] > 100 and quantisers[av1] > 100
    models = loaded_for(ModelChoice(units=1, precision="fp32"), [crf35, jpeg], "bicubic", {crf35: 24.0})
    assert models[crf35] is models[jpeg]  # judged compressed by its quantiser, as JPEG is
    assert models[crf35].ran.weights.startswith(f"{JUDGED_WEIGHTS['compressed']} (")
    assert "x264 CRF 35, quantiser 24, JPEG quality 90" in models[crf35].ran.content


def test_pictures_by_format(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8)
    paths = {"a.png": [], "a.jpg": [], "fine.jpg": [cv2.IMWRITE_JPEG_QUALITY, 98],
             "coarse.jpg": [cv2.IMWRITE_JPEG_QUALITY, 30],
             "lossy.webp": [cv2.IMWRITE_WEBP_QUALITY, 80],
             "lossless.webp": [cv2.IMWRITE_WEBP_QUALITY, 101]}  # fmt: skip
    for name, options in paths.items():
        assert cv2.imwrite(str(tmp_path / name), image, options)
    kinds = {name: judge_picture(tmp_path / name) for name in paths}
    assert kinds == {"a.png": ("clean", "PNG, lossless"), "a.jpg": ("compressed", "JPEG quality 95"),
                     "fine.jpg": ("light", "JPEG quality 98"),
                     "coarse.jpg": ("heavy", "JPEG quality 30"), "lossy.webp": ("compressed", "WebP"),
                     "lossless.webp": ("clean", "WebP, lossless")}  # fmt: skip


@pytest.mark.parametrize("quality", [20, 50, 78, 95, 98])
def test_a_jpegs_quality_is_read_from_its_table(quality):
    """libjpeg's quality, as the table it scaled says it (8-bit tables clip below about 15)."""
    image = np.random.default_rng(1).integers(0, 255, (16, 24), np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok and jpeg_quality(data.tobytes()) == pytest.approx(quality, abs=0.5)
    assert jpeg_quality(data.tobytes()[:20]) is None  # cut before its table ends


@pytest.mark.parametrize("qscale, content", [(2, "compressed"), (20, "heavy")])
def test_an_mjpeg_stream_is_judged_by_its_quality(tmp_path, qscale, content):
    """FFmpeg's MJPEG scales its own table by qscale: read as the libjpeg quality as coarse (2: 93, 20: 35)."""
    path = tmp_path / f"q{qscale}.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-frames:v", "2",
                    "-c:v", "mjpeg", "-q:v", str(qscale), str(path)], check=True)  # fmt: skip
    with VideoSource(path) as source:
        judged = judge_source(source)
    assert judged[0] == content and judged[1].startswith("JPEG quality "), judged


def test_named_weights_or_content_are_kept():
    judged = ("compressed", "h264, quantiser 31")
    assert for_content(ModelChoice("w.safetensors"), judged).weights_name == "w.safetensors"
    assert for_content(ModelChoice(content="clean"), judged).weights_name == CONTENT_WEIGHTS["clean"]
    auto = for_content(ModelChoice(), judged)
    assert auto.weights_name == JUDGED_WEIGHTS["compressed"] and auto.evidence == "h264, quantiser 31"
    assert for_content(ModelChoice(), ("clean", "ffv1, lossless")).weights_name == JUDGED_WEIGHTS["clean"]
    assert ModelChoice().weights_name == CONTENT_WEIGHTS["clean"]  # nothing judged: the papers' set


def test_real_input_runs_the_set_for_its_coding_and_asked_each_runs():
    """Measured on the clips (docs/QUALITY.md): lossless real input runs the coded set (it equals the clean set on
    LR from bicubic and gains more from lanczos or area), compressed input the set trained for it (more gain on
    coded LR, 0.8 dB less on lossless), heavily compressed input the heavy set; asked, each runs."""
    assert JUDGED_WEIGHTS["clean"] == CODED != JUDGED_WEIGHTS["compressed"] == CONTENT_WEIGHTS["compressed"]
    assert JUDGED_WEIGHTS["light"] == CONTENT_WEIGHTS["light"] == CODED  # at its own depth
    heavy = JUDGED_WEIGHTS["heavy"]
    assert heavy == CONTENT_WEIGHTS["heavy"] not in (JUDGED_WEIGHTS["compressed"], CONTENT_WEIGHTS["clean"], CODED)


def test_every_set_ships():
    assert set(CONTENT_WEIGHTS.values()) <= set(PRETRAINED) and len(set(CONTENT_WEIGHTS.values())) == 4
    assert set(JUDGED_WEIGHTS.values()) <= set(PRETRAINED) and len(set(JUDGED_WEIGHTS.values())) == 3


def test_the_first_line_says_which_weights_ran_and_why(clips, tmp_path, capsys):
    """Lossless and CRF 35 input run the sets for such real input, each saying why; the CRF 35 one at the
    depth its set records for heavily compressed input."""
    lines = {}
    for clip, units in (("ffv1", ["--units", "1"]), ("x264_crf35", [])):
        out = tmp_path / f"{clip}.mkv"
        code, _, err = run_cli([str(clips[clip]), str(out), *units, "--precision", "fp32"], capsys)
        assert code == 0, err
        lines[clip] = err.splitlines()[0]
    assert f"DRRN {JUDGED_WEIGHTS['clean']} (" in lines["ffv1"]
    assert "for clean input (ffv1, lossless)" in lines["ffv1"]
    heavy_units, trained = ModelChoice(content="heavy").content_units, find_weights(JUDGED_WEIGHTS["heavy"]).units
    assert f"DRRN {JUDGED_WEIGHTS['heavy']} (B1U{trained})" in lines["x264_crf35"]
    depth = f", run at {heavy_units} units" if heavy_units != trained else ""  # the depth its curves chose
    assert f" dB{depth}, for heavily compressed input (h264, quantiser " in lines["x264_crf35"]


@pytest.mark.parametrize("kind", ["light", "heavy"])
def test_lightly_and_heavily_coded_input_run_at_their_own_depth(kind):
    """The coded set records its depth curves on the clips' lightly coded LR, the heavy set on their heavily coded
    LR: such input runs the cheapest depth close to the best there (fewer units than clean input's, for which the
    coded set runs deeper), unless --units asks; others as before."""
    coded, default = ModelChoice(content=kind), ModelChoice(content="clean")
    assert coded.content_units is not None and default.content_units is None
    clean = for_content(ModelChoice(), ("clean", "ffv1, lossless"))
    assert coded.resolve().units == coded.content_units < clean.resolve().units
    assert ModelChoice(content=kind, units=5).resolve().units == 5
    assert ModelChoice(CONTENT_WEIGHTS[kind], content=kind).content_units is None  # named: its own default


def test_content_and_weights_exclude_each_other(clips, tmp_path, capsys):
    args = [str(clips["ffv1"]), str(tmp_path / "o.mkv"), "--weights", "x.safetensors", "--content", "clean"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "--content clean picks among the shipped weights" in err and err.count("\n") == 1


def test_content_asked_overrides_the_judgement(clips, tmp_path, capsys):
    args = [str(clips["ffv1"]), str(tmp_path / "o.mkv"), "--units", "1", "--precision", "fp32"]
    code, _, err = run_cli([*args, "--content", "compressed"], capsys)
    assert code == 0 and f"DRRN {CONTENT_WEIGHTS['compressed']} (" in err.splitlines()[0]
    assert "for compressed input (as asked)" in err.splitlines()[0]


def test_evaluation_scores_what_each_coding_gets(tiny_weights):
    """Clean LR and coded LR get the sets a user's run on them would: the papers' protocol (clean LR by
    MATLAB's bicubic) the clean set; named weights serve both, loaded once."""
    specs = [parse_degradation("clean"), parse_degradation("x264:crf=23")]
    for kernel, clean in (("matlab", CONTENT_WEIGHTS["clean"]), ("bicubic", JUDGED_WEIGHTS["clean"])):
        models = loaded_for(ModelChoice(units=1, precision="fp32"), specs, kernel)
        assert [models[d].ran.weights.split(" ")[0] for d in specs] == [clean, JUDGED_WEIGHTS["compressed"]]
    named = loaded_for(ModelChoice(str(tiny_weights), precision="fp32"), specs, "bicubic")
    assert named[specs[0]] is named[specs[1]]


def test_eval_video_reports_the_weights_per_spec(capsys):
    args = ["eval-video", "samples/sample.mp4", "--frames", "1", "--crop", "32", "--units", "1", "--json",
            "--degrade", "clean", "--degrade", "x264:crf=35"]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    weights = [r["weights"].split(" ")[0] for r in json.loads(out)["results"]]
    assert weights == [CONTENT_WEIGHTS["clean"], CONTENT_WEIGHTS["heavy"]]  # CRF 35: heavily compressed


def test_eval_judges_a_pictures_coded_lr_by_the_quantiser_it_reads(tmp_path, capsys):
    """A lone picture coded by x264 at CRF 18 reads a quantiser of about 25 (x264 codes a single frame coarser than
    its CRF): `eval` reads it, as the product reads a file's, and restores that LR with the set it picks."""
    for i in range(2):
        texture = np.random.default_rng(i).integers(0, 256, (64, 96), dtype=np.uint8)
        assert cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.GaussianBlur(texture, (5, 5), 1.5))
    crf18 = parse_degradation("x264:crf=18")
    (quantiser,) = picture_quantisers({"pictures": read_dataset(tmp_path)}, [2], [crf18], "bicubic").values()
    assert quantiser > LIGHT_QP  # the CRF asked would say lightly coded
    args = ["eval", "--dataset", str(tmp_path), "--downscale", "bicubic", "--degrade", "x264:crf=18", "--units", "1",
            "--json"]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert f"x264 CRF 18, quantiser {quantiser:.0f}" in err
    assert json.loads(out)["results"][0]["weights"].startswith(JUDGED_WEIGHTS["compressed"] + " ")


class FakeCapture:
    def __init__(self, fourcc: str) -> None:
        self.fourcc = int.from_bytes(fourcc.encode("latin-1"), "little") if fourcc else 0

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_FOURCC
        return float(self.fourcc)


@pytest.mark.parametrize(
    "fourcc, codec", [("MJPG", "mjpeg"), ("YUYV", "rawvideo"), ("", "rawvideo"), ("avc1", "h264"), ("mp4v", "mp4v")]
)
def test_a_camera_says_its_coding(fourcc, codec):
    assert coding(FakeCapture(fourcc)) == codec  # type: ignore[arg-type]


def test_a_folder_says_its_files_pick_their_sets(tmp_path, capsys):
    """Each set with the depth and precision it runs at: the header, resolved for the clean set alone, said "in
    int8" where at 25 units the compressed set's int8 (calibrated for fewer) runs in bf16, and no depth at all."""
    (tmp_path / "in").mkdir()
    image = np.random.default_rng(1).integers(0, 255, (16, 24, 3), np.uint8)
    for name in ("a.jpg", "b.png"):
        assert cv2.imwrite(str(tmp_path / "in" / name), image)
    code, _, err = run_cli([str(tmp_path / "in"), str(tmp_path / "out"), "--units", "25"], capsys)
    assert code == 0, err
    header = err.splitlines()[0]
    assert "DRRN by each file's coding: " in header and (tmp_path / "out" / "a.jpg").is_file()
    for kind in ("clean", "compressed", "heavy"):
        ran = ModelChoice(units=25, content=kind, evidence="judged").resolve()  # as a file judged so runs
        said = f"{JUDGED_WEIGHTS[kind]}{', run at 25 units' * (ran.trained_units != 25)} for {CONTENT_WORDS[kind]}"
        assert said in header and f"in {ran.how}" in header, (said, header)


def test_the_quantiser_is_read_the_same_every_time(tmp_path):
    """A frame-threaded decoder hands the first frame over with its quantisers half written: this clip
    read 31.0, then 0.6, 0.4, ... (judged clean) in consecutive opens. The source decodes it again
    with one thread, and reads the coder's value every time."""
    clip = make_clip(tmp_path / "two.mp4", width=640, height=480, pts_ms=[0, 40], audio=False, encoder={"crf": "23"})
    readings = set()
    for _ in range(6):
        with VideoSource(clip) as source:
            readings.add(source_quantiser(source))
    assert len(readings) == 1 and readings.pop()[0] > 10


def test_a_fade_from_black_is_judged_by_the_frames_after_it(tmp_path):
    """x264 codes a black opening frame far finer than its CRF (QP 8 at CRF 23 here): judged by it alone,
    this compressed clip would get the clean set. A file is judged by its opening frames; a pipe, read
    once, alike: by as many, read ahead of its decoder."""
    clip = tmp_path / "fade.mp4"
    texture = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"crf": "23"})
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        for i in range(12):
            image = np.zeros_like(texture) if i < 2 else np.roll(texture, i, axis=1)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
    with VideoSource(clip) as source:
        first = opening_quantiser(source.video.codec_context, source.first_packets[:1])
        judged = judge_source(source)
    assert first is not None and first[0] <= 10 and first[1] == 1, first
    assert judged[0] != "clean" and judged[1].endswith("over its first 12 frames"), judged
    with clip.open("rb") as pipe, VideoSource(pipe) as source:
        piped = judge_source(source)
        frames = [item.pts for item in source if isinstance(item, Frame)]
        errors = source.errors.count  # read ahead to its end: the end is met once, no damage
    assert piped == judged and frames == list(range(0, 12 * 512, 512)), (piped, frames)  # every frame still comes
    assert errors == 0


def test_a_named_pipe_is_read_once(clips, tmp_path):
    """A path that is not a regular file (a FIFO, /dev/stdin) is not opened a second time for the
    quantiser: that would take the stream's bytes from the run."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = clips["x264_crf35"].read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)  # a failed open leaves it blocked
    writer.start()
    with VideoSource(fifo) as source:
        assert source.reopen is None
        judged = judge_source(source)
        frames = sum(1 for item in source if isinstance(item, Frame))
    writer.join()
    assert judged[0] == "heavy" and frames == 3, (judged, frames)  # CRF 35


def test_a_cut_is_judged_by_the_frames_it_shows(tmp_path):
    """A clip cut after a keyframe without re-encoding opens with frames its edit list discards; they
    give no quantiser, so the frames after them are read, up to the frames it shows."""
    clip = make_clip(tmp_path / "long.mp4", pts_ms=[40 * i for i in range(100)], audio=False,
                     encoder={"crf": "30", "g": "100"})  # fmt: skip
    cut = tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "2.4", "-i", str(clip), "-c", "copy", str(cut)], check=True)
    with VideoSource(cut) as source:
        judged = judge_source(source)
    assert judged[0] == "heavy" and judged[1].endswith("over its first 40 frames"), judged  # CRF 30
