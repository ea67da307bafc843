"""Which set a GIF gets (stream.content.GIF_CONTENT), measured on images the clips never were.

    python -m benchmarks.gif_input --out docs/results/degraded/gif/gif_B100.json \\
        [--images ../shared/data/B100 | --clips ../shared/data/video --frames 2] [--crop 128] \\
        [--dithers clean none sierra2_4a bayer bayer:bayer_scale=5 floyd_steinberg rgb8] \\
        [--sets light,compressed,heavy] [--blur SIGMA]

A GIF holds 256 colours a frame: its luma carries the palette's steps and the dither's noise, which no quantiser
measures. Each image's centre (colour, `--crop` px) is scaled down x2 by FFmpeg's bicubic in RGB, as a tool
scales a clip before it makes a GIF, then given its own palette and mapped onto it with each of paletteuse's
dithers (video/palette.py, as the product writes a GIF; the GIF coding itself is lossless, so the mapped frame is
what a reader decodes), or onto swscale's fixed 3-3-2 palette ("rgb8", what `ffmpeg -i in.mp4 out.gif` makes), and
"clean" leaves it as it is. Its luma (MATLAB rgb2ycbcr) is restored by each judged set at its depth and scored
against the crop's, beside MATLAB's bicubic of the same LR. Each row records what stream.gif reads of the GIF's
LR (its palette, the ordered dither's peak), and `by_thresholds` the mean gain with the set each pair of peak
thresholds would pick. A GIF on the fixed palette is restored from its luma smoothed as the product's source
smooths it (stream.gif.smooth_dither), and scored against bicubic of the GIF as it is; `--blur` smooths every
GIF so, at the sigma given (what chose stream.gif.FIXED_PALETTE_BLUR).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from benchmarks.degraded import SKIP
from kernels.choice import ModelChoice
from kernels.colour import rgb_to_y
from stream.bench.measure import cpu_isa, host_name
from stream.eval.images import list_images
from stream.eval.protocol import score_lr
from stream.gif import gif_palette, ordered_dither_peak, smooth_dither
from stream.video.palette import paletted

SCALE = 2
# paletteuse's dithers (FFmpeg's default second); "rgb8" is what `ffmpeg -i in.mp4 out.gif` writes without filters:
# swscale's fixed 3-3-2 palette, ordered-dithered
DITHERS = ("clean", "none", "sierra2_4a", "bayer", "floyd_steinberg", "rgb8")
PEAKS = (2.0, 2.5, 3.0, 4.0, 5.0, 8.0, 12.0, 20.0, 50.0, 1e9)  # candidate thresholds of stream.gif's peak


def dither_spec(text: str) -> str:
    if text.split(":")[0] not in DITHERS:
        raise argparse.ArgumentTypeError(f"{text!r}: a dither is one of {', '.join(DITHERS)}")
    return text


def luma(rgb: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 RGB -> H x W uint8 luma, as evaluation reads a picture."""
    return rgb_to_y(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))


def gif_lr(hr: np.ndarray, dither: str) -> np.ndarray:
    """HR RGB -> its x2 LR by FFmpeg's bicubic, mapped onto its own 256-colour palette with `dither` ("clean": not;
    "rgb8": onto swscale's fixed one)."""
    h, w = hr.shape[0] // SCALE, hr.shape[1] // SCALE
    lr = av.VideoFrame.from_ndarray(hr, format="rgb24").reformat(width=w, height=h, interpolation="BICUBIC")
    if dither == "clean":
        return lr.to_ndarray()
    if dither == "rgb8":
        return lr.reformat(format="rgb8").to_ndarray(format="rgb24")
    return paletted(lr.to_ndarray(), dither)


def centre(rgb: np.ndarray, crop: int) -> np.ndarray:
    top, left = [max(n - crop, 0) // 2 // SCALE * SCALE for n in rgb.shape[:2]]
    return np.ascontiguousarray(rgb[top : top + crop, left : left + crop])


def pictures(args: argparse.Namespace) -> Iterator[tuple[str, np.ndarray]]:
    """(name, HR RGB centre) of each image, or of each clip's first `--frames` frames (sintel's after its intro)."""
    if args.clips is None:
        for path in list_images(args.images):
            yield path.name, centre(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1], args.crop)
        return
    for clip in sorted(p for p in args.clips.iterdir() if p.is_file() and not p.name.endswith(".md")):
        with av.open(str(clip)) as container:
            frames = (f for f in container.decode(video=0))
            for i, frame in enumerate(itertools.islice(frames, SKIP.get(clip.name, 0), None)):
                if i == args.frames:
                    break
                yield f"{clip.name}#{i}", centre(frame.to_ndarray(format="rgb24"), args.crop)


def score_picture(name: str, hr: np.ndarray, dithers: list[str], restorers: dict, blur: float | None) -> list[dict]:
    """Per dither: the palette the product reads of the GIF's LR, and each set's gain over bicubic; `blur`, a
    Gaussian's sigma every GIF's luma is smoothed by first (None: the product's, stream.gif.smooth_dither's on the
    fixed palette alone)."""
    gt, rows = luma(hr), []
    for dither in dithers:
        rgb = gif_lr(hr, dither)
        y, judged = luma(rgb), {"peak": ordered_dither_peak(luma(rgb).numpy()), "palette": gif_palette(rgb)}
        bicubic = score_lr(next(iter(restorers.values())), gt, y.to(torch.float64) / 255, SCALE).psnr_bicubic
        if blur is not None:  # scored against bicubic of the GIF as it is
            y = torch.from_numpy(cv2.GaussianBlur(y.numpy(), (0, 0), blur))
        elif judged["palette"] == "fixed":  # as the product's source smooths it
            y = torch.from_numpy(smooth_dither(y.numpy()))
        scores = {kind: score_lr(restore, gt, y.to(torch.float64) / 255, SCALE) for kind, restore in restorers.items()}
        rows.append({"picture": name, "dither": dither, "bicubic": bicubic} | judged
                    | {kind: s.psnr - bicubic for kind, s in scores.items()})  # fmt: skip
    return rows


def judged_set(row: dict, t1: float, t2: float) -> str:
    """The set for a row's GIF: light below peak t1, compressed to t2, heavy from t2 (a fixed palette: heavy)."""
    if row["palette"] == "fixed":
        return "heavy"
    return "light" if row["peak"] < t1 else "compressed" if row["peak"] < t2 else "heavy"


def by_thresholds(rows: list[dict], dithers: list[str]) -> dict[str, dict[str, float]]:
    """{"t1 t2": {dither: mean gain with the set judged_set picks}} for each pair of candidate thresholds."""
    return {
        f"{t1} {t2}": {d: statistics.mean(r[judged_set(r, t1, t2)] for r in rows if r["dither"] == d) for d in dithers}
        for t1, t2 in itertools.product(PEAKS, PEAKS)
        if t1 <= t2
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/B100"))
    parser.add_argument("--clips", type=Path, help="clips instead of images: each one's first --frames frames")
    parser.add_argument("--frames", type=int, default=2)
    options = "paletteuse's options after a colon: bayer:bayer_scale=5"
    parser.add_argument("--dithers", nargs="+", type=dither_spec, default=list(DITHERS),
                        help=f"{', '.join(DITHERS)}; {options}")  # fmt: skip
    parser.add_argument("--sets", default="light,compressed,heavy", help="the judged sets to compare")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--blur", type=float, help="smooth every GIF's luma by this Gaussian sigma (px) first")
    args = parser.parse_args()
    sets = args.sets.split(",")
    loaded = {k: ModelChoice(content=k, precision=args.precision, evidence="GIF").load() for k in sets}
    for model in loaded.values():
        print(model.ran, flush=True)
    restorers = {k: m.restorer for k, m in loaded.items()}
    rows = []
    for name, hr in pictures(args):
        rows += score_picture(name, hr, args.dithers, restorers, args.blur)
        print(json.dumps(rows[-len(args.dithers) :]), flush=True)
    means = {
        dither: {k: statistics.mean(r[k] for r in rows if r["dither"] == dither) for k in sets}
        | {f"{k} below": sum(r[k] < 0 for r in rows if r["dither"] == dither) for k in sets}
        for dither in args.dithers
    }
    for dither, row in means.items():
        print(f"{dither}: " + "  ".join(f"{k} {row[k]:+.3f} ({row[k + ' below']} below)" for k in sets))
    record = {
        "sets": {k: m.ran.model for k, m in loaded.items()}, "pictures": str(args.clips or args.images),
        "frames": args.frames if args.clips else None, "crop": args.crop, "blur": args.blur,
        "host": host_name(torch.device("cpu")), "isa": cpu_isa(), "torch": torch.__version__,
        "date": date.today().isoformat(), "mean_gain": means,
        "by_thresholds": by_thresholds(rows, args.dithers) if set(sets) >= {"light", "compressed", "heavy"} else None,
        "rows": rows,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
