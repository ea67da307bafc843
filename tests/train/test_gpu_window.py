"""The GPU-window kit (benchmarks/gpu_window.sh) rehearsed on the CPU with tiny sizes, step by step
as a window runs it, so that no GPU minute is lost to a typo, a missing file or a wrong path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from kernels.pretrained import JUDGED_WEIGHTS
from kernels.weights import read_weights, save_weights
from tests.cli_helpers import ROOT
from tests.media import make_clip
from tests.train.conftest import shapes_image

KIT = ROOT / "benchmarks" / "gpu_window.sh"
RECIPE = ROOT / "training" / "b1u25-x234" / "recipe.args"
REAL_INPUT_RECIPE = ROOT / "training" / "real-input" / "recipe.args"
HEAVY_RECIPE = ROOT / "training" / "real-input-heavy" / "recipe.args"
TINY_RECIPE = """# a tiny stand-in for the committed recipe, with the same kinds of options
--units 3 --min-units 1 --channels 8 --patch 16 --batch 6
--optimizer adam --lr 1e-3 --clip 0 --warmup 4 --schedule rsqrt --lr-step 8 --ema 0.9
--init msra-zero-out
"""


def write_images(folder: Path, count: int, size: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i}.png"), shapes_image(rng, size))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A ../shared/data in miniature: training images, two image sets and a clip."""
    root = tmp_path / "data"
    write_images(root / "train" / "T91", 2, 64, 0)
    write_images(root / "train" / "BSD200", 2, 72, 1)
    write_images(root / "Set5", 2, 40, 2)
    write_images(root / "Set14", 1, 36, 3)
    (root / "video").mkdir()
    make_clip(root / "video" / "clip.mp4", pts_ms=[0, 40, 80], audio=False)
    return root


@pytest.fixture
def without_pyav(tmp_path: Path) -> dict[str, str]:
    """An environment where `import av` fails, as on the GPU machine (PyAV comes only as a wheel for `check`)."""
    blocker = tmp_path / "no-pyav" / "av"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no PyAV on this machine')\n")
    return {"PYTHONPATH": f"{ROOT}:{blocker.parent}"}


def kit(step: str, env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        ["bash", str(KIT), step, *args], env=os.environ | env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"{step}: {run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return run.stdout


def test_the_kit_rehearsed_on_the_cpu(
    data: Path, tmp_path: Path, tiny_weights: Path, without_pyav: dict[str, str]
) -> None:
    state, kit_dir = tmp_path / "state", tmp_path / "kit"
    state.mkdir()
    (state / "recipe.args").write_text(TINY_RECIPE)
    env = {
        "DEVICE": "cpu", "PYTHON": os.sys.executable, "DATA": str(data), "REFERENCE": str(tiny_weights),
        "KIT": str(kit_dir), "STATE": str(state), "NO_WHEEL": "1", "OMP_NUM_THREADS": "1", "VAL_UNITS": "1,2",
    }  # fmt: skip
    assert "carries" in kit("prepare", env)
    assert {p.name for p in (kit_dir / "train").iterdir()} == {
        "train291.npz", "set5.npz", "coded291.npz", "set5_coded.npz"
    }  # fmt: skip

    for window, minutes in enumerate(("0.02", "0.03", "0")):  # each resumes the last; the third trains nothing
        out = tmp_path / f"train{window}"
        window = {"OUT": str(out), "MINUTES": minutes, "SAVE_MINUTES": "0.01", "REPORT_UNITS": "1", "SCALES": "2 3"}
        kit("train", env | without_pyav | window)
        assert {"last.pt", "best.safetensors", "curve.jsonl", "train.log", "window.json", "report.json"} <= {
            p.name for p in out.iterdir()
        }
        kit("collect", env, str(out))
    windows = [json.loads(line) for line in (state / "windows.jsonl").read_text().splitlines()]
    assert len(windows) == 3 and windows[0]["steps"][0] == 0
    assert windows[1]["steps"][0] == windows[0]["steps"][1] < windows[1]["steps"][1]
    assert windows[2]["steps"] == [windows[1]["steps"][1]] * 2  # no step, no better weights: still collected
    assert windows[1]["psnr_end"].keys() == {"2", "3", "4"} and set(windows[1]["psnr_units_end"]) == {"1", "2"}
    curve = [json.loads(line) for line in (state / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == sorted(r["step"] for r in curve)  # one curve across both windows
    assert torch.load(state / "last.pt", weights_only=True)["step"] == windows[2]["steps"][1]

    report = json.loads((tmp_path / "train2" / "report.json").read_text())  # the run's best weights
    assert [(r["dataset"], r["scale"]) for r in report["results"]] == [
        ("Set5", 2), ("Set5", 3), ("Set14", 2), ("Set14", 3)
    ]  # fmt: skip
    assert [row["units"] for row in report["depths"]] == [1]  # REPORT_UNITS=1 caps the depth table
    assert set(report["clips_x2"]) == {"best.safetensors", "reference.params", "drrn-b1u25-x234"}
    assert report["clips_x2"]["best.safetensors"]["clip.mp4"]["frames"] == 3
    assert len(list((state / "logs").glob("*-report.json"))) >= 1

    real_input_window(env, tmp_path, tiny_weights, without_pyav)

    for uncarried in ("clips.npz", "Set14.npz"):  # the check call carries eval/Set5 and eval/reference.params
        (kit_dir / "eval" / uncarried).unlink()
    out = tmp_path / "check"
    check_env = {"OUT": str(out), "UNITS": "1", "SIZE": "64x48", "FRAMES": "3", "EVAL_PRECISIONS": "fp32",
                 "BENCH_PRECISION": "fp32", "LIVE_SIZE": "32x24", "LIVE_FRAMES": "4",
                 "LIVE_BUDGET": "5000", "TRAIN_PROBE": "--patch 16 --batches 6 12 --seconds 0.1"}  # fmt: skip
    log = kit("check", env | check_env)
    assert "failed" not in log, log
    assert "4 enhanced frames" in log and "(0 over the budget)" in log
    assert json.loads((out / "reference_set5_x2_fp32.json").read_text())["results"][0]["images"] == 2
    assert json.loads((out / "bench.json").read_text())["size"] == "64x48"
    probe = json.loads((out / "train_probe.json").read_text())
    assert [row["batch"] for row in probe["batches"]] == [6, 12] and all(r["steps"] >= 2 for r in probe["batches"])
    assert probe["profile"]["top"] and probe["profile"]["top"][0]["ms_per_step"] > 0

    shipped, weak = tmp_path / "shipped.safetensors", tmp_path / "weak.safetensors"
    weights = read_weights(tiny_weights)
    weights.metadata["psnr"] = json.dumps({"2": 10.0, "3": 10.0})  # measured, and beaten by anything
    save_weights(weak, weights)
    reported = [str(tmp_path / "train2" / "report.json"), str(state / "best.safetensors")]
    ship = [os.sys.executable, "-m", "benchmarks.window_eval", "ship", *reported, "--to", str(shipped)]
    unmeasured = subprocess.run([*ship, "--against", str(tiny_weights)], cwd=ROOT, capture_output=True, text=True)
    assert unmeasured.returncode != 0 and "not shipped" in unmeasured.stderr and not shipped.exists()
    beaten = subprocess.run([*ship, "--against", str(weak)], cwd=ROOT, capture_output=True, text=True)
    assert beaten.returncode == 0, beaten.stderr
    metadata = read_weights(shipped).metadata
    assert json.loads(metadata["psnr"]) == {str(r["scale"]): round(r["psnr"], 3) for r in report["results"][:2]}
    assert json.loads(metadata["set14"]).keys() == {"2", "3"} and metadata["name"] == "drrn-b1u3-x234"
    assert json.loads(metadata["psnr_by_units_Set5_x2"]).keys() == {"1"}


def real_input_window(env: dict[str, str], tmp_path: Path, start: Path, without_pyav: dict[str, str]) -> None:
    """A real-input run's window: fine-tuning from weights on the coded LR that `prepare` made, chosen
    on clean and coded Set5, reported on the clips' coded LR too."""
    state = tmp_path / "real-input"
    state.mkdir()
    (state / "recipe.args").write_text(TINY_RECIPE.replace("--init msra-zero-out", f"--start-from {start}")
                                       + "--coded-share 0.5\n")  # fmt: skip
    out = tmp_path / "real-input-train"
    window = {"OUT": str(out), "MINUTES": "0.02", "SAVE_MINUTES": "0.01", "REPORT_UNITS": "1", "SCALES": "2"}
    for name, text, asked in (("coded.crf", "27-40", "CRF 27-40 x264,x265,jpeg"),
                              ("coded.codecs", "x264,x265", "CRF 18-36 x264,x265")):  # fmt: skip
        (state / name).write_text(text + "\n")  # a run on another mix than the kit's LR: refused, nothing trained
        refused = subprocess.run(["bash", str(KIT), "train"], env=os.environ | env | without_pyav | window |
                                 {"STATE": str(state)}, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert f"trains on {asked};" in refused.stderr and "is CRF 18-36 x264,x265,jpeg" in refused.stderr
        assert not (out / "curve.jsonl").exists()
        (state / name).unlink()
    shallow = {name: value for name, value in env.items() if name != "VAL_UNITS"}  # the kit's own default
    kit("train", shallow | without_pyav | window | {"STATE": str(state)})
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert any(set(r.get("psnr_coded", {})) == {"2", "3", "4"} for r in curve)
    assert not any("psnr_units" in r for r in curve)  # 3 units deep: validated at its own depth alone, not at 9
    report = json.loads((out / "report.json").read_text())
    assert "coded LR" in report["metadata"]["coded"] and "tiny.safetensors" in report["metadata"]["trained"]
    rows = report["clips_coded"]["best.safetensors"]
    assert set(rows) == {"x2 clean", *(f"x2 x264:crf={crf}:preset=medium" for crf in (18, 23, 28, 30, 33, 35)),
                         "x4 clean", "x4 x264:crf=23:preset=medium"}  # fmt: skip
    assert set(rows["x2 clean"]) == {"clip.mp4"} and set(report["clips_coded"]) == set(report["clips_x2"])
    assert {JUDGED_WEIGHTS["compressed"], JUDGED_WEIGHTS["heavy"]} <= set(report["clips_x2"])  # what it must beat
    kit("collect", env | {"STATE": str(state)}, str(out))
    assert (state / "last.pt").is_file() and (state / "windows.jsonl").is_file()
    (state / "last.pt").rename(tmp_path / "lost.pt")  # a checkout or a call without it
    curve = (state / "curve.jsonl").read_bytes()
    refused = subprocess.run(["bash", str(KIT), "train"], env=os.environ | env | without_pyav | window |
                             {"STATE": str(state)}, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert refused.returncode == 1 and "has a run under way (curve.jsonl) but no last.pt" in refused.stderr
    assert (state / "curve.jsonl").read_bytes() == curve


@pytest.mark.parametrize("recipe", [RECIPE, REAL_INPUT_RECIPE, HEAVY_RECIPE], ids=["paper", "real-input", "heavy"])
def test_the_committed_recipe_starts(tmp_path: Path, without_pyav: dict[str, str], recipe: Path) -> None:
    """The windows' recipe files are valid `drrn-stream train` options (one step of each, on 128 px
    images, with the coded LR the kit adds for a real-input run), and the train command and its help
    run without PyAV."""
    write_images(tmp_path / "train" / "T91", 1, 128, 0)
    write_images(tmp_path / "val", 1, 32, 1)
    options = " ".join(line for line in recipe.read_text().splitlines() if not line.startswith("#")).split()
    if "--coded-share" in options:
        for data, coded in (("train", "coded.npz"), ("val", "val_coded.npz")):
            packed = subprocess.run([os.sys.executable, "-m", "stream", "train", "--data", str(tmp_path / data),
                                     "--pack-coded", str(tmp_path / coded)], cwd=ROOT, capture_output=True, text=True,
                                    timeout=600)  # fmt: skip
            assert packed.returncode == 0, packed.stderr[-2000:]
        options += ["--coded", str(tmp_path / "coded.npz"), "--val-coded", str(tmp_path / "val_coded.npz")]
    args = ["--data", str(tmp_path / "train"), "--val-data", str(tmp_path / "val"), "--out", str(tmp_path / "o")]
    overrides = ["--steps", "1", "--batch", "10", "--device", "cpu", "--precision", "fp32"]  # coded: 3 of 10
    help_text = subprocess.run(
        [os.sys.executable, "-m", "stream", "train", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | without_pyav,
    )  # fmt: skip
    assert help_text.returncode == 0 and "--min-units" in help_text.stdout, help_text.stderr
    run = subprocess.run(
        [os.sys.executable, "-m", "stream", "train", *args, *options, *overrides],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | without_pyav,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads((tmp_path / "o" / "curve.jsonl").read_text().splitlines()[-1])["step"] == 1


def test_the_state_resumes_with_the_committed_recipe(tmp_path: Path) -> None:
    """The next window's first step: last.pt and recipe.args agree (same data, same recipe). A paused run's
    last.pt leaves the tree (the device call carries the whole tree; training/README.md): restored from
    history before its next window, this runs again."""
    train = ROOT.parent / "shared" / "data" / "train"
    if not train.is_dir():
        pytest.skip("../shared/data/train not present")
    state = RECIPE.parent / "last.pt"
    if not state.is_file():
        pytest.skip(f"{state.relative_to(ROOT)} is out of the tree while its run is paused (training/README.md)")
    step = torch.load(state, map_location="cpu", weights_only=True)["step"]
    options = " ".join(line for line in RECIPE.read_text().splitlines() if not line.startswith("#")).split()
    run = subprocess.run(
        [os.sys.executable, "-m", "stream", "train", "--data", str(train), "--out", str(tmp_path / "o"),
         "--resume", str(state), "--steps", str(step), "--val-every", "0", *options, "--device", "cpu",
         "--precision", "fp32"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"resuming at step {step}" in run.stderr
