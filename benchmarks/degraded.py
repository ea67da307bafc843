"""DRRN's gain over bicubic on real clips whose low-resolution frames went through a real codec.

    python -m benchmarks.degraded --out docs/results/degraded/shipped.json [--weights W] [--units U] [--scales 2 4] \\
        [--specs clean x264:crf=23] [--clips ../shared/data/video] [--frames 4] [--crop 256] [--downscale bicubic]
    python -m benchmarks.degraded --table docs/results/degraded/shipped.json [more.json ...]

Each clip's first frames (sintel's after its 300-frame intro) are the ground truth; their centre
crop is downscaled (FFmpeg's bicubic, as `ffmpeg -vf scale` makes an ordinary download), coded
as one video by libx264 at each CRF (the clip's own motion gives the P and B frames), decoded,
and restored by bicubic and by DRRN: `drrn-stream eval-video --degrade ... --crop ...` exactly,
in one process. The JSON records the device, CPU ISA, date and every clip's numbers; --table
prints the gain table of docs/QUALITY.md from one or more such files.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import torch

from kernels.choice import ModelChoice
from stream.bench.measure import cpu_isa, host_name
from stream.degrade import Degradation, parse_degradation
from stream.eval.video import Summary, VideoProtocol, evaluate_video
from stream.video.source import VideoSource

SKIP = {"sintel.mp4": 300}  # its first 15 frames are black, the next ~100 a fade-in
SPECS = {2: ("clean", "x264:crf=18", "x264:crf=23", "x264:crf=28", "x264:crf=33"), 4: ("clean", "x264:crf=23")}
PROTOCOL = {"frames": 4, "crop": 256, "downscale": "bicubic"}  # the defaults; a GPU window's pack-clips --coded too


def score_clips(args: argparse.Namespace) -> dict:
    model = ModelChoice(args.weights, args.units, device=args.device, precision=args.precision).load()
    print(f"{model.ran}", flush=True)
    rows = []
    for clip in sorted(p for p in args.clips.iterdir() if p.is_file()):
        for scale, specs in ((s, SPECS[s]) for s in args.scales):
            degradations = tuple(parse_degradation(spec) for spec in specs if not args.specs or spec in args.specs)
            protocol = VideoProtocol(scale, degradations, args.downscale, args.crop)
            summary = Summary()
            with VideoSource(clip) as source:
                for row in evaluate_video(source, model.restorer, protocol, args.frames, SKIP.get(clip.name, 0)):
                    summary.add(row)
            for result in summary.results():
                rows.append({"clip": clip.name, "scale": scale, **result})
                print(json.dumps(rows[-1]), flush=True)
    return {
        "weights": model.ran.model, "ran": model.ran.record(), "protocol": protocol_text(args),
        "host": host_name(model.restorer.device), "isa": cpu_isa(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "date": date.today().isoformat(), "rows": rows,
    }  # fmt: skip


def protocol_text(args: argparse.Namespace) -> str:
    return (f"first {args.frames} frames of each clip (sintel after 300), centre {args.crop} px, LR by "
            f"{args.downscale}, coded as one video by libx264 medium")  # fmt: skip


def table(paths: list[Path]) -> str:
    """Mean gain per spec and scale for each file, with the worst clip: the table docs/QUALITY.md shows."""
    runs = [json.loads(p.read_text()) for p in paths]
    keys = list(dict.fromkeys((r["scale"], r["degrade"]) for run in runs for r in run["rows"]))
    names = [run["weights"].split(",")[0] for run in runs]
    names = names if len(set(names)) == len(names) else [p.stem for p in paths]  # one model's runs: by file
    lines = ["| LR coding | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * len(runs))
    for scale, spec in keys:
        cells = []
        for run in runs:
            gains = [r["gain"] for r in run["rows"] if (r["scale"], r["degrade"]) == (scale, spec)]
            cells.append(f"{sum(gains) / len(gains):+.2f} (worst {min(gains):+.2f})" if gains else "-")
        lines.append(f"| x{scale} {short(parse_degradation(spec))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def short(d: Degradation) -> str:
    return "lossless" if d.clean else f"{d.codec} CRF {d.quality}" if d.quality is not None else str(d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, nargs="+")
    parser.add_argument("--weights", default=None, help="default: the shipped weights")
    parser.add_argument("--clips", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--frames", type=int, default=PROTOCOL["frames"])
    parser.add_argument("--crop", type=int, default=PROTOCOL["crop"])
    parser.add_argument("--downscale", default=PROTOCOL["downscale"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--scales", type=int, nargs="+", choices=sorted(SPECS), default=sorted(SPECS))
    parser.add_argument("--specs", nargs="+", help="only these of SPECS (e.g. clean x264:crf=23)")
    parser.add_argument("--units", type=int, help="the depth to run; default: the weights' own")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.out is None:
        parser.error("--out FILE (or --table FILES)")
    record = score_clips(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(table([args.out]))


if __name__ == "__main__":
    main()
