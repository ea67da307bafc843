"""Ship trained weights into the package under a name, with the depth curves their default depth follows.

    python -m benchmarks.ship training/real-input/best.safetensors drrn-b1u7-x234-compressed \\
        --set5 S17.json S25.json --clips C17.json C25.json [--light-clips L5.json ...] [--heavy-clips H1.json ...]

--set5: `drrn-stream eval --dataset ../shared/data/Set5 --scale 2 --scale 3 --scale 4 --units U --json`
outputs; --clips: `python -m benchmarks.degraded --units U --scales 2 --specs clean x264:crf=23` outputs (in
a float precision: on a CPU with AMX `auto` is int8, so pass --precision bf16 there); --heavy-clips:
benchmarks.degraded runs at any scale whose x264 LR the product judges heavily compressed (its quantiser from
stream.content.HEAVY_QP, as the rows record it; by the CRF in runs that recorded none), e.g. `--specs x264:crf=28
... x264:crf=35 --units U` at depths 1 to 17: a spec's curve is the mean over the clips judged so; --light-clips
alike, its rows judged lightly coded (to stream.content.LIGHT_QP: `--specs x264:crf=12 x264:crf=18`).
They become the metadata curves `Weights.run_units` and `ModelChoice.content_units` read
(psnr_by_units_Set5, psnr_by_units_clips_x2, psnr_by_units_clips_light, psnr_by_units_clips_heavy), so the
default depth of shipped weights follows measurements, never a guess; curves not given stay as the file has them
(shipping the shipped file again adds one). And the activation peaks that oneDNN's int8 scales by, from T91
(kernels.onednn), as deep as any curve measured. Add the name to kernels/pretrained (PRETRAINED, and
INT8 with an export at the depth this prints).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from kernels.choice import CONTENT_WORDS
from kernels.weights import DEPTH_CURVES, curve_depth, find_weights, save_weights
from stream.cli.weights import int8_calibration
from stream.content import judge_degradation
from stream.degrade import parse_degradation

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


def clip_curves(paths: list[Path], kind: str | None = None) -> dict[str, dict[str, float]]:
    """{"clean": {units: mean dB over the clips}, "x264:crf=23": ...} from benchmarks.degraded runs at x2;
    `kind` ("light", "heavy"): their rows of LR judged so, at every scale ({"x2 x264:crf=28": ...}), by the
    quantiser a row's LR reads, as the product judges a file (the clips' CRF 28 LR reads 24 to 37)."""
    curves: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        run = json.loads(path.read_text())
        by_spec: dict[str, list[float]] = defaultdict(list)
        for r in run["rows"]:
            spec = r["degrade"].removesuffix(":preset=medium")
            judged = judge_degradation(parse_degradation(spec), "bicubic", r.get("quantiser"))
            if kind and judged is not None and judged[0] == kind:
                by_spec[f"x{r['scale']} {spec}"].append(r["psnr"])
            elif not kind and r["scale"] == 2:
                by_spec[spec].append(r["psnr"])
        for spec, psnrs in by_spec.items():
            curves[spec][str(run["ran"]["units"])] = round(sum(psnrs) / len(psnrs), 4)
    return dict(curves)


def deepest_measured(metadata: dict[str, str]) -> list[int]:
    """Every depth the depth curves in `metadata` measured: any of them may be chosen to run."""
    curves = [json.loads(metadata[key]) for keys in DEPTH_CURVES.values() for key in keys if key in metadata]
    return [int(units) for curve in curves for by_units in curve.values() for units in by_units]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("name")
    parser.add_argument("--set5", type=Path, nargs="+", default=[])
    parser.add_argument("--clips", type=Path, nargs="+", default=[])
    parser.add_argument("--light-clips", type=Path, nargs="+", default=[])
    parser.add_argument("--heavy-clips", type=Path, nargs="+", default=[])
    args = parser.parse_args()
    weights = find_weights(args.weights)
    curves = {
        "psnr_by_units_Set5": set5_curves(args.set5),
        "psnr_by_units_clips_x2": clip_curves(args.clips),
        "psnr_by_units_clips_light": clip_curves(args.light_clips, "light"),
        "psnr_by_units_clips_heavy": clip_curves(args.heavy_clips, "heavy"),
    }
    weights.metadata |= {"name": args.name} | {key: json.dumps(curve) for key, curve in curves.items() if curve}
    deepest = max([weights.units, *deepest_measured(weights.metadata)])  # a set may run deeper than it trained
    weights.metadata |= int8_calibration(weights, CALIBRATION, deepest)  # these tensors' peaks, never stale ones
    out = PRETRAINED / f"{args.name}.safetensors"
    save_weights(out, weights)
    shipped = find_weights(out)
    by_kind = {kind: curve_depth(shipped.metadata, kind) for kind in DEPTH_CURVES if kind != "default"}
    depths = "".join(f", {units} for {CONTENT_WORDS[kind]} input" for kind, units in by_kind.items() if units)
    print(f"wrote {out.relative_to(PRETRAINED.parents[1])}: default depth {shipped.run_units} units{depths}")


if __name__ == "__main__":
    main()
