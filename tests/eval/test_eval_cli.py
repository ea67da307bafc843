import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli_helpers import run_cli
from tests.media import make_clip


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "Tiny"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "colour.png"), rng.integers(0, 256, (26, 30, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "grey.png"), rng.integers(0, 256, (24, 24), dtype=np.uint8))
    return folder


def test_eval_json_is_one_object_with_every_field(dataset, tiny_weights, capsys):
    code, out, err = run_cli(
        ["eval", "--dataset", str(dataset), "--scale", "2", "--scale", "3", "--scale", "2", "--weights",
         str(tiny_weights), "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)["results"]
    assert [(r["dataset"], r["scale"], r["images"]) for r in results] == [("Tiny", 2, 2), ("Tiny", 3, 2)]  # x2 once
    for r in results:
        assert set(r) == {"dataset", "scale", "degrade", "downscale", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic",
                          "images", "seconds", "exact", "weights", "units"}  # fmt: skip
        assert (r["degrade"], r["downscale"]) == ("clean", "matlab")  # the papers' protocol unless asked
        assert 5 < r["psnr_bicubic"] < 60 and r["seconds"] > 0
        assert abs(r["psnr"] - r["psnr_bicubic"]) > 0.01  # tiny_weights change the picture


def test_eval_scores_the_model_output_not_its_input(dataset, identity_weights, capsys):
    """Zero weights return the bicubic input: DRRN's scores must then be bicubic's, to the last digit."""
    code, out, err = run_cli(
        ["eval", "--dataset", str(dataset), "--scale", "3", "--weights", str(identity_weights), "--json"], capsys
    )
    assert code == 0, err
    [r] = json.loads(out)["results"]
    assert (r["psnr"], r["ssim"]) == (r["psnr_bicubic"], r["ssim_bicubic"])


def test_eval_table_and_tiled_mode(dataset, tiny_weights, capsys):
    code, out, err = run_cli(
        ["eval", "--dataset", str(dataset), "--weights", str(tiny_weights), "--tile", "16", "--halo", "4"], capsys
    )
    assert code == 0, err
    assert "Tiny" in out and "x2" in out and "tiles 16 + halo 4" in err


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, w: ["--dataset", str(d / "absent"), "--weights", str(w)], "no such folder"),
        (lambda d, w: ["--dataset", str(d / "empty"), "--weights", str(w)], "no images in it"),
        (lambda d, w: ["--dataset", str(d / "broken"), "--weights", str(w)], "not a readable image"),
        (
            lambda d, w: ["--dataset", str(d / "Tiny"), "--weights", str(d / "Tiny" / "grey.png")],
            "unknown weights format",
        ),
        (lambda d, w: ["--dataset", str(d / "Tiny"), "--weights", str(d / "nope.pth")], "no such weights file"),
        (lambda d, w: ["--dataset", str(d / "Tiny"), "--weights", str(w), "--whole", "--tile", "64"], "exclude"),
        (
            lambda d, w: ["--dataset", str(d / "Tiny"), "--weights", str(w), "--device", "cuda:0"],
            "CUDA is not available",
        ),
        (
            lambda d, w: ["--dataset", str(d / "Tiny"), "--weights", str(w), "--precision", "fp16", "--device", "cpu"],
            "fp16 runs on CUDA only",
        ),
    ],
    ids=["missing", "empty", "unreadable", "bad-weights", "missing-weights", "whole-and-tile", "no-cuda", "fp16-cpu"],
)
def test_eval_errors_are_one_line(dataset, tiny_weights, capsys, make_args, message):
    root = dataset.parent
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "x.png").write_bytes(b"not a png at all")
    code, out, err = run_cli(["eval", *make_args(root, tiny_weights)], capsys)
    assert code == 1
    assert message in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert out == ""


def test_convert_writes_safetensors_and_keeps_existing_output(tmp_path, tiny_weights, capsys):
    dst = tmp_path / "out.safetensors"
    code, _, err = run_cli(["convert", str(tiny_weights), str(dst), "--units", "1"], capsys)
    assert code == 0 and dst.is_file() and "wrote" in err
    before = dst.read_bytes()
    code, _, err = run_cli(["convert", str(tiny_weights), str(dst)], capsys)
    assert code == 1 and "exists" in err and dst.read_bytes() == before
    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / "out.pth")], capsys)
    assert code == 1 and "must be a .safetensors file" in err
    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / "OUT.SAFETENSORS")], capsys)
    assert code == 0 and (tmp_path / "OUT.SAFETENSORS").is_file(), err  # the suffix in any case, as ffmpeg takes one


def test_convert_takes_a_shipped_name_as_every_command_does(tmp_path, capsys):
    from kernels.weights import find_weights, read_weights

    dst = tmp_path / "shipped.safetensors"
    code, _, err = run_cli(["convert", "drrn-b1u25-x234", str(dst)], capsys)
    assert code == 0, err
    shipped, copy = find_weights("drrn-b1u25-x234"), read_weights(dst)
    assert copy.metadata == shipped.metadata and copy.state_dict.keys() == shipped.state_dict.keys()


def test_eval_degrades_the_lr_through_the_codec_the_same_for_model_and_bicubic(dataset, identity_weights, capsys):
    """Zero weights return their input: with every codec, DRRN's scores equal bicubic's (both saw one
    LR), and a harsh codec lowers bicubic's score below the clean one's."""
    args = ["eval", "--dataset", str(dataset), "--scale", "2", "--weights", str(identity_weights), "--json"]
    specs = ["clean", "x264:crf=45", "jpeg:q=5", "x265:crf=45:preset=ultrafast:intra"]
    code, out, err = run_cli([*args, *(a for spec in specs for a in ("--degrade", spec))], capsys)
    assert code == 0, err
    results = {r["degrade"]: r for r in json.loads(out)["results"]}
    assert list(results) == ["clean", "x264:crf=45:preset=medium", "jpeg:q=5", "x265:crf=45:preset=ultrafast:intra"]
    for r in results.values():  # equal but for float32's rounding of the model's input (bicubic ties at .5)
        assert r["psnr"] == pytest.approx(r["psnr_bicubic"], abs=0.01) and r["ssim"] == pytest.approx(
            r["ssim_bicubic"], abs=1e-4
        )
    for spec in list(results)[1:]:
        assert results[spec]["psnr_bicubic"] < results["clean"]["psnr_bicubic"] - 0.5


def test_eval_downscale_kernels_make_different_lr(dataset, identity_weights, capsys):
    args = ["eval", "--dataset", str(dataset), "--scale", "2", "--weights", str(identity_weights), "--json"]
    scores = {}
    for kernel in ("matlab", "bilinear", "area"):
        code, out, err = run_cli([*args, "--downscale", kernel], capsys)
        assert code == 0, err
        [r] = json.loads(out)["results"]
        scores[kernel] = r["psnr_bicubic"]
        assert r["downscale"] == kernel
    assert len(set(scores.values())) == 3


@pytest.mark.parametrize(
    "extra, message",
    [(["--degrade", "x264:q=3"], "--degrade 'x264:q=3': x264 takes crf=0..51"),
     (["--degrade", "h266:crf=3"], "unknown codec"),
     (["--downscale", "nearest"], "--downscale nearest: use one of matlab, bicubic")],
)  # fmt: skip
def test_bad_degradations_are_one_line_before_model_time(dataset, capsys, extra, message):
    code, _, err = run_cli(["eval", "--dataset", str(dataset), "--weights", "no-such.safetensors", *extra], capsys)
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_eval_reports_the_depth_that_ran(dataset, tiny_weights, capsys):
    """--units changes what is scored, and the report says which depth it was (issue #25 item 2)."""
    scores = {}
    for units in ("2", "3"):  # tiny_weights were made at 1
        code, out, err = run_cli(
            ["eval", "--dataset", str(dataset), "--weights", str(tiny_weights), "--units", units, "--json"], capsys
        )
        assert code == 0, err
        report = json.loads(out)
        assert report["model"]["units"] == int(units) and f"run at {units} units" in err.splitlines()[0]
        scores[units] = report["results"][0]["psnr"]
    assert abs(scores["2"] - scores["3"]) > 1e-3


def test_eval_skips_hidden_files_and_refuses_a_picture_too_small_to_score(dataset, tiny_weights, capsys):
    """A Mac's ._colour.png beside colour.png failed the set ("not a readable image"), and a picture too small for
    SSIM's window inside the border failed as PyTorch's "Kernel size can't be greater than actual input size"."""
    (dataset / "._colour.png").write_bytes(b"\0\5\26\7 AppleDouble")
    code, out, err = run_cli(["eval", "--dataset", str(dataset), "--weights", str(tiny_weights), "--json"], capsys)
    assert code == 0 and json.loads(out)["results"][0]["images"] == 2, err
    cv2.imwrite(str(dataset / "small.png"), np.zeros((18, 40), np.uint8))
    code, out, err = run_cli(
        ["eval", "--dataset", str(dataset), "--weights", str(tiny_weights), "--scale", "4"], capsys
    )
    assert (
        code == 1
        and err == f"error: {dataset / 'small.png'}: 40x18 is too small to score at x4 (at least 20 px a side)\n"
    )


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs /sys, a folder that takes no files, even as root")
def test_eval_video_refuses_a_plot_it_cannot_write_before_it_scores(tmp_path, tiny_weights, capsys, monkeypatch):
    """It scored every frame, then failed on the plot, the results' lines or JSON unsaid."""
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    monkeypatch.setattr("stream.eval.video.evaluate_video", None)  # no scoring: calling it fails the test
    code, out, err = run_cli(["eval-video", str(clip), "--weights", str(tiny_weights), "--json", "--plot",
                              "/sys/a.png"], capsys)  # fmt: skip
    assert (code, out, err) == (1, "", "error: /sys/a.png: cannot write (Permission denied)\n")


def test_eval_video_says_what_leaves_nothing_to_score(tmp_path, tiny_weights, capsys):
    """--skip past the end of a clip whose container counts no frames exited 0 with no results; a crop larger than
    the frame scored the whole frame, said as "centre 200 px"; one too small failed inside SSIM; a --plot into a
    missing folder, or one that is a folder, failed after all the work."""
    import subprocess

    clip = tmp_path / "clip.y4m"  # Y4M: no frame count in the container
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x48:rate=10", "-frames:v", "3",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)  # fmt: skip
    base = ["eval-video", str(clip), "--weights", str(tiny_weights)]
    (tmp_path / "a-folder.png").mkdir()  # a plot into these failed after all the scoring, the results unsaid
    (tmp_path / "a-file").write_text("")
    for extra, said in [
        (["--skip", "5"], "clip.y4m: --skip 5 leaves no frame to score"),
        (["--crop", "64"], "clip.y4m: --crop 64 is more than its 48x48 frames hold"),
        (["--crop", "17", "--scale", "3"], "clip.y4m: 17x17 is too small to score at x3 (at least 18 px a side)"),
        (["--plot", str(tmp_path / "nowhere" / "a.png")], f"{tmp_path / 'nowhere'}: no such folder (for --plot)"),
        (["--plot", str(tmp_path / "a-folder.png")], f"{tmp_path / 'a-folder.png'}: is a folder"),
        (["--plot", str(tmp_path / "a-file" / "a.png")], f"{tmp_path / 'a-file'}: not a folder (for --plot)"),
    ]:
        code, _, err = run_cli([*base, *extra], capsys)
        assert code == 1 and err.strip().splitlines()[-1] == f"error: {said}", err
    (tmp_path / "a.txt").write_text("not a video")  # named as given: it was said as "a.txt", its folder dropped
    code, _, err = run_cli(["eval-video", str(tmp_path / "a.txt"), "--weights", str(tiny_weights)], capsys)
    assert code == 1 and err.startswith(f"error: {tmp_path / 'a.txt'}: not a readable media file"), err


def test_eval_says_each_rows_depth_where_the_sets_differ(dataset, capsys):
    """Each coding's set runs at its own depth: the table's title said the first set's for every row, and the JSON
    rows had no depth, so the heavy set's 7 units were lost."""
    args = ["eval", "--dataset", str(dataset), "--degrade", "clean", "--degrade", "x264:crf=40"]
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    ran = [int(n) for n in re.findall(r"run at (\d+) units", err)]  # a line for each set, in the rows' order
    assert len(set(ran)) == 2 and [r["units"] for r in json.loads(out)["results"]] == ran
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "DRRN in fp32" in out and "units" in out.splitlines()[2], out


def strict_json(text: str) -> dict:
    """JSON as strict parsers (JavaScript's, Go's) read it: Infinity and NaN refused."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_a_flat_image_is_left_out_of_the_psnr_means_and_counted(dataset, tiny_weights, capsys):
    """Bicubic restores a flat image exactly (an infinite PSNR): the set's PSNRs read inf, its gain nan, and the
    JSON held Infinity and NaN."""
    base = ["eval", "--weights", str(tiny_weights), "--json", "--dataset"]
    code, out, err = run_cli([*base, str(dataset)], capsys)
    alone = strict_json(out)["results"][0]
    cv2.imwrite(str(dataset / "flat.png"), np.full((24, 24, 3), 90, np.uint8))
    code, out, err = run_cli([*base, str(dataset)], capsys)
    assert code == 0, err
    (row,) = strict_json(out)["results"]
    assert (row["images"], row["exact"]) == (3, 1) and row["psnr"] == alone["psnr"]
    assert row["psnr_bicubic"] == alone["psnr_bicubic"] and row["ssim"] != alone["ssim"]  # SSIM counts it
    for picture in ("colour.png", "grey.png"):
        (dataset / picture).unlink()
    code, out, err = run_cli([*base, str(dataset)], capsys)
    (row,) = strict_json(out)["results"]
    assert (row["exact"], row["psnr"], row["psnr_bicubic"]) == (1, None, None)
    code, out, err = run_cli([*base[:-2], "--dataset", str(dataset)], capsys)
    assert code == 0 and "1 (1 exact)" in out and "exact / " in out, out


def test_a_black_frame_is_left_out_of_the_psnr_means_and_counted(tmp_path, tiny_weights, capsys):
    """A fade from black: eval-video said "DRRN inf dB ... gain +nan dB", its JSON Infinity and NaN."""
    import subprocess

    clip = tmp_path / "fade.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:size=48x32:rate=10:d=0.2", "-f",
                    "lavfi", "-i", "testsrc2=size=48x32:rate=10:d=0.2", "-filter_complex", "[0][1]concat=n=2:v=1",
                    "-c:v", "ffv1", str(clip)], check=True)  # fmt: skip
    base = ["eval-video", str(clip), "--weights", str(tiny_weights), "--precision", "fp32"]
    code, out, err = run_cli([*base, "--json"], capsys)
    assert code == 0, err
    (row,) = strict_json(out)["results"]
    assert (row["frames"], row["exact"]) == (4, 2) and 5 < row["psnr"] < 60 and row["gain"] is not None
    code, out, err = run_cli(base, capsys)
    assert "clean: 4 frames (2 exact, left out of the PSNRs), x2: " in err and "inf" not in err, err


def test_folders_of_one_name_are_told_apart_and_one_folder_is_scored_once(tmp_path, tiny_weights, capsys):
    """Set5/HR and Set14/HR, the SR packs' layout: one row named "HR" held the second, the first gone unsaid."""
    rng = np.random.default_rng(1)
    for pack, count in (("Set5", 1), ("Set14", 2)):
        (tmp_path / pack / "HR").mkdir(parents=True)
        for n in range(count):
            cv2.imwrite(str(tmp_path / pack / "HR" / f"{n}.png"), rng.integers(0, 256, (24, 24), dtype=np.uint8))
    args = ["eval", "--weights", str(tiny_weights), "--json", "--dataset", str(tmp_path / "Set5" / "HR"),
            "--dataset", str(tmp_path / "Set14" / "HR"), "--dataset", str(tmp_path / "Set5" / "HR" / ".")]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert [(r["dataset"], r["images"]) for r in json.loads(out)["results"]] == [("Set5/HR", 1), ("Set14/HR", 2)]
    (tmp_path / "Set5_x2").symlink_to(tmp_path / "Set5" / "HR")  # named as given, not as its link leads
    code, out, err = run_cli([*args[:5], str(tmp_path / "Set5_x2")], capsys)
    assert code == 0 and json.loads(out)["results"][0]["dataset"] == "Set5_x2", err


def test_the_table_in_a_file_or_log_is_whole(dataset, tiny_weights, capsys):
    """Printed to a file or a CI log (80 columns), both rows' codings read "x264:cr…"."""
    args = ["eval", "--dataset", str(dataset), "--weights", str(tiny_weights), "--degrade", "x264:crf=18:preset=fast",
            "--degrade", "x264:crf=40:preset=fast"]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│ Tiny")]
    assert len(rows) == 2 and "x264:crf=18:preset=fast" in rows[0] and "x264:crf=40:preset=fast" in rows[1], out


def test_grey_with_alpha_is_scored_as_grey(tmp_path, tiny_weights, capsys):
    """OpenCV reads grey and alpha as BGRA: put through rgb2ycbcr it scored 1.3 dB from the same grey picture."""
    from PIL import Image

    from stream.eval.images import read_luma

    grey = Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 30), dtype=np.uint8))
    grey.save(tmp_path / "grey.png")
    grey.convert("LA").save(tmp_path / "alpha.png")
    assert read_luma(tmp_path / "alpha.png").equal(read_luma(tmp_path / "grey.png"))


def test_eval_video_gives_its_results_in_the_order_asked(tmp_path, tiny_weights, capsys):
    """They came in the order each codec's delay let their frames through: clean, mpeg2, x265 for the reverse."""
    clip = make_clip(tmp_path / "clip.mp4", pts_ms=[0, 40, 80], audio=False)
    specs = ["x265:crf=30", "mpeg2:q=8", "clean"]
    args = ["eval-video", str(clip), "--weights", str(tiny_weights), "--json"]
    code, out, err = run_cli([*args, *(f"--degrade={spec}" for spec in specs)], capsys)
    assert code == 0, err
    assert [r["degrade"].split(":")[0] for r in json.loads(out)["results"]] == ["x265", "mpeg2", "clean"]


def test_a_failed_eval_video_leaves_the_last_runs_log(tmp_path, tiny_weights, capsys):
    """--log with -y was emptied (a header alone) when the input or the weights then failed."""
    clip, log = make_clip(tmp_path / "clip.mp4", pts_ms=[0, 40], audio=False), tmp_path / "log.csv"
    args = ["eval-video", "--weights", str(tiny_weights), "--log", str(log), "-y"]
    assert run_cli([*args, str(clip)], capsys)[0] == 0
    kept = log.read_text()
    assert len(kept.splitlines()) == 3
    (tmp_path / "text.mp4").write_text("not a video")
    assert run_cli([*args, str(tmp_path / "text.mp4")], capsys)[0] == 1
    assert log.read_text() == kept
    new = ["eval-video", "--weights", str(tiny_weights), "--log", str(tmp_path / "new.csv"), str(tmp_path / "text.mp4")]
    code, _, err = run_cli(new, capsys)
    assert code == 1 and not (tmp_path / "new.csv").exists(), err
