"""Print docs/QUALITY.md's table from the recorded `drrn-stream eval --json` results.

    python -m benchmarks.quality_table docs/results/reference_*.json

Each file holds one `{"results": [...]}` object; the paper's DRRN B1U25 PSNR (Tai et al., CVPR
2017) stands beside ours. Missing cells print as "pending".
"""

from __future__ import annotations

import argparse
import json

PAPER = {  # (dataset, scale) -> PSNR of DRRN B1U25, as the paper reports it
    ("Set5", 2): 37.74, ("Set5", 3): 34.03, ("Set5", 4): 31.68,
    ("Set14", 2): 33.23, ("Set14", 3): 29.96, ("Set14", 4): 28.21,
    ("B100", 2): 32.05, ("B100", 3): 28.95, ("B100", 4): 27.38,
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="drrn-stream eval --json files")
    measured = {}
    for path in parser.parse_args().results:
        for r in json.load(open(path))["results"]:
            measured[(r["dataset"], r["scale"])] = r
    print("| dataset | scale | bicubic PSNR / SSIM | DRRN, these weights | paper, DRRN B1U25 (PSNR) |")
    print("|---|---:|---:|---:|---:|")
    for (dataset, scale), paper in PAPER.items():
        r = measured.get((dataset, scale))
        ours = f"{r['psnr']:.2f} / {r['ssim']:.4f}" if r else "pending"
        bicubic = f"{r['psnr_bicubic']:.2f} / {r['ssim_bicubic']:.4f}" if r else "pending"
        print(f"| {dataset} | x{scale} | {bicubic} | {ours} | {paper:.2f} |")


if __name__ == "__main__":
    main()
