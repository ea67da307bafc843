"""Plot a training curve written by `drrn-stream train` (curve.jsonl) as a PNG.

python -m benchmarks.plot_curve runs/b1u3/curve.jsonl docs/training_b1u3.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend


def main() -> None:
    curve, out = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(curve)]
    losses = [r for r in rows if "loss" in r]
    checks = [r for r in rows if "psnr" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    left.semilogy([r["step"] for r in losses], [r["loss"] for r in losses], color="tab:gray")
    left.set(xlabel="step", ylabel="training MSE (luma in [0, 1])", title="loss")
    for scale in checks[0]["psnr"] if checks else []:
        right.plot([r["step"] for r in checks], [r["psnr"][scale] for r in checks], marker="o", label=f"x{scale}")
    right.set(xlabel="step", ylabel="Y PSNR (dB)", title="training-time validation (see --val-crop)")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
