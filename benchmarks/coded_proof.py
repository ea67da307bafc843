"""The real-input recipe proved small on a CPU before a GPU window scales it (issue #22, item 4).

    python -m benchmarks.coded_proof --out docs/results/coded_proof [--base-steps 6000] [--tune-steps 3000]
        [--arms base,coded70,...]

A small DRRN (B1U3, 32 channels, x2) is trained on the clean pairs of the 291 images; then, from
those weights, fine-tuned for as many steps several ways: clean pairs only (the control: what more
training alone gives), and with 30%, 60% and 70% of each batch from coded LR (train --pack-coded:
x264 and x265, CRF 18-36, five kernels, intra and inter), 70% also at twice the rate (the recipe of
real-input run 2, a set for compressed input only); and all coded, from the whole CRF range or from
its heavy end alone (27-40: a set for the input whose quantiser says it is heavily compressed, the
band where the broad set stays near bicubic); and 70% coded with JPEG among the codecs (a third of
the coded LR, q 30-90: pictures and MJPEG cameras), and with MPEG-2 too (a quarter each, quantiser
2-16: DVDs); and 70% coded with JPEG, and all coded from the heavy band, again trained on the L1
loss in place of the paper's L2 (EDSR's choice and its successors'); and 70% coded with JPEG from video
LR of which 90% (not half) are predicted frames, the last of their sequence (P) or any after its first
(P or B: most of a real video's frames are B frames, coded coarser); and 70% coded with JPEG from eight
codings of each image in place of two (more of the same pictures' coded LR: is the set short of it?).
Each is scored as benchmarks/degraded.py scores the shipped weights (real clips, centre 256 px, FFmpeg
bicubic, libx264 at CRF 18-35, JPEG at q 40 and 75, MPEG-2 at 4, 8 and 12) and on Set5 by the papers'
protocol. The sign to see: the coded fine-tunes gain more over bicubic on coded LR than the
control, and keep its clean gain.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from stream.degrade import parse_degradation

DATA = Path("../shared/data")
SMALL = ["--units", "3", "--channels", "32", "--scales", "2", "--patch", "31", "--batch", "64", "--optimizer", "adam",
         "--clip", "0", "--val-every", "0", "--log-every", "50"]  # fmt: skip
TUNE_LR = 2e-4
BROAD, HEAVY = "18-36", "27-40"  # the CRF bands coded LR is drawn from
VIDEO, WITH_JPEG, WITH_MPEG2 = "x264,x265", "x264,x265,jpeg", "x264,x265,mpeg2,jpeg"  # codecs drawn from


class Arm(NamedTuple):
    """One fine-tune from the base: what differs between the arms."""

    share: float  # of each batch, patches with coded LR
    band: str = BROAD
    codecs: str = VIDEO
    lr: float = TUNE_LR
    loss: str = "l2"
    inter: float = 0.5  # of the video LR, predicted frames of a moving window
    predicted: str = "last"  # which: the window's last frame (P), or any after the first (P or B)
    variants: int = 2  # coded LR per training image: more codings of the same pictures


TUNES = {"control": Arm(0.0), "coded30": Arm(0.3), "coded60": Arm(0.6), "coded70": Arm(0.7),
         "coded70_lr2x": Arm(0.7, lr=2 * TUNE_LR), "coded100": Arm(1.0), "heavy100": Arm(1.0, HEAVY),
         "coded70_jpeg": Arm(0.7, codecs=WITH_JPEG), "coded70_mpeg2": Arm(0.7, codecs=WITH_MPEG2),
         "coded70_jpeg_l1": Arm(0.7, codecs=WITH_JPEG, loss="l1"),
         "heavy100_l1": Arm(1.0, HEAVY, loss="l1"), "coded70_jpeg_inter90": Arm(0.7, codecs=WITH_JPEG, inter=0.9),
         "coded70_jpeg_pb90": Arm(0.7, codecs=WITH_JPEG, inter=0.9, predicted="any"),
         "coded70_jpeg_v8": Arm(0.7, codecs=WITH_JPEG, variants=8)}  # fmt: skip
# benchmarks.degraded's x2 rows, and JPEG (pictures, MJPEG cameras) and MPEG-2 (DVDs)
SPECS = ("clean", "x264:crf=18", "x264:crf=23", "x264:crf=28", "x264:crf=30", "x264:crf=33", "x264:crf=35",
         "jpeg:q=40", "jpeg:q=75", "mpeg2:q=4", "mpeg2:q=8", "mpeg2:q=12")  # fmt: skip


def stream(*args: str) -> None:
    print("$ drrn-stream", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "stream", *args], check=True)


def train_all(images: Path, work: Path, base_steps: int, tune_steps: int, arms: list[str]) -> dict[str, Path]:
    pack = work / "train291.npz"
    if not pack.exists():
        stream("train", "--data", str(images), "--pack", str(pack))
    base = work / "base"
    if not (base / "best.safetensors").exists():
        stream("train", "--data", str(pack), "--out", str(base), *SMALL, "--lr", "1e-3", "--init", "msra-zero-out",
               "--steps", str(base_steps))  # fmt: skip
    runs = {"base": base / "best.safetensors"}
    for name in arms:
        arm = TUNES[name]
        coded, out = coded_pack(work, pack, arm), work / name
        if not (out / "best.safetensors").exists():
            stream("train", "--data", str(pack), "--out", str(out), *SMALL, "--lr", str(arm.lr), "--steps",
                   str(tune_steps), "--start-from", str(runs["base"]), "--coded", str(coded), "--coded-share",
                   str(arm.share), "--loss", arm.loss, "--seed", "1")  # fmt: skip
        runs[name] = out / "best.safetensors"
    return runs


def coded_pack(work: Path, pack: Path, arm: Arm) -> Path:
    """The coded LR of the training pack at x2, `arm.variants` per image, drawn as the arm's mix (made once)."""
    more = [c for c in arm.codecs.split(",") if c not in VIDEO.split(",")]  # beside x264 and x265, in the name
    name = "coded291_x2" + ("" if arm.band == BROAD else f"_crf{arm.band}") + "".join(f"_{c}" for c in more)
    name += ("" if arm.inter == 0.5 else f"_inter{arm.inter:g}") + ("" if arm.predicted == "last" else "_pb")
    name += "" if arm.variants == 2 else f"_v{arm.variants}"
    coded = work / f"{name}.npz"
    if not coded.exists():
        stream("train", "--data", str(pack), "--pack-coded", str(coded), "--scales", "2", "--variants",
               str(arm.variants), "--crf", arm.band, "--codecs", arm.codecs, "--inter", str(arm.inter),
               "--predicted", arm.predicted)  # fmt: skip
    return coded


def score(runs: dict[str, Path], out: Path) -> None:
    for name, weights in runs.items():
        clips = out / f"clips_{name}.json"
        if not clips.exists():
            subprocess.run([sys.executable, "-m", "benchmarks.degraded", "--out", str(clips), "--weights", str(weights),
                            "--precision", "fp32", "--scales", "2", "--specs", *SPECS], check=True)  # fmt: skip
        set5 = out / f"set5_{name}.json"
        if not set5.exists():
            result = subprocess.run([sys.executable, "-m", "stream", "eval", "--dataset", str(DATA / "Set5"), "--scale",
                                     "2", "--weights", str(weights), "--json"], check=True, capture_output=True,
                                    text=True)  # fmt: skip
            set5.write_text(result.stdout)
    subprocess.run([sys.executable, "-m", "benchmarks.degraded", "--table",
                    *(str(out / f"clips_{name}.json") for name in runs)], check=True)  # fmt: skip
    for name in runs:
        [r] = json.loads((out / f"set5_{name}.json").read_text())["results"]
        gain = r["psnr"] - r["psnr_bicubic"]
        print(f"{name}: Set5 x2 {r['psnr']:.2f} dB (bicubic {r['psnr_bicubic']:.2f}, gain {gain:+.2f})")
    plot(runs, out, out / "gains.png")


def plot(runs: dict[str, Path], out: Path, path: Path) -> None:
    """Mean gain over bicubic per LR coding, a bar per run: what the fine-tunes changed, at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {name: json.loads((out / f"clips_{name}.json").read_text())["rows"] for name in runs}
    specs = list(dict.fromkeys(r["degrade"] for r in next(iter(rows.values()))))
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=120)
    width = 0.8 / len(rows)
    for i, (name, mine) in enumerate(rows.items()):
        means = [
            sum(r["gain"] for r in mine if r["degrade"] == d) / sum(r["degrade"] == d for r in mine) for d in specs
        ]
        ax.bar([j + i * width for j in range(len(specs))], means, width, label=name)
    labels = [parse_degradation(d).label for d in specs]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(specs))], labels, rotation=30, ha="right")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(ylabel="gain over bicubic (dB)", title="B1U3 x2 on the clips: the base and its fine-tunes")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results (JSON) go here")
    parser.add_argument("--work", type=Path, default=Path("build/coded-proof"), help="packs and runs go here")
    parser.add_argument("--images", type=Path, default=DATA / "train", help="the training images (a folder)")
    parser.add_argument("--base-steps", type=int, default=6000)
    parser.add_argument("--tune-steps", type=int, default=3000)
    parser.add_argument("--arms", default=",".join(TUNES), help="the fine-tunes to run and score, beside base")
    args = parser.parse_args()
    arms = args.arms.split(",")
    if unknown := set(arms) - set(TUNES):
        parser.error(f"--arms: no such arm {', '.join(sorted(unknown))} (have {', '.join(TUNES)})")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = train_all(args.images, args.work, args.base_steps, args.tune_steps, arms)
    for name in runs:  # the curves travel with the results; the weights stay in the work folder
        curve = args.work / name / "curve.jsonl"
        if curve.exists():
            (args.out / f"curve_{name}.jsonl").write_text(curve.read_text())
    score(runs, args.out)


if __name__ == "__main__":
    main()
