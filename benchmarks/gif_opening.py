"""A GIF of its own colours that opens on black, restored as the product judges it, against its ground truth.

    python -m benchmarks.gif_opening --out docs/results/degraded/gif/opening_black.json

The ground truth: sintel's frames from 300 (its opening is titles) at 320x136, after --black frames of black (a
fade's opening); its LR by swscale's bicubic, once as a lossless FFV1 file and once as a GIF on its own palette (the
product's palettegen and paletteuse, stream.video.palette). Each runs as `drrn-stream LR out.mkv --codec ffv1
--reference HR` would: which weights the judgement picked, and the mean PSNR of DRRN and of bicubic against the
ground truth over the frames that are not black. Until stream.gif judged a GIF by its opening frames, its first
frame alone decided: black is on FFmpeg's fixed palette's lattice, so such a GIF was smoothed and ran the heavy set.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kernels.choice import ModelChoice
from stream.content import judge_source
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.palette import PALETTE_INPUT, Palettes
from stream.video.sink import EncodeOptions
from stream.video.source import VideoSource

CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video" / "sintel.mp4"
RATE = Fraction(1, 10)


def ground_truth(clip: Path, first: int, frames: int, black: int) -> list[av.VideoFrame]:
    with av.open(str(clip)) as container:
        decoded = (f for i, f in enumerate(container.decode(video=0)) if i >= first)
        pictures = [next(decoded).reformat(width=320, height=136, format="bgra") for _ in range(frames)]
    dark = av.VideoFrame.from_ndarray(np.full((136, 320, 4), [0, 0, 0, 255], np.uint8), format="bgra")
    return [dark] * black + pictures


def write(path: Path, codec: str, frames: list[av.VideoFrame]) -> Path:
    """`frames` (bgra) as a 10 fps FFV1 file or a GIF on each frame's own palette."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=10)
        video.width, video.height = frames[0].width, frames[0].height
        video.pix_fmt = "pal8" if codec == "gif" else "bgra"
        palettes = Palettes(video.width, video.height, RATE) if codec == "gif" else None
        for i, frame in enumerate([*frames, None]):
            if frame is not None:
                frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format=PALETTE_INPUT), format=PALETTE_INPUT)
                frame.pts, frame.time_base = i, RATE
            for each in palettes.push(frame) if palettes else [frame]:
                for packet in video.encode(each):
                    out.mux(packet)
        if palettes:
            out.mux(video.encode(None))
    return path


def restored(lr: Path, hr: Path, work: Path) -> dict:
    """The product's run on `lr` scored against `hr`: the weights judged, DRRN's and bicubic's mean PSNR."""
    with VideoSource(lr) as source:
        judged = judge_source(source)
    log = work / f"{lr.stem}.csv"
    options = EnhanceOptions(model=ModelChoice(), encode=EncodeOptions(codec="ffv1"), reference=hr, log=log,
                             overwrite=True)  # fmt: skip
    enhance_file(lr, work / f"{lr.stem}_x2.mkv", options)
    rows = [r for r in csv.DictReader(log.open()) if r["psnr_ref"] and math.isfinite(float(r["psnr_ref"]))]
    mean = {key: sum(float(r[key]) for r in rows) / len(rows) for key in ("psnr_ref", "psnr_ref_bicubic")}
    return {"judged": judged, "frames_scored": len(rows), "drrn": mean["psnr_ref"], "bicubic": mean["psnr_ref_bicubic"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--black", type=int, default=2, help="frames of black before the picture")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--clip", type=Path, default=CLIP)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        hr = ground_truth(args.clip, 300, args.frames, args.black)
        lr = [f.reformat(width=160, height=68, interpolation="BICUBIC") for f in hr]
        truth = write(work / "hr.mkv", "ffv1", hr)
        results = {name: restored(write(work / f"{name}.{suffix}", codec, lr), truth, work)
                   for name, suffix, codec in (("lossless", "mkv", "ffv1"), ("gif", "gif", "gif"))}  # fmt: skip
    record = {"clip": args.clip.name, "first": 300, "black": args.black, "frames": args.frames, **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    for name, result in results.items():
        print(f"{name}: {result['judged'][1]}: DRRN {result['drrn']:.2f} dB, bicubic {result['bicubic']:.2f} dB")


if __name__ == "__main__":
    main()
