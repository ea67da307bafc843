"""Plot a training curve written by `drrn-stream train` (curve.jsonl) as a PNG.

python -m benchmarks.plot_curve training/b1u25-x234/curve.jsonl docs/training_b1u25.png

Loss and validation PSNR against training pixels seen (and, for runs on a GPU, GPU minutes on
the top axis), at the model's depth for every scale and at the extra depths (--val-units) for x2.
"""

from __future__ import annotations

import json
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend


def main() -> None:
    curve, out = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(curve)]
    for r in rows:  # curves from before pixels were logged: steps only
        r.setdefault("pixels", r["step"])
    unit, label = (1e9, "training pixels seen (billions)") if rows[-1]["pixels"] != rows[-1]["step"] else (1, "step")
    losses = [r for r in rows if "loss" in r]
    checks = [r for r in rows if "psnr" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    left.semilogy([r["pixels"] / unit for r in losses], [r["loss"] for r in losses], color="tab:gray", lw=0.8)
    left.set(xlabel=label, ylabel="training MSE (luma in [0, 1])", title="loss")
    for scale in checks[0]["psnr"] if checks else []:
        xs = [r["pixels"] / unit for r in checks]
        right.plot(xs, [r["psnr"][scale] for r in checks], marker="o", ms=3, label=f"x{scale}")
    for depth in checks[-1].get("psnr_units", {}) if checks else {}:
        with_depth = [r for r in checks if depth in r.get("psnr_units", {})]
        xs = [r["pixels"] / unit for r in with_depth]
        right.plot(xs, [r["psnr_units"][depth]["2"] for r in with_depth], ls="--", lw=1, label=f"x2 at U{depth}")
    right.set(xlabel=label, ylabel="Set5 Y PSNR (dB)", title="validation (EMA weights where the recipe keeps them)")
    right.legend(fontsize=8, ncol=2)
    gpu = [(r["pixels"] / unit, r.get("gpu_seconds", 0) / 60) for r in rows]
    if gpu[-1][1] > 0:
        px, minutes = np.array(gpu).T
        top = right.secondary_xaxis(
            "top", functions=(lambda x: np.interp(x, px, minutes), lambda m: np.interp(m, minutes, px))
        )
        top.set_xlabel("GPU minutes")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
