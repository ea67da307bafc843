"""What the pipeline keeps of its model stage on a long video, and what it costs per run.

    python -m benchmarks.pipeline_cost [--size 320x240] [--frames 64 128] [--rounds 3] [--precision auto]
        [--clip ../shared/data/video/CLIP] [--presets medium faster ...] [--out F.json]

`drrn-stream bench` reports e2e_fraction on one short clip, where a run's fixed costs (opening the
input and the encoder, the first frames, the encoder's buffered frames flushed at the end) weigh as
much as the frames. libx264 medium holds 41 frames before its first packet (320x240, this machine):
on a clip shorter than that, all its encoding waits until the model has finished and looks like a
per-frame cost, though on a long video it overlaps the model. So both clip lengths here are longer.
Each round runs, in random order, the model stage alone (warm, as bench's pipeline runs it) and the
whole pipeline on both lengths of the same synthetic clip:
- `long_share`: the model stage's pace over the long clip's whole run, per round (paired, since this
  machine's speed drifts by ~10% between minutes), fixed costs included: what a user sees;
- the slope of wall time over frames (medians) is the steady per-frame cost, the intercept the
  fixed cost per run.
The clip is synthetic unless `--clip` names a real one: its first frames scaled to half the output
size and coded by libx264 at CRF 23, as a download is. What the decoder and the encoder cost, and so
the share, depends on the content (the synthetic pattern, a moving checkerboard, is harder for x264
than the real clips measured in docs/PERFORMANCE.md); the model's does not. `--presets` runs the
pipeline with each x264 preset named, in every round: what the encoder's own work costs the model.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from datetime import date
from fractions import Fraction
from functools import partial
from pathlib import Path

import av

from kernels.choice import ModelChoice
from stream.bench.measure import GemmPeak, cpu_isa, host_name, model_rates, pipeline_run
from stream.bench.synthetic import write_clip
from stream.video.enhance import EnhanceOptions
from stream.video.sink import EncodeOptions

ALONE_FRAMES = 32  # the model stage's pace, timed frame by frame
DOWNLOAD_CRF = 23  # libx264's default: how a real clip's input is coded


def real_clip(src: Path, dst: Path, width: int, height: int, frames: int) -> Path:
    """The first `frames` frames of the video `src`, scaled to width x height (bicubic) and coded by
    libx264 at DOWNLOAD_CRF, video only."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"crf": str(DOWNLOAD_CRF)}
        written = 0
        for frame in inp.decode(stream):
            scaled = frame.reformat(width, height, "yuv420p", interpolation="BICUBIC")
            scaled.pts, scaled.time_base = written, 1 / rate
            out.mux(video.encode(scaled))
            written += 1
            if written == frames:
                break
        out.mux(video.encode(None))
    if written < frames:
        raise SystemExit(f"{src} has {written} frames, fewer than {frames}")
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240", help="output WxH (x2)")
    parser.add_argument("--frames", type=int, nargs=2, default=[64, 128], help="the two clip lengths")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="auto", help="as enhance's --precision, which says which int8 runs here")
    parser.add_argument("--clip", type=Path, help="a real video to cut the clips from (default: synthetic)")
    parser.add_argument("--presets", nargs="+", default=["default"], help="x264 presets to run the pipeline with, "
                        "each in every round; default: the one enhance settles on for this device")  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    loaded = ModelChoice(precision=args.precision).load()
    restorer = loaded.restorer
    short, long = sorted(args.frames)
    walls: dict[str, dict[int, list[float]]] = {preset: {short: [], long: []} for preset in args.presets}
    sizes: dict[str, list[int]] = {preset: [] for preset in args.presets}  # the long clip's output, bytes
    alone: list[float] = []  # seconds a frame
    with tempfile.TemporaryDirectory() as tmp:

        def clip(n: int) -> Path:
            path = Path(tmp) / f"in{n}.mp4"
            if args.clip:
                return real_clip(args.clip, path, width // 2, height // 2, n)
            return write_clip(path, width // 2, height // 2, n)

        clips, out = {n: clip(n) for n in (short, long)}, Path(tmp) / "o.mp4"

        def alone_turn() -> None:
            peak = GemmPeak(restorer.device, restorer.precision)
            alone.append(
                statistics.mean(1 / fps for fps in model_rates(restorer, peak, 2, width, height, ALONE_FRAMES)[0])
            )

        def pipeline_turn(preset: str, n: int) -> None:
            encode = EncodeOptions(preset=None if preset == "default" else preset)
            options = EnhanceOptions(scale=2, overwrite=True, encode=encode)
            walls[preset][n].append(n / pipeline_run(restorer, options, clips[n], out)[0])
            if n == long:
                sizes[preset].append(out.stat().st_size)

        turns = [alone_turn] + [partial(pipeline_turn, p, n) for p in args.presets for n in (short, long)]
        for _ in range(args.rounds):
            for turn in random.sample(turns, len(turns)):
                turn()
    record = {
        "model": str(loaded.ran), "size": args.size, "clip": str(args.clip or "synthetic"),
        "host": host_name(restorer.device), "isa": cpu_isa(), "date": date.today().isoformat(),
        "model_stage_s": alone,
        "presets": {preset: shares(alone, walls[preset], sizes[preset]) for preset in args.presets},
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


def shares(alone: list[float], walls: dict[int, list[float]], sizes: list[int]) -> dict:
    """What one preset's pipeline kept of the model stage: per round on the long clip (paired), and
    steady (the slope over the two lengths' medians); with its fixed cost per run and output size."""
    (short, w_short), (long, w_long) = sorted((n, statistics.median(w)) for n, w in walls.items())
    long_share = [model * long / wall for model, wall in zip(alone, walls[long], strict=True)]
    per_frame = (w_long - w_short) / (long - short)
    return {
        "walls": walls, "long_share": long_share, "long_share_median": statistics.median(long_share),
        "pipeline_per_frame_s": per_frame, "fixed_per_run_s": w_short - short * per_frame,
        "steady_fraction": statistics.median(alone) / per_frame, "output_bytes": sizes,
    }  # fmt: skip


if __name__ == "__main__":
    main()
