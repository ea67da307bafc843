"""What a GPU window's weights measure, in one process (each CLI start costs seconds of a window).

    python -m benchmarks.window_eval pack-clips ../shared/data/video build/clips.npz --frames 4
    python -m benchmarks.window_eval report --weights W.safetensors --images ../shared/data/Set5 \\
        --images ../shared/data/Set14 --clips build/clips.npz --compare REF.params --json OUT.json

`pack-clips` runs where PyAV is (the GPU machine has none): it stores each clip's first frames
as the ground-truth luma that `drrn-stream eval-video` scores against (a LumaPack, names
"video/CLIP#FRAME"). `report` scores exactly as `eval` and `eval-video` do, with the model run
eagerly in true float32 (stream.evaluate.eager_fp32): the weights' own depth on every image set
and scale, a depth table on the first set, and the clips at x2 for these and each --compare.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from kernels.errors import WeightsError
from kernels.resolve import device_for
from kernels.weights import build_drrn, describe, find_weights, load_drrn, read_weights, save_weights
from stream.errors import UserError
from stream.eval.protocol import Restore, eager_fp32, evaluate_dataset, mod_crop, score_image, score_lr
from stream.files import write_atomically
from stream.train.checkpoint import read_checkpoint
from stream.train.data import LumaPack, load_pack
from stream.train.recipe import Recipe

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


@app.command("pack-clips")
def pack_clips(
    videos: Path,
    out: Path,
    frames: Annotated[int, typer.Option("--frames", min=1)] = 4,
    skip: Annotated[list[str], typer.Option("--skip", help="CLIP:N: start that clip after N frames.")] = [],  # noqa: B006
    coded: Annotated[bool, typer.Option("--coded", help="Also benchmarks.degraded's coded LR of each clip.")] = False,
) -> None:
    """The first FRAMES frames of every clip in VIDEOS (after --skip) as ground-truth luma levels;
    with --coded also, per scale, their centre crop and its LR through each codec of
    benchmarks/degraded.py ("crop/CLIP#FRAME/xS", "lr/CLIP#FRAME/xS/SPEC")."""
    from stream.eval.video import ground_truth  # PyAV: only here, never on the GPU machine
    from stream.video.source import VideoSource

    names, lumas = [], []
    skips = {name: int(n) for name, _, n in (item.rpartition(":") for item in skip)}
    for clip in sorted(p for p in videos.iterdir() if p.is_file()):
        with VideoSource(clip) as source:
            for frame, levels in ground_truth(source, frames, skips.get(clip.name, 0)):
                names.append(f"video/{clip.name}#{frame.index}")
                lumas.append(levels.numpy())
        if coded:
            for name, image in coded_clip(clip, frames, skips.get(clip.name, 0)):
                names.append(name)
                lumas.append(image)
    pack = LumaPack(
        pixels=torch.cat([torch.from_numpy(y).ravel() for y in lumas]).numpy(),
        shapes=torch.tensor([y.shape for y in lumas], dtype=torch.int64).numpy(),
        names=names,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pack.save(out)
    whole = [n for n in names if n.startswith("video/")]
    print(f"wrote {out}: {len(whole)} frames of {len({n.split('#')[0] for n in whole})} clips"
          + (f", {len(names) - len(whole)} coded crops and LR" if coded else ""))  # fmt: skip


def coded_clip(clip: Path, frames: int, skip: int) -> Iterator[tuple[str, np.ndarray]]:
    """benchmarks/degraded.py's protocol for one clip: (name, ground-truth crop or LR levels)."""
    from benchmarks.degraded import PROTOCOL, SPECS
    from stream.degrade import parse_degradation
    from stream.eval.protocol import levels
    from stream.eval.video import VideoProtocol, degraded_frames
    from stream.video.source import VideoSource

    first = min(SPECS)  # each frame's crop is kept once, mod-cropped to the first scale: the others' are in it
    for scale, specs in SPECS.items():
        protocol = VideoProtocol(scale, tuple(map(parse_degradation, specs)), PROTOCOL["downscale"], PROTOCOL["crop"])
        with VideoSource(clip) as source:
            for degradation, frame, gt, lr in degraded_frames(source, protocol, frames, skip):
                key = f"{clip.name}#{frame.index}"
                if scale == first and degradation == protocol.degradations[0]:
                    yield f"crop/{key}", gt.numpy()
                yield f"lr/{key}/x{scale}/{degradation}", levels(lr)


def score_coded_clips(restore: Restore, clips: LumaPack) -> dict[str, dict[str, float]]:
    """DRRN's gain over bicubic per scale and codec, per clip, on pack-clips --coded's LR, as
    benchmarks/degraded.py reports it."""
    images = dict(zip(clips.names, clips.images(), strict=True))
    gains: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, lr in images.items():
        if not name.startswith("lr/"):
            continue
        key, size, spec = name.removeprefix("lr/").split("/", 2)
        clip, scale = key.split("#")[0], int(size.removeprefix("x"))
        score = score_lr(restore, mod_crop(images[f"crop/{key}"], scale), lr.to(torch.float64) / 255, scale)
        gains[f"x{scale} {spec}"][clip].append(score.psnr - score.psnr_bicubic)
    return {row: {clip: sum(g) / len(g) for clip, g in per_clip.items()} for row, per_clip in gains.items()}


def score_clips(restore: Restore, clips: LumaPack, scale: int) -> dict[str, dict[str, float]]:
    """Mean PSNR per clip, DRRN and bicubic, of the whole frames packed, as `eval-video --scale S --frames N`
    (MATLAB bicubic LR, no codec) scores them."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for name, y in zip(clips.names, clips.images(), strict=True):
        if not name.startswith("video/"):
            continue
        score = score_image(restore, y, scale)
        total = sums[name.split("#")[0].removeprefix("video/")]
        total[0] += score.psnr
        total[1] += score.psnr_bicubic
        total[2] += 1
    return {clip: {"psnr": p / n, "psnr_bicubic": b / n, "frames": int(n)} for clip, (p, b, n) in sums.items()}


@app.command("report")
def report(
    weights: Annotated[Path, typer.Option("--weights", help="The weights to measure.")],
    images: Annotated[
        list[Path], typer.Option("--images", help="Image folders or .npz packs; the first gets the depth table.")
    ],
    json_out: Annotated[Path, typer.Option("--json", help="Where the report goes.")],
    clips: Annotated[Path | None, typer.Option("--clips", help="pack-clips output.")] = None,
    compare: Annotated[
        list[Path], typer.Option("--compare", help="Other weights scored on the clips too, at the depth each runs.")
    ] = [],  # noqa: B006
    scales: Annotated[list[int], typer.Option("--scale")] = [2, 3, 4],  # noqa: B006
    depths: Annotated[str, typer.Option("--depths", help="Depth table at the first scale.")] = "1,3,9,17,25",
    units: Annotated[
        int | None, typer.Option("--units", help="Depth for everything else; default the weights'.")
    ] = None,
    device: Annotated[str, typer.Option("--device")] = "auto",
) -> None:
    dev = device_for(device)
    model, loaded = load_drrn(weights, units)
    depth = model.config.units
    sets = {p.stem if p.suffix == ".npz" else p.name: load_pack(p).images() for p in images}
    results = [evaluate_dataset(eager_fp32(model, depth, dev), n, y, s) for n, y in sets.items() for s in scales]
    first, y_first = next(iter(sets.items()))
    table = [
        {"units": u} | dataclasses.asdict(evaluate_dataset(eager_fp32(model, u, dev), first, y_first, scales[0]))
        for u in sorted({int(u) for u in depths.split(",")} | {depth})
        if u <= depth
    ]
    videos, coded = {}, {}
    if clips is not None:
        pack = load_pack(clips)
        for path in [weights, *compare]:
            other_loaded = loaded if path == weights else find_weights(path)
            other = model if path == weights else build_drrn(other_loaded, other_loaded.run_units)  # as it runs
            restore = eager_fp32(other, other.config.units, dev)
            videos[path.name] = {"weights": describe(other_loaded)} | score_clips(restore, pack, 2)
            if any(name.startswith("lr/") for name in pack.names):
                coded[path.name] = score_coded_clips(restore, pack)
    record = {
        "weights": describe(loaded),
        "metadata": loaded.metadata,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "results": [dataclasses.asdict(r) for r in results],
        "depths": table,
        "clips_x2": videos,
        "clips_coded": coded,  # gain over bicubic: {weights: {"x2 SPEC": {clip: dB}}}
    }
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(record, indent=1))
    for r in results:
        print(f"{r.dataset} x{r.scale}: {r.psnr:.3f} dB (bicubic {r.psnr_bicubic:.3f})")
    for row in table:
        print(f"{first} x{scales[0]} at U{row['units']}: {row['psnr']:.3f} dB")
    for name, per_clip in videos.items():
        gains = [v["psnr"] - v["psnr_bicubic"] for k, v in per_clip.items() if k != "weights"]
        print(f"{name}: clips x2, DRRN - bicubic from {min(gains):+.2f} to {max(gains):+.2f} dB")
    for name, rows in coded.items():
        for row, per_clip in rows.items():
            gains = list(per_clip.values())
            print(f"{name}: clips {row}: gain {sum(gains) / len(gains):+.2f} dB (worst {min(gains):+.2f})")


@app.command("ship")
def ship(
    report_json: Annotated[Path, typer.Argument(help="`report --json` of the weights.")],
    weights_file: Annotated[Path, typer.Argument(help="The weights it reports.")],
    to: Annotated[Path, typer.Option("--to", help="The shipped file to write.")],
    against: Annotated[str, typer.Option("--against", help="Shipped weights (name or file) to beat.")],
) -> None:
    """Ship the reported weights if they beat AGAINST on Set5 at every scale, with what they measured."""
    report = json.loads(report_json.read_text())
    measured = {(r["dataset"], r["scale"]): r["psnr"] for r in report["results"]}
    _, current = load_drrn(against)
    old = {int(s): p for s, p in json.loads(current.metadata.get("psnr", "{}")).items()}
    new = {s: measured[("Set5", s)] for s in old}
    if not old or any(new[s] <= old[s] for s in old):
        raise SystemExit(f"not shipped: Set5 {new} does not beat {describe(current)} at every scale")
    weights = read_weights(weights_file)
    if weights.metadata != report["metadata"]:
        raise SystemExit(f"{weights_file}: not the weights {report_json} reports ({report['weights']})")
    psnr = {str(s): round(p, 3) for (d, s), p in measured.items() if d == "Set5"}
    set14 = {str(s): round(p, 3) for (d, s), p in measured.items() if d == "Set14"}
    first = report["depths"][0]
    depths = {str(row["units"]): round(row["psnr"], 3) for row in report["depths"]}  # what each --units gives
    weights.metadata |= {
        "psnr": json.dumps(psnr),
        "set14": json.dumps(set14),
        "validation": "Set5, whole images",
        f"psnr_by_units_{first['dataset']}_x{first['scale']}": json.dumps(depths),
    }
    with write_atomically(to) as tmp:
        save_weights(tmp, weights)
    print(f"shipped {to}: Set5 {psnr}, Set14 {set14} (was Set5 {old})")


@app.command("record")
def record_window(out: Path, state: Path) -> None:
    """One line for STATE/windows.jsonl: when, on what, and how far a `train` call in OUT went."""
    ckpt = read_checkpoint(out / "last.pt")
    windows = state / "windows.jsonl"
    before = [json.loads(line) for line in windows.read_text().splitlines()] if windows.is_file() else []
    start_step = before[-1]["steps"][1] if before else 0
    start_seconds = before[-1]["seconds_total"] if before else 0.0
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    now = [r for r in curve if r["step"] > start_step]
    speeds = sorted(r["tflops"] for r in now if "tflops" in r)
    checks = [r for r in now if "psnr" in r]
    when, machine, versions = (out / "train.log").read_text().splitlines()[:3]
    record = {
        "date": when,
        "machine": machine,
        "software": versions,
        "steps": [start_step, ckpt["step"]],
        "minutes": round((ckpt["seconds"] - start_seconds) / 60, 2),
        "seconds_total": ckpt["seconds"],
        "gpu_minutes_total": round(ckpt.get("gpu_seconds", 0.0) / 60, 2),
        "pixels_total": Recipe.from_dict(ckpt["recipe"]).pixels(ckpt["step"]),
        "tflops_median": speeds[len(speeds) // 2] if speeds else None,
        "psnr_end": checks[-1]["psnr"] if checks else None,
        "psnr_units_end": checks[-1].get("psnr_units") if checks else None,
        "best": ckpt["best"],
    }
    (out / "window.json").write_text(json.dumps(record) + "\n")
    print(json.dumps(record))


def main() -> None:
    """One line and exit status 1 for bad input, as the CLI does, never a traceback."""
    try:
        app()
    except (UserError, WeightsError, OSError, KeyError, ValueError) as e:
        sys.exit(f"error: {f'missing {e}' if isinstance(e, KeyError) else e}")


if __name__ == "__main__":
    main()
