"""Ship trained weights into the package under a name, with the depth curves their default depth follows.

    python -m benchmarks.ship training/real-input/best.safetensors drrn-b1u25-x234-coded \\
        --set5 S17.json S25.json --clips C17.json C25.json

--set5: `drrn-stream eval --dataset ../shared/data/Set5 --scale 2 --scale 3 --scale 4 --units U --json`
outputs; --clips: `python -m benchmarks.degraded --units U --scales 2 --specs clean x264:crf=23` outputs (in
a float precision: on a CPU with AMX `auto` is int8, so pass --precision bf16 there).
They become the metadata curves `Weights.run_units` reads (psnr_by_units_Set5, psnr_by_units_clips_x2),
so the default depth of shipped weights follows measurements, never a guess; and the activation peaks
that int8 on AMX scales by, from T91 (kernels.onednn). Add the name to
kernels/pretrained (PRETRAINED, and INT8 with an export at the depth this prints).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from kernels.weights import find_weights, save_weights
from stream.cli.weights import int8_calibration

PRETRAINED = Path(__file__).resolve().parents[1] / "kernels" / "pretrained"
CALIBRATION = Path("../shared/data/train/T91")  # int8's activation peaks, as the shipped int8 exports' ranges


def set5_curves(paths: list[Path]) -> dict[str, dict[str, float]]:
    """{"x2": {units: dB}, ...} from eval --json runs, one depth each."""
    curves: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        run = json.loads(path.read_text())
        for r in run["results"]:
            curves[f"x{r['scale']}"][str(run["model"]["units"])] = round(r["psnr"], 4)
    return dict(curves)


def clip_curves(paths: list[Path]) -> dict[str, dict[str, float]]:
    """{"clean": {units: mean dB over the clips}, "x264:crf=23": ...} from benchmarks.degraded runs at x2."""
    curves: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        run = json.loads(path.read_text())
        by_spec: dict[str, list[float]] = defaultdict(list)
        for r in run["rows"]:
            if r["scale"] == 2:
                by_spec[r["degrade"].removesuffix(":preset=medium")].append(r["psnr"])
        for spec, psnrs in by_spec.items():
            curves[spec][str(run["ran"]["units"])] = round(sum(psnrs) / len(psnrs), 4)
    return dict(curves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("name")
    parser.add_argument("--set5", type=Path, nargs="+", required=True)
    parser.add_argument("--clips", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    weights = find_weights(args.weights)
    weights.metadata |= {
        "name": args.name,
        "psnr_by_units_Set5": json.dumps(set5_curves(args.set5)),
        "psnr_by_units_clips_x2": json.dumps(clip_curves(args.clips)),
    }
    weights.metadata |= int8_calibration(weights, CALIBRATION)  # these tensors' peaks, never stale ones
    out = PRETRAINED / f"{args.name}.safetensors"
    save_weights(out, weights)
    print(f"wrote {out.relative_to(PRETRAINED.parents[1])}: default depth {find_weights(out).run_units} units")


if __name__ == "__main__":
    main()
