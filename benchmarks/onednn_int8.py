"""The CPU's int8 paths against its bf16 default: speed a frame and Set5 x2, in one run.

    python -m benchmarks.onednn_int8 [--units 17] [--size 320x240] [--rounds 7] [--paths bf16,int8,onnx] [--out F.json]

Times the product's restorers as `--precision` and `--weights` pick them, at the shipped int8 file's
depth: PyTorch bf16 (oneDNN's fused convs), PyTorch int8 (oneDNN's int8 convs, kernels.onednn.
Int8Forward: the default on x86 CPUs with AVX2) and the shipped int8 ONNX file through ONNX Runtime (the
default on VNNI CPUs until 2026-12-05, now where torch lacks oneDNN's int8). One frame per path in
rounds, the paths in random order; then Set5 x2 for each and fp32. `ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`
holds oneDNN to the kernels a VNNI CPU without AMX has (the ONNX Runtime path is unaffected); `AVX2` and
`AVX512_CORE` to those of CPUs without VNNI (`--paths fp32,int8` there: what auto ran before, and runs
now).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from kernels.choice import ModelChoice
from kernels.inference import Restores
from kernels.pretrained import DEFAULT_PRETRAINED, int8_path, pretrained_path
from stream.bench.measure import cpu_isa, host_name
from stream.eval.protocol import evaluate_dataset, read_dataset

DATA = Path("../shared/data")  # run from the repository root, as the other benchmarks


def restorers(units: int, paths: list[str]) -> dict[str, Restores]:
    """The product's CPU paths at `units` ("fp32", "bf16", "int8": PyTorch; "onnx": the shipped int8
    file), named as the header names them."""
    # the weights by their file: by name, --precision int8 at the export's depth runs the ONNX file on a VNNI CPU
    named = str(pretrained_path(DEFAULT_PRETRAINED))
    choices = [ModelChoice(named, device="cpu", units=units, precision=p) for p in paths if p != "onnx"]
    choices += [ModelChoice(str(int8_path(DEFAULT_PRETRAINED)), device="cpu")] if "onnx" in paths else []
    return {f"{x.ran.precision} ({x.ran.backend})": x.restorer for x in map(ModelChoice.load, choices)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=17, help="the shipped int8 file's depth")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--paths", default="bf16,int8,onnx", help="those timed, of fp32, bf16, int8 and onnx")
    args = parser.parse_args()
    paths = restorers(args.units, args.paths.split(","))
    width, height = map(int, args.size.split("x"))
    frame, ms = torch.rand(1, 1, height, width), {name: [] for name in paths}
    for restore in paths.values():
        restore(frame)  # oneDNN primitives, ONNX Runtime's session
    for _ in range(args.rounds):
        for name in random.sample(list(paths), len(paths)):
            start = time.perf_counter()
            paths[name](frame)
            ms[name].append(round((time.perf_counter() - start) * 1000, 1))
    print(json.dumps(ms), flush=True)
    paths.setdefault("fp32 (PyTorch)", ModelChoice(device="cpu", units=args.units, precision="fp32").load().restorer)
    lumas, set5 = read_dataset(DATA / "Set5"), {}
    for name, restore in paths.items():
        set5[name] = round(evaluate_dataset(lambda y, r=restore: r(y.float()), "Set5", lumas, 2).psnr, 4)
        print(f"Set5 x2 {name}: {set5[name]}", flush=True)
    record = {"date": date.today().isoformat(), "host": host_name(torch.device("cpu")), "isa": cpu_isa(),
              "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), "units": args.units, "size": args.size,
              "ms_per_frame": ms, "ms_median": {name: statistics.median(v) for name, v in ms.items()},
              "set5_x2": set5}  # fmt: skip
    print(json.dumps(record))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
