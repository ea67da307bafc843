"""Where heavily compressed input starts (stream.content.HEAVY_QP), measured on images the clips never were.

    python -m benchmarks.heavy_threshold --out docs/results/degraded/heavy_threshold_B100.json \\
        [--images ../shared/data/B100] [--crfs 23 26 28 30 33] [--frames 4] [--crop 128] [--shift 2]

The clips that score the default table cannot also set the threshold that picks its sets. Here each image
becomes a short pan (`--frames` crops of its centre, each `--shift` px right and down of the last), so x264
codes P and B frames as in a download; its LR (FFmpeg's bicubic, x2) is coded at each CRF, and the median
quantiser of its frames is what the product's judge would read. The sets for compressed and heavily
compressed input (kernels.pretrained.JUDGED_WEIGHTS, each at its own depth) both restore every frame; the
table gives, per threshold, the mean gain over bicubic at each CRF with the set that quantiser picks, and
how many images fall below bicubic.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import date
from pathlib import Path

import torch

from kernels.choice import ModelChoice
from stream.bench.measure import cpu_isa, host_name
from stream.degrade import CodecRoundTrip, parse_degradation
from stream.eval.images import list_images, read_luma
from stream.eval.protocol import centre_crop, levels, low_res, score_lr

SCALE = 2
THRESHOLDS = range(22, 40)


def pan(y: torch.Tensor, frames: int, crop: int, shift: int) -> list[torch.Tensor]:
    """`frames` crops of `crop` px from the image's centre, each `shift` px right and down of the last."""
    centre = centre_crop(y, crop + shift * (frames - 1))
    return [centre[i * shift : i * shift + crop, i * shift : i * shift + crop] for i in range(frames)]


def score_image(path: Path, crfs: list[int], args: argparse.Namespace, restorers: dict) -> list[dict]:
    """Per CRF: the quantiser read and each set's mean gain over bicubic on the image's pan."""
    gts = pan(read_luma(path), args.frames, args.crop, args.shift)
    lrs = [low_res(gt, SCALE, "bicubic") for gt in gts]
    rows = []
    for crf in crfs:
        codec = CodecRoundTrip(parse_degradation(f"x264:crf={crf}"), args.crop // SCALE, args.crop // SCALE)
        decoded = [y for lr in lrs for y in codec.push(levels(lr))] + codec.flush()
        coded = [torch.from_numpy(y).to(torch.float64) / 255 for y in decoded]
        gains = {}
        for kind, restore in restorers.items():
            scores = [score_lr(restore, gt, lr, SCALE) for gt, lr in zip(gts, coded, strict=True)]
            gains[kind] = statistics.mean(s.psnr for s in scores) - statistics.mean(s.psnr_bicubic for s in scores)
        rows.append({"image": path.name, "crf": crf, "quantiser": statistics.median(codec.quantisers)} | gains)
    return rows


def by_threshold(rows: list[dict], crfs: list[int]) -> dict[int, dict[int, dict[str, float]]]:
    """{threshold: {crf: {mean gain, images below bicubic}}} with the heavy set from that quantiser on."""
    table = {}
    for t in THRESHOLDS:
        table[t] = {}
        for crf in crfs:
            gains = [r["heavy"] if r["quantiser"] >= t else r["compressed"] for r in rows if r["crf"] == crf]
            table[t][crf] = {"gain": statistics.mean(gains), "below": sum(g < 0 for g in gains)}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/B100"))
    parser.add_argument("--crfs", type=int, nargs="+", default=[23, 26, 28, 30, 33])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--shift", type=int, default=2)
    parser.add_argument("--precision", default="bf16")
    args = parser.parse_args()
    loaded = {k: ModelChoice(content=k, precision=args.precision).load() for k in ("compressed", "heavy")}
    for model in loaded.values():
        print(model.ran, flush=True)
    restorers = {k: m.restorer for k, m in loaded.items()}
    rows = []
    for path in list_images(args.images):
        rows += score_image(path, args.crfs, args, restorers)
        print(json.dumps(rows[-len(args.crfs) :]), flush=True)
    table = by_threshold(rows, args.crfs)
    for t, per_crf in table.items():
        print(f"from {t}: " + "  ".join(f"CRF {c} {v['gain']:+.3f} ({v['below']} below)" for c, v in per_crf.items()))
    record = {
        "sets": {k: m.ran.model for k, m in loaded.items()}, "images": str(args.images), "frames": args.frames,
        "crop": args.crop, "shift": args.shift, "host": host_name(torch.device("cpu")), "isa": cpu_isa(),
        "torch": torch.__version__, "date": date.today().isoformat(), "by_threshold": table, "rows": rows,
    }  # fmt: skip
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
