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
from typing import get_args

import torch

from kernels.choice import Content, Loaded, ModelChoice
from stream.bench.measure import cpu_isa, host_name
from stream.content import loaded_for
from stream.degrade import parse_degradation
from stream.eval.video import Summary, VideoProtocol, coded_quantisers, evaluate_video
from stream.video.source import VideoSource

SKIP = {"sintel.mp4": 300}  # its first 15 frames are black, the next ~100 a fade-in
SPECS = {  # issue #22's targets: CRF 23 and 30, no clip below bicubic from CRF 18 to 35, x4 at CRF 23
    2: ("clean", "x264:crf=18", "x264:crf=23", "x264:crf=28", "x264:crf=30", "x264:crf=33", "x264:crf=35"),
    4: ("clean", "x264:crf=23"),
}
PROTOCOL = {"frames": 4, "crop": 256, "downscale": "bicubic"}  # the defaults; a GPU window's pack-clips --coded too


def score_clips(args: argparse.Namespace) -> dict:
    """Every clip at every scale and spec, each spec's LR restored by the weights a user's run on it gets
    (the shipped set its coding picks, judged by its frames' quantiser where its codec says one, as the product
    judges a file; unless --weights or --content names one). Every such row records that quantiser, named set or
    not: benchmarks.ship takes a set's heavy and light rows by it."""
    choice = ModelChoice(args.weights, args.units, device=args.device, precision=args.precision, content=args.content)
    specs = {s: tuple(map(parse_degradation, args.specs or SPECS[s])) for s in args.scales}
    if not choice.judged:  # one set for every clip: loaded once
        named = loaded_for(choice, dict.fromkeys(d for ds in specs.values() for d in ds), args.downscale)
    seen: dict[str, Loaded] = {}
    rows = []
    for clip in sorted(p for p in args.clips.iterdir() if p.is_file()):
        for scale, degradations in specs.items():
            protocol = VideoProtocol(scale, degradations, args.downscale, args.crop)
            skip = SKIP.get(clip.name, 0)
            quantisers = coded_quantisers(clip, protocol, args.frames, skip)
            models = loaded_for(choice, degradations, args.downscale, quantisers) if choice.judged else named
            for model in models.values():
                if model.ran.weights not in seen:  # a set's first clip: its header
                    seen[model.ran.weights] = model
                    print(model.ran, flush=True)
            summary = Summary()
            with VideoSource(clip) as source:
                restorers = {d: models[d].restorer for d in degradations}
                for row in evaluate_video(source, restorers, protocol, args.frames, skip):
                    summary.add(row)
            for result in summary.results():
                degradation = parse_degradation(str(result["degrade"]))
                judged_by = {"quantiser": round(quantisers[degradation], 2)} if degradation in quantisers else {}
                rows.append({"clip": clip.name, "scale": scale, **result, "weights": models[degradation].ran.weights}
                            | judged_by)  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    first = next(iter(seen.values()))
    return {
        "weights": " / ".join(seen), "ran": first.ran.record(),
        "protocol": protocol_text(args), "host": host_name(first.restorer.device), "isa": cpu_isa(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "date": date.today().isoformat(), "rows": rows,
    }  # fmt: skip


def protocol_text(args: argparse.Namespace) -> str:
    return (f"first {args.frames} frames of each clip (sintel after 300), centre {args.crop} px, LR by "
            f"{args.downscale}, coded as one video by each spec's encoder (JPEG: frame by frame)")  # fmt: skip


def table(paths: list[Path]) -> str:
    """Mean gain per spec and scale for each file, with the worst clip: the table docs/QUALITY.md shows."""
    runs = [json.loads(p.read_text()) for p in paths]
    keys = list(dict.fromkeys((r["scale"], r["degrade"]) for run in runs for r in run["rows"]))
    names = [" / ".join(dict.fromkeys(r.get("weights", run["weights"]).split(",")[0] for r in run["rows"]))
             for run in runs]  # a run of the automatic choice: both sets  # fmt: skip
    names = names if len(set(names)) == len(names) else [p.stem for p in paths]  # one model's runs: by file
    lines = ["| LR coding | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * len(runs))
    for scale, spec in keys:
        cells = []
        for run in runs:
            gains = [r["gain"] for r in run["rows"] if (r["scale"], r["degrade"]) == (scale, spec)]
            cells.append(f"{sum(gains) / len(gains):+.2f} (worst {min(gains):+.2f})" if gains else "-")
        lines.append(f"| x{scale} {parse_degradation(spec).label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, nargs="+")
    parser.add_argument("--weights", default=None, help="default: the shipped set each spec's coding picks")
    parser.add_argument(
        "--content",
        default="auto",
        choices=get_args(Content),
        help="which shipped set, where --weights names none; auto: by each spec's coding",
    )
    parser.add_argument("--clips", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--frames", type=int, default=PROTOCOL["frames"])
    parser.add_argument("--crop", type=int, default=PROTOCOL["crop"])
    parser.add_argument("--downscale", default=PROTOCOL["downscale"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--scales", type=int, nargs="+", choices=sorted(SPECS), default=sorted(SPECS))
    parser.add_argument("--specs", nargs="+", help="these at every scale (e.g. clean x265:crf=28 jpeg:q=40); "
                        "default: SPECS, issue #22's, per scale")  # fmt: skip
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
