"""The CPU's time a frame by tile size and frame shape, through the product's restorer.

    python -m benchmarks.tile_size [--precision auto] [--sizes 1280x720] [--tiles 512,768,0] [--rounds 3] [--out F.json]

Each (size, tile) runs one random frame per round, the pairs in random order each round (this
machine drifts by ~10% between minutes). `--tiles 0` is whole frames, so `--sizes 459x392,448x392
--tiles 0` times window shapes as the tiler cuts them (kernels/tiling.py WINDOW_ALIGN).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from kernels.choice import ModelChoice
from stream.bench.measure import cpu_isa, host_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--sizes", default="1280x720", help="output WxH, comma-separated")
    parser.add_argument("--tiles", default="512,768,0", help="tile sizes, comma-separated; 0: whole frames")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [tuple(map(int, size.split("x"))) for size in args.sizes.split(",")]
    tiles = [int(tile) for tile in args.tiles.split(",")]
    runs = {(w, h, tile): ModelChoice(device="cpu", precision=args.precision, tile=tile).load() for w, h in sizes
            for tile in tiles}  # fmt: skip
    frames = {(w, h): torch.rand(1, 1, h, w) for w, h in sizes}
    for (w, h, _), loaded in runs.items():
        loaded.restorer(frames[w, h])  # oneDNN primitives for these shapes
    seconds: dict[tuple[int, int, int], list[float]] = {key: [] for key in runs}
    for _ in range(args.rounds):
        for key in random.sample(list(runs), len(runs)):
            start = time.perf_counter()
            runs[key].restorer(frames[key[:2]])
            seconds[key].append(round(time.perf_counter() - start, 4))
    rows = [{"size": f"{w}x{h}", "tile": tile, "tiling": str(runs[w, h, tile].ran.tiling), "seconds": s,
             "median_s": statistics.median(s), "us_per_pixel": round(statistics.median(s) / (w * h) * 1e6, 3)}
            for (w, h, tile), s in seconds.items()]  # fmt: skip
    for row in rows:
        print(json.dumps(row), flush=True)
    first = next(iter(runs.values())).ran
    record = {"date": date.today().isoformat(), "host": host_name(torch.device("cpu")), "isa": cpu_isa(),
              "model": str(first), "rounds": args.rounds, "rows": rows}  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
