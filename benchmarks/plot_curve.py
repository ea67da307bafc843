"""Plot a training curve written by `drrn-stream train` (curve.jsonl) as a PNG.

python -m benchmarks.plot_curve training/b1u25-x234/curve.jsonl docs/training_b1u25.png

Loss and validation PSNR against training pixels seen (and, for runs on a GPU, GPU minutes on
the top axis), at the model's depth for every scale and at the extra depths (--val-units) for x2;
where the run also validated on coded LR (--val-coded), that in a third panel: Set5 scores some 8 dB
lower there, which on one axis would flatten both.
"""

from __future__ import annotations

import argparse
import json

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve", help="a run's curve.jsonl")
    parser.add_argument("out", help="the PNG to write")
    args = parser.parse_args()
    curve, out = args.curve, args.out
    rows = [json.loads(line) for line in open(curve)]
    for r in rows:  # curves from before pixels were logged: steps only
        r.setdefault("pixels", r["step"])
    unit, label = (1e9, "training pixels seen (billions)") if rows[-1]["pixels"] != rows[-1]["step"] else (1, "step")
    losses = [r for r in rows if "loss" in r]
    checks = [r for r in rows if "psnr" in r]
    coded = [r for r in checks if "psnr_coded" in r]
    fig, axes = plt.subplots(1, 3 if coded else 2, figsize=(16 if coded else 11, 4), dpi=110)
    left, right = axes[0], axes[1]
    left.semilogy([r["pixels"] / unit for r in losses], [r["loss"] for r in losses], color="tab:gray", lw=0.8)
    left.set(xlabel=label, ylabel="training MSE (luma in [0, 1])", title="loss")
    for scale in checks[0]["psnr"] if checks else []:
        scores(right, [r["pixels"] / unit for r in checks], [r["psnr"][scale] for r in checks], f"x{scale}")
    for depth in checks[-1].get("psnr_units", {}) if checks else {}:
        with_depth = [r for r in checks if depth in r.get("psnr_units", {})]
        xs = [r["pixels"] / unit for r in with_depth]
        right.plot(xs, [r["psnr_units"][depth]["2"] for r in with_depth], ls="--", lw=1, label=f"x2 at U{depth}")
    right.set(xlabel=label, ylabel="Set5 Y PSNR (dB)", title="validation (EMA weights where the recipe keeps them)")
    right.legend(fontsize=8, ncol=2)
    if coded:
        for scale in coded[0]["psnr_coded"]:
            scores(axes[2], [r["pixels"] / unit for r in coded], [r["psnr_coded"][scale] for r in coded], f"x{scale}")
        axes[2].set(xlabel=label, ylabel="Set5 Y PSNR (dB), coded LR", title="validation on coded LR")
        axes[2].legend(fontsize=8)
    gpu = [(r["pixels"] / unit, r.get("gpu_seconds", 0) / 60) for r in rows]
    if gpu[-1][1] > 0:
        px, minutes = np.array(gpu).T
        for ax in axes[1:]:
            top = ax.secondary_xaxis(
                "top", functions=(lambda x: np.interp(x, px, minutes), lambda m: np.interp(m, minutes, px))
            )
            top.set_xlabel("GPU minutes")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


def scores(ax: plt.Axes, xs: list[float], psnr: list[float], label: str) -> None:
    """One scale's validation PSNR, its last point labelled with the change since the first: a
    fine-tune's tenths of a dB are invisible beside the dBs between scales."""
    ax.plot(xs, psnr, marker="o", ms=3, label=label)
    ax.annotate(f"{psnr[-1] - psnr[0]:+.2f} dB", (xs[-1], psnr[-1]), textcoords="offset points", xytext=(-4, -12),
                ha="right", fontsize=8)  # fmt: skip


if __name__ == "__main__":
    main()
