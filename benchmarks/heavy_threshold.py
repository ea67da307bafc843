"""Where heavily compressed input starts (stream.content.QUANTISER_SCALES), measured on images the clips never were.

    python -m benchmarks.heavy_threshold --out docs/results/degraded/heavy_threshold_B100.json \\
        [--codec x264|x265|mpeg2|mpeg4|vp9|av1|vp8] [--levels 23 26 28 30 33] [--sets compressed,heavy] \\
        [--images ../shared/data/B100] [--frames 4] [--crop 128] [--shift 2]

The clips that score the default table cannot also set the threshold that picks its sets. Here each image
becomes a short pan (`--frames` crops of its centre, each `--shift` px right and down of the last), so the
codec codes P and B frames as in a download; its LR (FFmpeg's bicubic, x2) is coded at each level (x264's,
x265's, VP9's and AV1's CRF, MPEG-2's, MPEG-4's and VP8's quantiser), and the median quantiser of its frames (on the
codec's own scale) is what the product's judge would read. The sets for compressed and heavily compressed input
(kernels.pretrained.JUDGED_WEIGHTS, each at its own depth) both restore every frame; the table gives, per
threshold, the mean gain over bicubic at each level with the set that quantiser picks, and how many images
fall below bicubic. `--sets light,compressed` sets the other threshold, where lightly coded input ends, alike.
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
from stream.degrade import CodecRoundTrip, coded_at
from stream.eval.images import list_images, read_luma
from stream.eval.protocol import centre_crop, levels, low_res, score_lr

SCALE = 2
# the thresholds tabled, on each codec's scale (H.264's and HEVC's quantiser, MPEG-2's quantiser_scale, VP9's and
# AV1's q index, VP8's of its own)
THRESHOLDS = {
    "x264": range(8, 40), "x265": range(8, 44), "mpeg2": range(2, 42, 2), "mpeg4": range(2, 42, 2),
    "vp9": range(8, 256, 8), "av1": range(8, 256, 8), "vp8": range(4, 128, 4),
}  # fmt: skip
LEVELS = {
    "x264": [23, 26, 28, 30, 33], "x265": [8, 12, 16, 20, 24, 28, 32, 36], "mpeg2": [2, 4, 6, 8, 10, 12, 16],
    "mpeg4": [2, 4, 6, 8, 10, 12, 16], "vp9": [20, 30, 35, 40, 45, 50, 56], "av1": [20, 30, 35, 40, 45, 50, 55, 60],
    "vp8": [10, 20, 30, 40, 45, 50, 55, 60, 63],  # its quantiser q, as `ffmpeg -c:v libvpx -qmin q -qmax q`
}  # fmt: skip


def pan(y: torch.Tensor, frames: int, crop: int, shift: int) -> list[torch.Tensor]:
    """`frames` crops of `crop` px from the image's centre, each `shift` px right and down of the last."""
    centre = centre_crop(y, crop + shift * (frames - 1))
    return [centre[i * shift : i * shift + crop, i * shift : i * shift + crop] for i in range(frames)]


def score_image(path: Path, settings: list[int], args: argparse.Namespace, restorers: dict) -> list[dict]:
    """Per level: the quantiser read and each set's mean gain over bicubic on the image's pan."""
    gts = pan(read_luma(path), args.frames, args.crop, args.shift)
    lrs = [low_res(gt, SCALE, "bicubic") for gt in gts]
    rows = []
    for level in settings:
        codec = CodecRoundTrip(coded_at(args.codec, level), args.crop // SCALE, args.crop // SCALE)
        decoded = [y for lr in lrs for y in codec.push(levels(lr))] + codec.flush()
        coded = [torch.from_numpy(y).to(torch.float64) / 255 for y in decoded]
        gains = {}
        for kind, restore in restorers.items():
            scores = [score_lr(restore, gt, lr, SCALE) for gt, lr in zip(gts, coded, strict=True)]
            gains[kind] = statistics.mean(s.psnr for s in scores) - statistics.mean(s.psnr_bicubic for s in scores)
        rows.append({"image": path.name, "level": level, "quantiser": statistics.median(codec.quantisers)} | gains)
    return rows


def by_threshold(
    rows: list[dict], settings: list[int], thresholds: range, sets: tuple[str, ...]
) -> dict[int, dict[int, dict[str, float]]]:
    """{threshold: {level: {mean gain, images below bicubic}}} with the second of `sets` from that quantiser on."""
    table = {}
    below, above = sets
    for t in thresholds:
        table[t] = {}
        for level in settings:
            gains = [r[above] if r["quantiser"] >= t else r[below] for r in rows if r["level"] == level]
            table[t][level] = {"gain": statistics.mean(gains), "below": sum(g < 0 for g in gains)}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/B100"))
    parser.add_argument("--codec", choices=sorted(THRESHOLDS), default="x264")
    parser.add_argument("--levels", type=int, nargs="+", help="CRFs (x264, x265, vp9, av1), or q (mpeg2, mpeg4, vp8)")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--shift", type=int, default=2)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--sets", default="compressed,heavy", help="the judged sets either side of the threshold")
    args = parser.parse_args()
    args.levels = args.levels or LEVELS[args.codec]
    sets = tuple(args.sets.split(","))
    if len(sets) != 2:
        parser.error("--sets: two judged sets, the finer first (light,compressed or compressed,heavy)")
    judged = f"{args.codec} on {args.images.name}"  # the set an input judged so gets (JUDGED_WEIGHTS)
    loaded = {k: ModelChoice(content=k, precision=args.precision, evidence=judged).load() for k in sets}
    for model in loaded.values():
        print(model.ran, flush=True)
    restorers = {k: m.restorer for k, m in loaded.items()}
    rows = []
    for path in list_images(args.images):
        rows += score_image(path, args.levels, args, restorers)
        print(json.dumps(rows[-len(args.levels) :]), flush=True)
    table = by_threshold(rows, args.levels, THRESHOLDS[args.codec], sets)
    for t, per_level in table.items():
        print(f"from {t}: " + "  ".join(f"{k} {v['gain']:+.3f} ({v['below']} below)" for k, v in per_level.items()))
    record = {
        "sets": {k: m.ran.model for k, m in loaded.items()}, "codec": args.codec, "images": str(args.images),
        "frames": args.frames,
        "crop": args.crop, "shift": args.shift, "host": host_name(torch.device("cpu")), "isa": cpu_isa(),
        "torch": torch.__version__, "date": date.today().isoformat(), "by_threshold": table, "rows": rows,
    }  # fmt: skip
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
