"""What keeping freed memory in the heap (kernels/host_memory.py) does to the CPU's speed and memory.

    python -m benchmarks.host_memory [--size 320x240] [--frames 32] [--rounds 3] [--out F.json]

Each round runs a child process with glibc told to keep freed memory (what the product does) and
one with glibc's default, in random order: each warms the model, times the whole pipeline twice on
a synthetic clip and the model stage alone (bench's measures), and reports its peak resident memory.
mallopt's setting holds for the whole process, so the two cannot share one.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

from stream.bench.measure import cpu_isa, host_name

CHILD = """
import json, resource, statistics, sys, tempfile
from pathlib import Path
import kernels.inference
if sys.argv[1] == "default":
    kernels.inference.keep_freed_memory = lambda: False
from kernels.choice import ModelChoice
from stream.bench.measure import GemmPeak, model_rates, pipeline_run
from stream.bench.synthetic import write_clip
from stream.video.enhance import EnhanceOptions
width, height, frames = map(int, sys.argv[2:5])
loaded = ModelChoice().load()
restorer, options = loaded.restorer, EnhanceOptions(scale=2, overwrite=True)
with tempfile.TemporaryDirectory() as tmp:
    clip = write_clip(Path(tmp) / "in.mp4", width // 2, height // 2, frames)
    pipeline_run(restorer, options, clip, Path(tmp) / "out.mp4")  # warm-up
    pipeline = [pipeline_run(restorer, options, clip, Path(tmp) / "out.mp4")[0] for _ in range(2)]
    alone = model_rates(restorer, GemmPeak(restorer.device, restorer.precision), 2, width, height, frames)[0]
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"model": str(loaded.ran), "pipeline_fps": statistics.median(pipeline),
                  "model_fps": statistics.median(alone), "max_rss_mb": peak_mb}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240", help="output WxH (x2)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"kept": [], "default": []}
    for _ in range(args.rounds):
        for policy in random.sample(list(runs), len(runs)):
            child = subprocess.run([sys.executable, "-c", CHILD, policy, *args.size.split("x"), str(args.frames)],
                                   capture_output=True, text=True, check=True)  # fmt: skip
            runs[policy].append(json.loads(child.stdout.splitlines()[-1]))
            print(policy, runs[policy][-1], flush=True)
    keys = ("pipeline_fps", "model_fps", "max_rss_mb")
    medians = {policy: {key: statistics.median(r[key] for r in rows) for key in keys} for policy, rows in runs.items()}
    record = {
        "model": runs["kept"][0]["model"], "size": args.size, "frames": args.frames,
        "host": host_name(torch.device("cpu")), "isa": cpu_isa(), "date": date.today().isoformat(),
        "runs": runs, "medians": medians,
        "pipeline_speedup": medians["kept"]["pipeline_fps"] / medians["default"]["pipeline_fps"],
        "model_speedup": medians["kept"]["model_fps"] / medians["default"]["model_fps"],
    }  # fmt: skip
    print(json.dumps({k: v for k, v in record.items() if k != "runs"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
