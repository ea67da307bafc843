"""docs/SCALING.md's measurement: a chunked run in 1 and in N worker processes, and as Ray tasks
on a local Ray instance the run starts (with --ray), taking turns, on a generated CPU-bound clip
(B1U25, the shipped weights).

    python -m benchmarks.scaling --out docs/results/scaling_cpu.json [--workers 2] [--frames 48] [--ray]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from stream.bench.measure import cpu_isa, host_name
from stream.bench.synthetic import write_clip


def timed_run(src: Path, dst: Path, workers: str, seconds: float) -> float:
    """workers: a number of local worker processes, or "ray"."""
    where = ["--ray"] if workers == "ray" else ["--workers", workers]
    command = [sys.executable, "-m", "stream", str(src), str(dst), "-y", "--quiet", "--precision", "fp32",
               "--chunk-seconds", str(seconds), *where]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="64x48", help="input WxH (the output is x2)")
    parser.add_argument("--ray", action="store_true", help="also as Ray tasks (a local instance, started each run)")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    runs: dict[str, list[float]] = {"1": [], str(args.workers): [], **({"ray": []} if args.ray else {})}
    with tempfile.TemporaryDirectory() as tmp:
        src = write_clip(Path(tmp) / "in.mp4", width, height, args.frames, gop=args.frames // 4)  # four chunks
        for _ in range(2):  # 1, N, ray, 1, N, ray: a shared machine's drift reaches all
            for workers in runs:
                runs[workers].append(timed_run(src, Path(tmp) / "out.mkv", workers, args.frames / 4 / 25))
                print(workers, runs[workers][-1], flush=True)
    record = {
        "input": f"{args.size}, {args.frames} frames, 4 chunks", "output": f"{width * 2}x{height * 2}, B1U25 fp32",
        "seconds": runs, "speedup": {k: min(runs["1"]) / min(v) for k, v in runs.items() if k != "1"},
        "host": host_name(torch.device("cpu")), "isa": cpu_isa(), "date": date.today().isoformat(),
    }  # fmt: skip
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
