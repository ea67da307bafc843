"""Coded training data: made through real codecs, aligned to its ground truth, mixed into batches, recorded."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kernels.metrics import psnr
from kernels.resize import imresize
from kernels.weights import read_weights
from stream.degrade import downscale
from stream.train.coded_data import CodedSampler, CodedSet, read_coded
from stream.train.data import pack_folder
from stream.train.make_coded import CodedMix, code_one, make_coded
from stream.train.recipe import Recipe
from stream.train.trainer import Trainer
from tests.cli_helpers import run_cli
from tests.train.conftest import TINY

FAST = CodedMix(codecs=("x264",), presets=("ultrafast",), frames=3)


def matlab_set(pack, scales=(2, 3)) -> CodedSet:
    """Every image's whole LR by MATLAB's bicubic, uncoded, at the origin: a set whose pairs are known exactly."""
    images = [y.numpy() for y in pack.images()]
    entries = [(i, s, downscale(y[: y.shape[0] // s * s, : y.shape[1] // s * s], s)) for i, y in enumerate(images)
               for s in scales]  # fmt: skip
    return CodedSet(
        pixels=np.concatenate([lr.ravel() for *_, lr in entries]),
        shapes=np.array([lr.shape for *_, lr in entries], dtype=np.int64),
        image=np.array([i for i, *_ in entries], dtype=np.int64), scale=np.array([s for _, s, _ in entries]),
        origin=np.zeros((len(entries), 2), dtype=np.int64), specs=["clean@matlab"] * len(entries),
        data=pack.fingerprint(), mix="{}",
    )  # fmt: skip


def test_coded_pairs_are_the_lr_upscaled_and_the_hr_window_it_shows(train_dir):
    """At any crop position and any of the 8 rotations and flips, the input is the stored LR upscaled
    by MATLAB's bicubic (as on the whole image) and the target the HR pixels under it."""
    pack = pack_folder(train_dir)
    coded = matlab_set(pack)
    patch = 9
    sampler = CodedSampler(pack, coded, patch, (2, 3), 4, torch.device("cpu"))
    for group in sampler.groups:
        s, c = group.scale, group.lr_crop
        mine = np.flatnonzero(coded.scale == s)
        for entry, top, left, code in ((0, 0, 0, 0), (1, 3, 2, 5), (len(mine) - 1, 1, 4, 7)):
            x, y = sampler.pairs(group, *(torch.tensor([v]) for v in (entry, top, left, code)))
            n = mine[entry]
            whole_lr = torch.from_numpy(coded.pixels[coded.offsets[n] :][: coded.shapes[n].prod()])
            up = imresize(whole_lr.reshape(*coded.shapes[n]).double() / 255, s)
            hr = pack.images()[int(coded.image[n])].double() / 255
            window = (slice(s * top, s * (top + c)), slice(s * left, s * (left + c)))  # the crop, in HR pixels
            centre = slice((s * c - patch) // 2, (s * c - patch) // 2 + patch)  # of the crop as transformed
            transform = _dihedral_of(code)
            torch.testing.assert_close(x[0].double(), transform(up[window])[centre, centre], atol=2e-6, rtol=0)
            torch.testing.assert_close(y[0].double(), transform(hr[window])[centre, centre], atol=1e-7, rtol=0)


def _dihedral_of(code: int):
    from stream.train.data import dihedral

    return lambda t: dihedral(t[None], torch.tensor([code]))[0]


@pytest.mark.parametrize("predicted", ["last", "any"])
def test_each_coded_lr_shows_the_hr_window_it_names(train_dir, predicted):
    """Intra and inter (the last frame, or any after the first), every kernel: the decoded LR matches
    the downscale of its recorded HR window far better than the window one pixel away (a wrong origin
    would not)."""
    pack = pack_folder(train_dir)
    mix = dataclasses.replace(FAST, crf=(18, 18), variants=4, inter=0.5, predicted=predicted)
    coded = make_coded(pack, (2, 3), mix)
    assert len(coded.specs) == len(pack.names) * 2 * 4
    frames = {int(m[1]) for spec in coded.specs if (m := re.search(r":inter(\d)@", spec))}
    assert frames == ({2} if predicted == "last" else {1, 2}) and any(":inter" not in s for s in coded.specs)
    images, offsets = pack.images(), coded.offsets
    for n, spec in enumerate(coded.specs):
        s, (y, x), (h, w) = int(coded.scale[n]), coded.origin[n], coded.shapes[n]
        lr = torch.from_numpy(coded.pixels[offsets[n] : offsets[n] + h * w].reshape(h, w))
        hr = images[int(coded.image[n])].numpy()
        kernel = spec.rsplit("@", 1)[1]
        here = downscale(hr[y : y + s * h, x : x + s * w], s, kernel)
        assert psnr(lr, torch.from_numpy(here)) > 30, spec
        if x + s * w + 1 <= hr.shape[1]:  # the window one pixel to the right
            there = downscale(hr[y : y + s * h, x + 1 : x + 1 + s * w], s, kernel)
            assert psnr(lr, torch.from_numpy(here)) > psnr(lr, torch.from_numpy(there)) + 2, spec


def test_inter_coded_lr_is_a_predicted_frame_of_a_moving_window():
    rng = random.Random(3)
    hr = np.random.default_rng(0).integers(0, 256, (64, 80), dtype=np.uint8)
    origin, lr, spec = code_one(hr, 2, dataclasses.replace(FAST, inter=1.0, kernels=("area",)), rng)
    assert spec.endswith(":inter2@area") and lr.shape[0] * 2 + origin[0] <= 64 and lr.shape[1] * 2 + origin[1] <= 80
    assert lr.shape[0] * 2 < 64  # the window is smaller than the image: it moves inside it


def test_a_coded_set_is_reproducible_saved_and_tied_to_its_images(train_dir, tmp_path):
    pack = pack_folder(train_dir)
    first, second = make_coded(pack, (2,), FAST), make_coded(pack, (2,), FAST)
    assert first.fingerprint() == second.fingerprint() and first.specs == second.specs
    first.save(tmp_path / "coded.npz")
    again = read_coded(tmp_path / "coded.npz", pack)
    assert again.fingerprint() == first.fingerprint() and json.loads(again.mix)["codecs"] == ["x264"]
    other = dataclasses.replace(pack, pixels=255 - pack.pixels)
    with pytest.raises(Exception, match="other images than --data"):
        read_coded(tmp_path / "coded.npz", other)


def test_a_batch_mixes_clean_and_coded_pairs_in_the_recipes_share(train_dir):
    pack = pack_folder(train_dir)
    recipe = Recipe(data=pack.fingerprint(), units=1, channels=8, patch=9, batch=8, scales=(2,), coded="x",
                    coded_share=0.25)  # fmt: skip
    trainer = Trainer(recipe, pack, torch.device("cpu"), "fp32", matlab_set(pack, (2,)))
    assert [type(s).__name__ for s in trainer.samplers] == ["PatchSampler", "CodedSampler"]
    assert [s.group_sizes for s in trainer.samplers] == [[6], [2]]
    losses = [trainer.train_step().item() for _ in range(20)]
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses


def test_cli_packs_coded_lr_trains_on_it_and_records_it(train_dir, tmp_path, capsys):
    coded, out = tmp_path / "coded.npz", tmp_path / "run"
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack-coded", str(coded), "--scales", "2"], capsys)
    assert code == 0 and "wrote" in err and coded.is_file(), err
    base = ["train", "--data", str(train_dir), *TINY, "--scales", "2", "--coded", str(coded), "--val-every", "0"]
    code, _, err = run_cli([*base, "--out", str(out), "--steps", "3", "--coded-share", "0.5"], capsys)
    assert code == 0, err
    weights = read_weights(out / "best.safetensors")
    assert "50% of patches coded LR" in weights.metadata["trained"] and "coded LR" in weights.metadata["coded"]
    code, _, err = run_cli([*base, "--out", str(out), "--steps", "4", "--resume", str(out / "last.pt")], capsys)
    assert code == 1 and "coded_share 0.5 -> 0.3" in err, err  # another mix is another run
    args = ["train", "--data", str(train_dir), *TINY, "--scales", "2,3", "--coded", str(coded), "--val-every", "0"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "x3"), "--steps", "1"], capsys)  # said as too small
    said = "the coded LR holds x2 alone, not x3: make it with --scales for every scale run"
    assert code == 1 and err.strip().splitlines()[-1] == f"error: {said}", err


def test_cli_packs_coded_lr_from_the_crf_band_asked(train_dir, tmp_path, capsys):
    coded = tmp_path / "heavy.npz"
    args = ["train", "--data", str(train_dir), "--pack-coded", str(coded), "--scales", "2"]
    code, _, err = run_cli([*args, "--crf", "33-33"], capsys)
    assert code == 0, err
    specs = read_coded(coded, pack_folder(train_dir)).specs
    assert specs and all(":crf=33:" in spec for spec in specs), specs
    for wrong in ("40-30", "18-"):  # 18- was 18-18
        code, _, err = run_cli([*args, "--crf", wrong], capsys)
        assert code == 1 and f"--crf '{wrong}'" in err and err.count("\n") == 1, err


def test_cli_packs_jpeg_lr_among_the_codecs_asked(train_dir, tmp_path, capsys):
    """JPEG LR is one intra-coded picture at a quality of the mix's range, not the clean downscale; a codec
    outside x264, x265 and jpeg is a one-line error."""
    coded = tmp_path / "jpeg.npz"
    args = ["train", "--data", str(train_dir), "--pack-coded", str(coded), "--scales", "2", "--variants", "2"]
    code, _, err = run_cli([*args, "--codecs", "jpeg"], capsys)
    assert code == 0, err
    pack, low, high = pack_folder(train_dir), *CodedMix().jpeg_q
    coded_set = read_coded(coded, pack)
    qualities = [int(spec.split("q=")[1].split("@")[0]) for spec in coded_set.specs]
    assert all(spec.startswith("jpeg:q=") and ":inter" not in spec for spec in coded_set.specs), coded_set.specs
    assert all(low <= q <= high for q in qualities) and len(set(qualities)) > 1
    assert "(JPEG q 30-90, " in err and "CRF" not in err, err
    n = 0
    y, x = coded_set.origin[n]
    h, w = coded_set.shapes[n]
    kernel = coded_set.specs[n].split("@")[1]
    hr = pack.images()[int(coded_set.image[n])].numpy()[y : y + 2 * h, x : x + 2 * w]
    lr = coded_set.pixels[coded_set.offsets[n] :][: h * w].reshape(h, w)
    assert not np.array_equal(lr, downscale(hr, 2, kernel))  # coded, not the clean downscale
    code, _, err = run_cli([*args, "--codecs", "x264,vp9"], capsys)
    assert code == 1 and "--codecs 'x264,vp9'" in err and err.count("\n") == 1, err


def test_cli_packs_mpeg2_lr_at_the_mixes_quantisers(train_dir, tmp_path, capsys):
    coded = tmp_path / "mpeg2.npz"
    args = ["train", "--data", str(train_dir), "--pack-coded", str(coded), "--scales", "2", "--variants", "3"]
    code, _, err = run_cli([*args, "--codecs", "mpeg2"], capsys)
    assert code == 0, err
    specs = read_coded(coded, pack_folder(train_dir)).specs
    low, high = CodedMix().mpeg2_q
    assert all(spec.startswith("mpeg2:q=") for spec in specs), specs
    assert all(low <= int(spec.split("q=")[1].split(":")[0].split("@")[0]) <= high for spec in specs)
    assert "(MPEG-2 q 2-16, " in err and "CRF" not in err, err


def test_fine_tuning_starts_from_the_weights_given(train_dir, tmp_path, capsys, tiny_weights):
    out = tmp_path / "run"
    args = ["train", "--data", str(train_dir), *TINY, "--out", str(out), "--steps", "0", "--val-every", "0",
            "--start-from", str(tiny_weights)]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    start, after = read_weights(tiny_weights), read_weights(out / "best.safetensors")
    assert all(torch.equal(start.state_dict[k], v) for k, v in after.state_dict.items())
    assert "from tiny.safetensors (B1U1)" in after.metadata["trained"]
    code, _, err = run_cli([*args[:-1], str(Path(tiny_weights)), "--channels", "16", "--out", str(tmp_path / "b")],
                           capsys)  # fmt: skip
    assert code == 1 and "--start-from: tiny.safetensors has 8 channels, the model 16" in err, err


def test_coded_validation_is_logged_and_chooses_the_best_with_clean(train_dir, val_dir, tmp_path, capsys):
    """--val-coded scores coded LR of the validation images at each check: its PSNR is in the curve and
    the exported weights, and the best weights are the best on clean and coded LR together."""
    coded = tmp_path / "val_coded.npz"
    code, _, err = run_cli(["train", "--data", str(val_dir), "--pack-coded", str(coded), "--scales", "2,3,4"], capsys)
    assert code == 0, err
    out = tmp_path / "run"
    args = ["train", "--data", str(train_dir), *TINY, "--out", str(out), "--steps", "4", "--val-every", "2",
            "--val-data", str(val_dir), "--val-coded", str(coded)]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    checks = [r for r in map(json.loads, (out / "curve.jsonl").read_text().splitlines()) if "psnr" in r]
    assert [r["step"] for r in checks] == [2, 4] and all(set(r["psnr_coded"]) == {"2", "3", "4"} for r in checks)
    means = [(sum(r["psnr"].values()) + sum(r["psnr_coded"].values())) / 6 for r in checks]
    best = torch.load(out / "last.pt", weights_only=True)["best"]
    assert best["step"] == checks[means.index(max(means))]["step"] and best["mean"] == pytest.approx(
        max(means), abs=1e-3
    )
    assert set(json.loads(read_weights(out / "best.safetensors").metadata["psnr_coded"])) == {"2", "3", "4"}
    resumed = [*args[:-2], "--steps", "5", "--resume", str(out / "last.pt")]  # without --val-coded
    code, _, err = run_cli(resumed, capsys)
    assert code == 1 and "its best weights were chosen with --val-coded" in err, err


def test_select_coded_chooses_the_best_on_coded_lr_alone(train_dir, val_dir, tmp_path, capsys):
    """--select coded: weights for compressed input only are chosen by their coded scores (their clean
    ones do not count: lossless input runs another set); it needs --val-coded."""
    coded = tmp_path / "val_coded.npz"
    code, _, err = run_cli(["train", "--data", str(val_dir), "--pack-coded", str(coded), "--scales", "2,3,4"], capsys)
    assert code == 0, err
    out = tmp_path / "run"
    args = ["train", "--data", str(train_dir), *TINY, "--out", str(out), "--steps", "4", "--val-every", "2",
            "--val-data", str(val_dir), "--select", "coded"]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "--select coded picks the best weights on coded LR: give --val-coded" in err, err
    code, _, err = run_cli([*args, "--val-coded", str(coded)], capsys)
    assert code == 0, err
    checks = [r for r in map(json.loads, (out / "curve.jsonl").read_text().splitlines()) if "psnr" in r]
    means = [sum(r["psnr_coded"].values()) / 3 for r in checks]
    best = torch.load(out / "last.pt", weights_only=True)["best"]
    assert (
        best["mean"] == pytest.approx(max(means), abs=1e-3) and best["step"] == checks[means.index(max(means))]["step"]
    )
    assert "chosen on coded LR" in read_weights(out / "best.safetensors").metadata["trained"]


def test_a_resumed_fine_tune_goes_on_from_its_checkpoint_whatever_start_from_says(
    train_dir, tmp_path, capsys, tiny_weights, identity_weights
):
    """The start weights may be shipped anew between two windows: the run goes on from its checkpoint,
    its recorded start unchanged."""
    out = tmp_path / "run"
    base = ["train", "--data", str(train_dir), *TINY, "--out", str(out), "--val-every", "0"]
    assert run_cli([*base, "--steps", "2", "--start-from", str(tiny_weights)], capsys)[0] == 0
    code, _, err = run_cli([*base, "--steps", "3", "--start-from", str(identity_weights), "--resume",
                            str(out / "last.pt")], capsys)  # fmt: skip
    assert code == 0, err
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 3 and state["recipe"]["start"].startswith("tiny.safetensors")
    assert state["model"]["conv_a.weight"].abs().sum() > 0  # not the zero weights it was "started from"


@pytest.mark.parametrize(
    "extra, message",
    [(["--coded-share", "0.01"], "--coded-share 0.01 of --batch 6 rounds to 0 coded patches"),
     (["--coded-share", "0.99"], "rounds to 6 coded patches")],
)  # fmt: skip
def test_a_share_that_leaves_one_kind_out_is_refused(train_dir, tmp_path, capsys, extra, message):
    pack = pack_folder(train_dir)
    make_coded(pack, (2,), FAST).save(tmp_path / "coded.npz")
    args = ["train", "--data", str(train_dir), *TINY, "--scales", "2", "--out", str(tmp_path / "o"), "--steps", "1",
            "--coded", str(tmp_path / "coded.npz"), *extra]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_coded_sets_need_pyav_and_their_own_images(train_dir, val_dir, tmp_path, capsys, monkeypatch):
    coded = tmp_path / "coded.npz"
    make_coded(pack_folder(train_dir), (2,), FAST).save(coded)
    args = ["train", "--data", str(train_dir), *TINY, "--out", str(tmp_path / "o"), "--steps", "1", "--val-every",
            "1", "--val-data", str(val_dir), "--val-coded", str(coded)]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "--val-coded" in err and "other images than --val-data" in err, err
    monkeypatch.setitem(sys.modules, "av", None)  # as on the GPU machine
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack-coded", str(tmp_path / "c.npz")], capsys)
    assert code == 1 and "need PyAV (pip install av)" in err and err.count("\n") == 1, err
