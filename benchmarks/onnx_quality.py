"""docs/QUALITY.md's ONNX table: PyTorch fp32, ONNX fp32 and ONNX int8 (each calibration
method), all through 256-px tiles with halo 16, on the asked datasets at x2/x3/x4.

    python -m benchmarks.onnx_quality --weights W [--weights W2] --dataset ../shared/data/Set5 \\
        --calibration ../shared/data/train/T91 --out docs/results/onnx_quality.json

The files are made by `drrn-stream export` (--dynamic; --int8 --method M), and scored as
`drrn-stream eval --tile 256 --halo 16` scores them; ONNX fp32's restored pixels are also
compared with PyTorch's (the largest difference in 0..255 levels, at x2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from kernels.choice import ModelChoice
from kernels.metrics import to_levels
from stream.eval.protocol import Restore, evaluate_dataset, read_dataset

METHODS = ("percentile", "minmax", "entropy")


def export(weights: str, dst: Path, *args: str) -> Path:
    command = [sys.executable, "-m", "stream", "export", str(dst), "--dynamic", "-y", *args]
    subprocess.run(command + (["--weights", weights] if weights != "shipped" else []), check=True)
    return dst


def recording(restorer: Restore, into: list[torch.Tensor]) -> Restore:
    """`restorer`, keeping each result's 0..255 levels in `into`."""

    def restore(y: torch.Tensor) -> torch.Tensor:
        out = restorer(y)
        into.append(to_levels(out))
        return out

    return restore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", action="append", default=[], help="'shipped' or a weights file; repeatable")
    parser.add_argument("--dataset", action="append", type=Path, required=True)
    parser.add_argument("--scale", action="append", type=int, default=[])
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--patches", type=int, default=48)
    parser.add_argument("--methods", default=",".join(METHODS), help="int8 calibration methods; '' for none")
    parser.add_argument("--fp16", action="store_true", help="also an fp16 file, run by ONNX Runtime on the CPU")
    parser.add_argument("--no-float", action="store_true", help="no ONNX fp32 file (PyTorch fp32 still runs)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    datasets = {folder.name: read_dataset(folder) for folder in args.dataset}
    rows = []
    for weights in args.weights or ["shipped"]:
        with tempfile.TemporaryDirectory() as tmp:
            files = {} if args.no_float else {"onnx fp32": export(weights, Path(tmp) / "fp32.onnx")}
            if args.fp16:
                files["onnx fp16 (CPU)"] = export(weights, Path(tmp) / "fp16.onnx", "--fp16")
            for method in filter(None, args.methods.split(",")):
                files[f"onnx int8 {method}"] = export(
                    weights, Path(tmp) / f"{method}.onnx", "--int8", "--calibration", str(args.calibration),
                    "--method", method, "--patches", str(args.patches),
                )  # fmt: skip
            runs = {"torch fp32": None if weights == "shipped" else Path(weights), **files}
            for name, images in datasets.items():
                for scale in args.scale or [2, 3, 4]:
                    levels: dict[str, list[torch.Tensor]] = {}
                    for runtime, path in runs.items():
                        choice = ModelChoice(path, None, "cpu", "fp32", tile=256, halo=16, batch=1)
                        restorer = choice.load().restorer
                        levels[runtime] = []
                        result = evaluate_dataset(recording(restorer, levels[runtime]), name, images, scale)
                        row = {"weights": weights, "runtime": runtime, **dataclasses.asdict(result)}
                        pairs = zip(levels[runtime], levels["torch fp32"], strict=True)
                        row["max_level_diff_vs_torch"] = max(int((a - b).abs().max()) for a, b in pairs)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
