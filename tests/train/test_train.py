"""`drrn-stream train` on a tiny fixture: data packing, patch degradation, loss, exact resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import stream.train.run
from kernels.resize import imresize
from kernels.weights import read_weights
from stream.errors import Interrupted, UserError
from stream.eval.images import read_luma
from stream.train import data
from stream.train.data import crop_size, dihedral, pack_folder, read_pack
from stream.train.recipe import Recipe
from stream.train.run import stop_requests
from stream.train.trainer import Trainer
from tests.cli_helpers import file_size_limit, run_cli
from tests.train.conftest import TINY


def test_pack_round_trip(train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    npz = tmp_path / "packed" / "train.npz"
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack", str(npz)], capsys)
    assert code == 0, err
    packed, direct = read_pack(npz), pack_folder(train_dir)
    names = ["train/setA/0.png", "train/setA/1.png", "train/setB/0.png", "train/setB/1.png", "train/setB/grey.png"]
    assert packed.names == direct.names == names
    assert packed.fingerprint() == direct.fingerprint() and packed.label == "setA+setB"
    for name, y in zip(packed.names, packed.images(), strict=True):
        assert torch.equal(y, read_luma(train_dir.parent / name))


def test_a_pack_stores_compressed_residuals_and_reads_raw_pixels_too(train_dir: Path, tmp_path: Path) -> None:
    """Residuals where it writes; the raw pixels of packs written before them still read."""
    pack = pack_folder(train_dir)
    pack.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as npz:
        assert "residuals_xz" in npz and "pixels" not in npz
    np.savez_compressed(tmp_path / "old.npz", pixels=pack.pixels, shapes=pack.shapes, names=np.array(pack.names))
    for name in ("new.npz", "old.npz"):
        again = read_pack(tmp_path / name)
        assert np.array_equal(again.pixels, pack.pixels) and again.names == pack.names


def test_residuals_round_trip_every_level_exactly() -> None:
    """Differences wrap modulo 256 both ways: black next to white, noise, one pixel, one row."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (37, 53), dtype=np.uint8), np.array([[0, 255], [255, 0]], np.uint8),
              np.full((1, 1), 200, np.uint8), np.arange(256, dtype=np.uint8)[None]]  # fmt: skip
    shapes = np.array([y.shape for y in images], dtype=np.int64)
    pixels = np.concatenate([y.ravel() for y in images])
    stored = data.stored_pixels(pixels, shapes)
    assert np.array_equal(data.read_pixels(stored, shapes), pixels)


def test_a_pack_whose_pixels_do_not_decode_is_refused(train_dir: Path, tmp_path: Path) -> None:
    pack = pack_folder(train_dir)
    pack.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as npz:
        arrays = dict(npz)
    np.savez(tmp_path / "cut.npz", **arrays | {"residuals_xz": arrays["residuals_xz"][:-100]})
    np.savez(tmp_path / "short.npz", **arrays | {"shapes": arrays["shapes"] * 2})
    for name, why in (("cut.npz", "do not decompress"), ("short.npz", "pixels stored for images of")):
        with pytest.raises(UserError, match=rf"not a packed luma \.npz \(.*{why}"):
            read_pack(tmp_path / name)


def test_crop_degradation_equals_whole_image_degradation() -> None:
    """The centre patch of a crop_size() crop is exactly what degrading the whole image gives there."""
    img = torch.rand(96, 96, dtype=torch.float64)
    patch = 15
    for s in (2, 3, 4):
        whole = imresize(imresize(img, 1 / s), s)
        c = crop_size(patch, s)
        top = left = s * 2  # on the whole image's grid of LR pixels
        crop = img[top : top + c, left : left + c]
        up = imresize(imresize(crop, 1 / s, (c // s, c // s)), s, (c, c))
        p = (c - patch) // 2
        centre = up[p : p + patch, p : p + patch]
        assert torch.allclose(centre, whole[top + p : top + p + patch, left + p : left + p + patch], atol=1e-12)


def test_dihedral_gives_all_eight_rotations_and_flips() -> None:
    x = torch.arange(9.0).reshape(1, 3, 3).expand(8, 3, 3)
    out = dihedral(x, torch.arange(8))
    expected = {tuple(torch.rot90(t, k).flatten().tolist()) for t in (x[0], x[0].T) for k in range(4)}
    assert {tuple(o.flatten().tolist()) for o in out} == expected


@pytest.mark.parametrize("loss", ["l2", "l1"])
def test_loss_falls(train_dir: Path, loss: str) -> None:
    pack = pack_folder(train_dir)
    recipe = Recipe(data=pack.fingerprint(), units=1, channels=8, patch=15, batch=6, loss=loss)
    trainer = Trainer(recipe, pack, torch.device("cpu"), "fp32")
    losses = [trainer.train_step().item() for _ in range(25)]  # the batch's MSE, whichever loss trains
    assert np.mean(losses[-5:]) < 0.25 * np.mean(losses[:5]), losses


def test_the_l1_loss_is_what_trains(train_dir: Path) -> None:
    """The same seed and batch: L1 and L2 move the weights otherwise (SGD: Adam's first step is the lr
    times the gradient's sign, which the two losses may share)."""
    pack = pack_folder(train_dir)
    moved = {}
    for loss in ("l2", "l1"):
        recipe = Recipe(data=pack.fingerprint(), units=1, channels=8, patch=15, batch=6, lr=1e-3, weight_decay=0,
                        clip=0, loss=loss)  # fmt: skip
        trainer = Trainer(recipe, pack, torch.device("cpu"), "fp32")
        before = trainer.model.conv_out.weight.detach().clone()
        trainer.train_step()
        moved[loss] = trainer.model.conv_out.weight.detach() - before
    assert not torch.allclose(moved["l1"], moved["l2"])
    assert Recipe(data="-", loss="l1").describe().endswith("L1 loss") and "L1" not in Recipe(data="-").describe()


def read_curve(out: Path) -> list[dict]:
    """The training curve without its wall-clock times and speeds, which differ from run to run."""
    records = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "gpu_seconds", "tflops")} for r in records]


# The paper's SGD; and the GPU window's kind of recipe: Adam, warm-up, rsqrt, EMA, a depth drawn per step.
WINDOW_RECIPE = ["--optimizer", "adam", "--lr", "1e-3", "--clip", "0", "--warmup", "3", "--schedule", "rsqrt",
                 "--lr-step", "4", "--ema", "0.9", "--units", "3", "--min-units", "1", "--val-units", "1"]  # fmt: skip


@pytest.mark.parametrize("recipe", [[], WINDOW_RECIPE], ids=["sgd", "window"])
def test_resumed_run_continues_exactly(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], recipe: list[str]
) -> None:
    base = ["train", "--data", str(train_dir), *TINY, *recipe, "--val-data", str(val_dir), "--val-every", "5"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run_cli([*base, "--out", str(whole), "--steps", "10"], capsys)[0] == 0
    assert run_cli([*base, "--out", str(split), "--steps", "5"], capsys)[0] == 0
    code, _, err = run_cli([*base, "--out", str(split), "--steps", "10", "--resume", str(split / "last.pt")], capsys)
    assert code == 0, err

    a = torch.load(whole / "last.pt", weights_only=True)
    b = torch.load(split / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 10
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for state_a, state_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        for key, value in state_a.items():
            assert torch.equal(value, state_b[key]), key  # momentum, or Adam's moments and step
    for name, tensor in a["ema"].items():
        assert torch.equal(tensor, b["ema"][name]), name
    assert read_curve(whole) == read_curve(split)  # losses, lrs and validation PSNRs, step by step

    weights = read_weights(whole / "best.safetensors")
    units = "3" if recipe else "1"
    assert weights.metadata["units"] == units and weights.metadata["scales"] == "2,3,4"
    assert set(json.loads(weights.metadata["psnr"])) == {"2", "3", "4"}
    assert weights.metadata["name"] == f"drrn-b1u{units}-x234" and "setA+setB (5 images)" in weights.metadata["trained"]
    if recipe:  # the exported weights are the moving average, not the last step's
        assert all(torch.equal(weights.state_dict[k], v.float()) for k, v in a["ema"].items())
        assert not torch.equal(weights.state_dict["conv_a.weight"], a["model"]["conv_a.weight"].float())


def test_window_recipe_schedules() -> None:
    """Warm-up then lr x sqrt(lr_step / step), open-ended; depths drawn from (seed, step) alone."""
    recipe = Recipe(data="-", units=25, min_units=1, lr=4e-4, warmup=300, schedule="rsqrt", lr_step=2000)
    assert recipe.lr_at(0) == pytest.approx(4e-4 / 300) and recipe.lr_at(299) == pytest.approx(4e-4)
    assert recipe.lr_at(2000) == pytest.approx(4e-4) and recipe.lr_at(8000) == pytest.approx(2e-4)
    draws = [recipe.units_at(step) for step in range(3000)]
    assert set(draws) == set(range(1, 26)) and draws == [recipe.units_at(step) for step in range(3000)]
    assert 12 < sum(draws) / len(draws) < 14  # uniform over 1..25: mean 13
    assert Recipe(data="-", units=25).units_at(7) == 25


def one_step_run(train_dir: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """A run of one step into `out`, without validation; -> its arguments, for what goes on from it."""
    base = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-every", "0"]
    assert run_cli([*base, "--steps", "1"], capsys)[0] == 0
    return base


def test_resume_with_another_recipe_is_refused(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    base = one_step_run(train_dir, out, capsys)
    code, _, err = run_cli([*base, "--steps", "2", "--resume", str(out / "last.pt"), "--lr", "0.05"], capsys)
    assert code == 1 and "lr 0.1 -> 0.05" in err
    code, _, err = run_cli([*base, "--steps", "2"], capsys)
    assert code == 1 and "pass --resume" in err


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_keeps_the_one_before(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk (here a file-size limit) at the checkpoint was torch's "unexpected pos 576 vs 534"."""
    out = tmp_path / "run"
    base = one_step_run(train_dir, out, capsys)
    before = (out / "last.pt").read_bytes()
    args = [*base, "--steps", "2", "--resume", str(out / "last.pt")]
    run = subprocess.run([sys.executable, "-m", "stream", *args], preexec_fn=file_size_limit(len(before) // 2),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    said = f"error: {out / 'last.pt'}: cannot write the checkpoint (File too large); the one before it is kept\n"
    assert run.returncode == 1 and run.stderr.endswith(said), run.stderr
    assert (out / "last.pt").read_bytes() == before and sorted(p.name for p in out.glob(".*")) == []


def test_a_runs_last_checkpoint_read_as_weights_is_as_deep_as_it_was_trained(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert run/last.pt` and `eval --weights run/last.pt` read it as the paper's B1U25, whatever depth it was
    trained at (a model trained at 1 unit scored 8.38 dB on Set5, run at 25)."""
    out = tmp_path / "run"
    args = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-every", "0", "--steps", "1"]
    assert run_cli(args, capsys)[0] == 0
    trained = torch.load(out / "last.pt", weights_only=True)["recipe"]["units"]
    assert trained != 25 and read_weights(out / "last.pt").units == trained


def test_a_run_that_diverges_says_so_and_writes_no_nan(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It wrote NaN weights and a curve of bare NaN (not JSON), said "done ... wrote best.safetensors" (not
    written), and exited 0."""
    out = tmp_path / "run"
    args = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-every", "0", "--steps", "4"]
    code, _, err = run_cli([*args, "--clip", "0", "--lr", "1e30"], capsys)
    said = rf"error: {re.escape(str(out))}: training diverged by step \d \(loss nan\)"
    assert code == 1 and re.search(said, err), err
    for line in (out / "curve.jsonl").read_text().splitlines() if (out / "curve.jsonl").exists() else []:
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the curve"))


class Killed(BaseException):
    """What `timeout -k` does to a run whose grace ran out: nothing after it runs."""


def test_a_run_killed_while_validating_keeps_its_steps(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    base = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-data", str(val_dir), "--val-every", "4"]

    def killed(*args: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr("stream.train.run.validate", killed)
        with pytest.raises(Killed):
            run_cli([*base, "--steps", "6"], capsys)
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 4  # saved before the validation began
    code, _, err = run_cli([*base, "--steps", "6", "--resume", str(out / "last.pt")], capsys)
    assert code == 0, err
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 6 and state["best"]["step"] == 6  # validated at the end, as a run not killed is


def test_a_training_checkpoint_cut_short_anywhere_is_said_so(tmp_path: Path) -> None:
    """Cut in its records, torch's reader raised a bare OSError: "error: Invalid argument", no file named."""
    from stream.errors import UserError
    from stream.train.checkpoint import read_checkpoint

    torch.save({"version": 1, "model": {"w": torch.zeros(64, 64)}, "step": 3}, tmp_path / "whole.pt")
    data, cut = (tmp_path / "whole.pt").read_bytes(), tmp_path / "cut.pt"
    for length in range(64, len(data), 97):
        cut.write_bytes(data[:length])
        with pytest.raises(UserError, match=r"cut\.pt: a damaged or cut-short training checkpoint"):
            read_checkpoint(cut)


@pytest.mark.parametrize(
    "data, extra, message",
    [
        ("absent", [], "no such folder"),
        ("empty", [], "no images in it"),
        ("absent.npz", [], "no such file"),
        ("bad.npz", [], "bad.npz: not a packed luma .npz (not a numpy .npz)"),  # not numpy's advice on pickles
        ("train", ["--resume", "bad.pt"], "bad.pt: not a training checkpoint (no file of tensors torch reads safely)"),
        ("train", ["--resume", "cut.pt"], "cut.pt: a damaged or cut-short training checkpoint"),
        ("train", ["--resume", "bare.pt"], "bare.pt: a training checkpoint without model, optimizer"),  # KeyError
        ("bad.pt", [], "bad.pt: not a folder"),  # a file given as the data's folder
        ("train", ["--resume", "absent.pt"], "no such checkpoint"),
        ("train", ["--patch", "64"], "no training image is at least"),
        ("train", ["--units-schedule", "3:10,9"], "may only end it"),
        ("train", ["--lr", "-1"], "--lr -1: a learning rate is a number above 0"),  # was "unexpected ValueError"
        ("train", ["--lr", "nan"], "--lr nan: a learning rate is a number above 0"),  # trained NaN weights
        ("train", ["--weight-decay", "-1"], "--weight-decay -1: a number from 0"),
        ("train", ["--ema", "nan"], "--ema nan: a decay from 0 to below 1"),  # exported NaN weights as done
        ("train", ["--minutes", "nan"], "--minutes nan: a number of minutes"),  # trained forever
        ("train", ["--scales", "2,5"], "expected scales from 2 to 4"),  # x5 trained, and nothing ran it
    ],
)
def test_bad_input_is_one_line_error(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, extra: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")  # torch's message advised loading it unsafely
    torch.save({"a": torch.zeros(3)}, tmp_path / "whole.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:300])
    torch.save({"version": 1}, tmp_path / "bare.pt")  # the version alone, as a crafted or foreign file may have
    args = [a if not a.endswith(".pt") else str(tmp_path / a) for a in extra]
    code, _, err = run_cli(
        ["train", "--data", str(tmp_path / data), "--out", str(tmp_path / "o"), "--steps", "1", *TINY, *args], capsys
    )
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_hidden_files_are_no_training_pictures_and_out_must_be_a_folder(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Mac's ._img.png beside img.png failed the set as unreadable; --out naming a file said "File exists"."""
    next(train_dir.rglob("*.png")).with_name("._stub.png").write_bytes(b"\0\5\26\7 AppleDouble")
    (tmp_path / "a_file").write_text("not a folder")
    base = ["train", "--data", str(train_dir), "--steps", "1", *TINY]
    code, _, err = run_cli([*base, "--out", str(tmp_path / "a_file")], capsys)
    assert code == 1 and err == f"error: {tmp_path / 'a_file'}: not a folder (--out is the run's folder)\n", err
    assert run_cli([*base, "--out", str(tmp_path / "run")], capsys)[0] == 0


def test_a_run_resumed_at_its_limit_is_left_as_it_is(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It validated again and wrote the curve's last record once more each time, saying "done ... wrote"."""
    out = tmp_path / "run"
    base = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-data", str(val_dir), "--val-every", "3"]
    assert run_cli([*base, "--steps", "3"], capsys)[0] == 0
    files = {name: (out / name).read_bytes() for name in ("last.pt", "curve.jsonl", "best.safetensors")}
    for steps in ("3", "2"):
        code, _, err = run_cli([*base, "--steps", steps, "--resume", str(out / "last.pt")], capsys)
        said = f"{out / 'last.pt'}: already at step 3, as far as asked: nothing trained or written"
        assert code == 0 and err.strip().splitlines()[-1] == said, err
    assert {name: (out / name).read_bytes() for name in files} == files


def test_a_run_stopped_by_a_signal_saves_and_exits_as_stopped(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It saved and exited 0, as a finished run does: a scheduler could not tell. 128 + the signal, as every
    other command stopped so."""
    out = tmp_path / "run"
    base = ["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-data", str(val_dir), "--val-every", "4"]
    validate = stream.train.run.validate

    def terminated(*args: object, **options: object) -> object:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` sends it, mid-run
        return validate(*args, **options)

    monkeypatch.setattr("stream.train.run.validate", terminated)
    code, _, err = run_cli([*base, "--steps", "100"], capsys)
    assert code == 143 and "stopped by SIGTERM at step 4: wrote" in err, err
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 4


def test_a_run_stopped_before_its_first_validation_says_what_it_wrote(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said it wrote best.safetensors, which only a validation writes."""
    from stream.train.trainer import Trainer

    out, step = tmp_path / "run", Trainer.train_step

    def terminated_at_3(trainer: Trainer) -> torch.Tensor:
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(trainer)

    monkeypatch.setattr(Trainer, "train_step", terminated_at_3)
    code, _, err = run_cli(["train", "--data", str(train_dir), "--out", str(out), *TINY, "--val-data", str(val_dir),
                            "--val-every", "100", "--steps", "100"], capsys)  # fmt: skip
    assert code == 143 and f"stopped by SIGTERM at step 3: wrote {out / 'last.pt'} and {out / 'curve.jsonl'}\n" in err
    assert not (out / "best.safetensors").exists()


def test_a_new_run_leaves_another_runs_curve_and_weights_alone(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Into a folder holding a run's curve and best weights but no last.pt, a new run emptied the curve at once, and
    one that then failed (diverged) had lost it."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "curve.jsonl").write_text('{"step": 10}\n')
    code, _, err = run_cli(["train", "--data", str(train_dir), "--out", str(out), "--steps", "1", *TINY], capsys)
    assert (code, err) == (1, f"error: {out}: holds another run's curve.jsonl; choose another --out\n")
    assert (out / "curve.jsonl").read_text() == '{"step": 10}\n'


def test_a_second_sigterm_still_saves_and_a_second_ctrl_c_aborts():
    """`timeout` sends SIGTERM to the process and again to its group: that must still stop and save."""
    with stop_requests() as asked:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert asked == ["SIGTERM", "SIGTERM"]
    with pytest.raises(Interrupted), stop_requests() as asked:
        os.kill(os.getpid(), signal.SIGINT)
        assert asked == ["SIGINT"]
        os.kill(os.getpid(), signal.SIGINT)


def test_a_resume_into_another_runs_folder_is_refused(
    train_dir: Path, val_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume C/last.pt --out A replaced A's last.pt with C's run and appended C's records to A's curve; into a new
    folder it said it wrote a best.safetensors there was none of."""
    base = ["train", "--data", str(train_dir), *TINY, "--val-data", str(val_dir), "--val-every", "2"]
    for name in ("a", "c"):
        assert run_cli([*base, "--out", str(tmp_path / name), "--steps", "2"], capsys)[0] == 0
    kept = (tmp_path / "a" / "last.pt").read_bytes()
    resumed = [*base, "--steps", "4", "--resume", str(tmp_path / "c" / "last.pt"), "--out"]
    code, _, err = run_cli([*resumed, str(tmp_path / "a")], capsys)
    assert (code, err) == (1, f"error: {tmp_path / 'a'}: holds another run's last.pt; resume in {tmp_path / 'c'}, "
                              "or in a folder of its own\n")  # fmt: skip
    assert (tmp_path / "a" / "last.pt").read_bytes() == kept
    code, _, err = run_cli([*resumed, str(tmp_path / "new")], capsys)
    assert code == 1 and err.startswith(f"error: {tmp_path / 'new'}: has no best.safetensors of the run resumed"), err
    code, _, err = run_cli([*base[:-4], "--val-data", str(train_dir), "--val-every", "2", *resumed[len(base):],
                            str(tmp_path / "c")], capsys)  # fmt: skip
    assert code == 1 and "chosen on other validation images or crops; repeat its --val-data and --val-crop" in err, err
    assert run_cli([*resumed, str(tmp_path / "c")], capsys)[0] == 0  # its own folder, its own validation


def test_validation_too_small_to_score_is_one_line_before_training(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 12x10 validation picture, or --val-crop 16 at x3, failed inside SSIM at the first validation: after the
    training before it (1000 steps by default, hours on a CPU)."""
    (tmp_path / "small").mkdir()
    cv2.imwrite(str(tmp_path / "small" / "s.png"), np.zeros((10, 12), np.uint8))
    args = ["train", "--data", str(train_dir), *TINY, "--out", str(tmp_path / "o"), "--steps", "1", "--val-every", "1"]
    code, _, err = run_cli([*args, "--val-data", str(tmp_path / "small"), "--scales", "2"], capsys)
    assert (code, err) == (1, "error: small/s.png: 12x10 is too small to score at x2 (at least 16 px a side)\n")
    code, _, err = run_cli([*args, "--val-data", str(train_dir), "--val-crop", "16", "--scales", "3"], capsys)
    assert code == 1 and err.endswith(" (--val-crop 16): 16x16 is too small to score at x3 (at least 18 px a side)\n")
    assert not (tmp_path / "o").exists()


def test_a_torn_line_at_the_curves_end_does_not_stop_a_resume(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk cuts the curve's last record short: the resume failed as "unexpected JSONDecodeError"."""
    out, base = tmp_path / "run", ["train", "--data", str(train_dir), *TINY, "--val-every", "0"]
    assert run_cli([*base, "--out", str(out), "--steps", "2"], capsys)[0] == 0
    with (out / "curve.jsonl").open("a") as curve:
        curve.write('\n{"step": 3, "seco')
    code, _, err = run_cli([*base, "--out", str(out), "--steps", "3", "--resume", str(out / "last.pt")], capsys)
    assert code == 0, err
    assert [json.loads(line)["step"] for line in (out / "curve.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_pack_is_replaced_only_with_y_and_checked_writable_first(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing pack (an hour's coding, for a coded set) was replaced unasked; a folder of the pack's name was
    found after the packing, said as ".isdir.partial.npz: Is a directory"."""
    (tmp_path / "kept.npz").write_bytes(b"an hour's coding")
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack", str(tmp_path / "kept.npz")], capsys)
    assert (code, err) == (1, f"error: {tmp_path / 'kept.npz'}: exists; pass -y to replace it\n")
    assert (tmp_path / "kept.npz").read_bytes() == b"an hour's coding"
    assert run_cli(["train", "--data", str(train_dir), "--pack", str(tmp_path / "kept.npz"), "-y"], capsys)[0] == 0
    (tmp_path / "isdir.npz").mkdir()
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack-coded", str(tmp_path / "isdir.npz")], capsys)
    assert (code, err) == (1, f"error: --pack-coded {tmp_path / 'isdir.npz'}: is a folder\n")
    monkeypatch.setattr(data, "load_pack", None)  # nothing is read before the check: calling it fails the test
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack", "/proc/p.npz"], capsys)
    assert code == 1 and err.startswith("error: /proc/p.npz: cannot write ("), err


def test_a_partial_file_that_cannot_be_removed_leaves_the_first_error_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system the partial file's removal failed too, and its EROFS replaced the one-line error
    ("ro/.c.partial.npz: Read-only file system")."""
    from stream import files

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(UserError, match=r"c\.npz: cannot write \(No such file or directory\)"):
        with files.write_atomically(tmp_path / "gone" / "c.npz"):
            pass


def test_a_picture_too_small_to_code_is_one_line_before_the_coding(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 96x1 picture failed the whole coded set as "unexpected IndexError", the coding done before it lost."""
    cv2.imwrite(str(train_dir / "setA" / "line.png"), np.zeros((1, 96), np.uint8))
    code, _, err = run_cli(["train", "--data", str(train_dir), "--pack-coded", str(tmp_path / "c.npz"), "--scales",
                            "2"], capsys)  # fmt: skip
    assert (code, err) == (1, "error: train/setA/line.png: 96x1 is too small to code at x2 (at least 16 px a side); "
                              "leave it out of --data\n")  # fmt: skip
