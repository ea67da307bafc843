"""What the pipeline costs beyond its model stage, split into per frame and per run.

    python -m benchmarks.pipeline_cost [--size 320x240] [--frames 4 32] [--rounds 3] [--out F.json]

`drrn-stream bench` reports e2e_fraction on one short clip, where a run's fixed costs (opening the
input and the encoder, the first frames, the encoder's lookahead flushed at the end) weigh as much
as the frames. Here the whole pipeline (warm model, as bench's pipeline runs) runs on two lengths
of the same synthetic clip, rounds alternating: the slope of wall time over frames is the per-frame
cost, to set against the model stage alone; the intercept is the fixed cost per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import date
from pathlib import Path

from kernels.choice import ModelChoice
from stream.bench.measure import GemmPeak, cpu_isa, host_name, model_rates, pipeline_run
from stream.bench.synthetic import write_clip
from stream.video.enhance import EnhanceOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240", help="output WxH (x2)")
    parser.add_argument("--frames", type=int, nargs=2, default=[4, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    loaded = ModelChoice().load()
    restorer, options = loaded.restorer, EnhanceOptions(scale=2, overwrite=True)
    walls: dict[int, list[float]] = {n: [] for n in args.frames}
    alone: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = {n: write_clip(Path(tmp) / f"in{n}.mp4", width // 2, height // 2, n) for n in args.frames}
        for _ in range(args.rounds):
            alone += model_rates(restorer, GemmPeak(restorer.device, restorer.precision), 2, width, height, 8)[0]
            for n, clip in clips.items():
                fps, _ = pipeline_run(restorer, options, clip, Path(tmp) / "out.mp4")
                walls[n].append(n / fps)
    (short, long), (w_short, w_long) = args.frames, [statistics.median(walls[n]) for n in args.frames]
    per_frame = (w_long - w_short) / (long - short)
    record = {
        "model": str(loaded.ran), "size": args.size, "host": host_name(restorer.device), "isa": cpu_isa(),
        "date": date.today().isoformat(), "walls": walls, "model_stage_s": 1 / statistics.median(alone),
        "pipeline_per_frame_s": per_frame, "fixed_per_run_s": w_short - short * per_frame,
        "steady_fraction": (1 / statistics.median(alone)) / per_frame,
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
