"""`drrn-stream train`: options parsed into a Recipe and the run's limits; runs without PyAV."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer

from stream.cli.options import DeviceOpt, PrecisionOpt
from stream.console import listed, say
from stream.errors import UserError

DataOpt = Annotated[Path, typer.Option("--data", help="Folder of training images (subfolders too) or a .npz.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for last.pt, best.safetensors and curve.jsonl.")]
PackOpt = Annotated[Path | None, typer.Option("--pack", help="Write --data as a compact .npz (uint8 luma) and exit.")]
UnitsOpt = Annotated[int, typer.Option("--units", min=1, help="Recursive units of the model.")]
ScalesOpt = Annotated[str, typer.Option("--scales", help="Scales trained together, e.g. 2,3,4.")]
PatchOpt = Annotated[int, typer.Option("--patch", min=8, help="Training patch size in output pixels.")]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="Patches per step, split evenly between scales.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", min=0, help="Train until this step (in total).")]
MinutesOpt = Annotated[float | None, typer.Option("--minutes", min=0, help="Stop this run after M minutes.")]
ResumeOpt = Annotated[Path | None, typer.Option("--resume", help="Checkpoint (last.pt) to continue exactly.")]
OptimizerOpt = Annotated[Literal["sgd", "adam"], typer.Option("--optimizer", help="sgd (the paper's) or adam.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate; default 0.1 (sgd), 1e-4 (adam).")]
DecayOpt = Annotated[float | None, typer.Option("--weight-decay", help="Default 1e-4 (sgd), 0 (adam).")]
ClipOpt = Annotated[float, typer.Option("--clip", min=0, help="Clip the gradient norm to clip/lr; 0: none.")]
ScheduleOpt = Annotated[
    Literal["step", "cosine", "rsqrt"],
    typer.Option(
        "--schedule",
        help="step: x gamma every --lr-step; cosine: to --steps; rsqrt: lr*sqrt(lr_step/step) from --lr-step on.",
    ),
]
LrStepOpt = Annotated[int, typer.Option("--lr-step", min=1, help="Steps between lr decays (rsqrt: its start).")]
LrGammaOpt = Annotated[float, typer.Option("--lr-gamma", min=0, help="Factor of each lr decay.")]
WarmupOpt = Annotated[int, typer.Option("--warmup", min=0, help="Steps of linear lr warm-up.")]
UnitsScheduleOpt = Annotated[
    str, typer.Option("--units-schedule", help="Curriculum, e.g. 3:1000,9:3000,25 (units:until step).")
]
MinUnitsOpt = Annotated[
    int, typer.Option("--min-units", min=0, help="Draw each step's depth from MIN..--units (0: always --units).")
]
EmaOpt = Annotated[
    float, typer.Option("--ema", min=0, max=0.99999, help="Validate and export a moving average (decay per step).")
]
ValDataOpt = Annotated[
    Path | None, typer.Option("--val-data", help="Validation images (folder or .npz); default ../shared Set5.")
]
ValEveryOpt = Annotated[
    int,
    typer.Option(
        "--val-every", min=0, help="Validate and checkpoint every N steps; 0: not by steps (see --save-minutes)."
    ),
]
ValCropOpt = Annotated[
    int | None, typer.Option("--val-crop", min=16, help="Validate on centre crops (approximate, faster).")
]
ValUnitsOpt = Annotated[
    str, typer.Option("--val-units", help="Also validate at these depths, e.g. 9 (logged as psnr_units).")
]
SaveMinutesOpt = Annotated[
    float | None,
    typer.Option("--save-minutes", min=0.01, help="Also validate and checkpoint whenever M minutes have passed."),
]
LogEveryOpt = Annotated[int, typer.Option("--log-every", min=1, help="Steps per curve record and display.")]
InitOpt = Annotated[
    Literal["msra", "msra-zero-out"],
    typer.Option("--init", help="msra (the paper's), or msra-zero-out: start from bicubic."),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, max=2**31 - 1, help="Seeds init and sampling.")]
PackCodedOpt = Annotated[
    Path | None,
    typer.Option("--pack-coded", help="Write coded LR of --data (--codecs at random CRFs, kernels, intra and inter; "
                 "needs PyAV) for --scales as a .npz, and exit."),
]  # fmt: skip
CodecsOpt = Annotated[
    str,
    typer.Option(
        "--codecs",
        help="--pack-coded: the codecs drawn from, of x264, x265, mpeg2 (at quantiser 2-16) and jpeg (at q 30-90).",
    ),
]
VariantsOpt = Annotated[int, typer.Option("--variants", min=1, help="--pack-coded: coded LR per image and scale.")]
InterOpt = Annotated[
    float,
    typer.Option("--inter", min=0, max=1, help="--pack-coded: share of video LR that is a predicted frame of a "
                 "moving sequence (the rest intra-coded)."),
]  # fmt: skip
PredictedOpt = Annotated[
    Literal["last", "any"],
    typer.Option("--predicted", help="--pack-coded: which predicted frame: the sequence's last (a P frame) or any "
                 "after the first (P or B)."),
]  # fmt: skip
CrfOpt = Annotated[
    str, typer.Option("--crf", help="--pack-coded: the CRF range drawn from, LOW-HIGH (a set for one band of input).")
]
CodedOpt = Annotated[Path | None, typer.Option("--coded", help="Coded LR of --data (from --pack-coded) to train on.")]
CodedShareOpt = Annotated[
    float | None,
    typer.Option("--coded-share", min=0, max=1, help="Share of each batch with coded LR; default 0.3 with --coded."),
]
ValCodedOpt = Annotated[
    Path | None,
    typer.Option("--val-coded", help="Coded LR of --val-data (from --pack-coded): validated too, and the best "
                 "weights are those best on clean and coded LR together."),
]  # fmt: skip
SelectOpt = Annotated[
    Literal["both", "coded"],
    typer.Option("--select", help="With --val-coded, what picks the best weights: both (clean and coded LR "
                 "together: weights for any input) or coded (weights for compressed input only)."),
]  # fmt: skip
StartFromOpt = Annotated[
    str | None, typer.Option("--start-from", help="Fine-tune: start from these weights (a file or a shipped name).")
]
LossOpt = Annotated[
    Literal["l2", "l1"],
    typer.Option("--loss", help="l2 (the paper's: half the squared error) or l1 (the absolute error), summed over "
                 "a patch."),
]  # fmt: skip
OverwriteOpt = Annotated[
    bool, typer.Option("-y", "--overwrite", help="Replace an existing --pack or --pack-coded file.")
]
ChannelsOpt = Annotated[
    int | None, typer.Option("--channels", min=1, help="Feature width (small models for experiments); default 128.")
]


def train_command(
    data: DataOpt, out: OutOpt = None, pack: PackOpt = None, units: UnitsOpt = 25, scales: ScalesOpt = "2,3,4",
    patch: PatchOpt = 31, batch: BatchOpt = 128, steps: StepsOpt = None, minutes: MinutesOpt = None,
    resume: ResumeOpt = None, optimizer: OptimizerOpt = "sgd", lr: LrOpt = None, weight_decay: DecayOpt = None,
    clip: ClipOpt = 0.01, schedule: ScheduleOpt = "step", lr_step: LrStepOpt = 20_000, lr_gamma: LrGammaOpt = 0.5,
    warmup: WarmupOpt = 0, units_schedule: UnitsScheduleOpt = "", min_units: MinUnitsOpt = 0, ema: EmaOpt = 0.0,
    val_data: ValDataOpt = None, val_every: ValEveryOpt = 1000, val_crop: ValCropOpt = None,
    val_units: ValUnitsOpt = "", save_minutes: SaveMinutesOpt = None, log_every: LogEveryOpt = 10,
    init: InitOpt = "msra", seed: SeedOpt = 0, start_from: StartFromOpt = None, coded: CodedOpt = None,
    coded_share: CodedShareOpt = None, pack_coded: PackCodedOpt = None, variants: VariantsOpt = 1,
    crf: CrfOpt = "18-36", codecs: CodecsOpt = "x264,x265", inter: InterOpt = 0.5, predicted: PredictedOpt = "last",
    val_coded: ValCodedOpt = None, select: SelectOpt = "both",
    device: DeviceOpt = "auto", precision: PrecisionOpt = "auto", channels: ChannelsOpt = None, loss: LossOpt = "l2",
    overwrite: OverwriteOpt = False,
) -> None:  # fmt: skip
    """Train one DRRN for several scales (x2, x3, x4 as in the paper) on uint8 luma images."""
    from stream.train.data import write_pack
    from stream.train.recipe import Recipe
    from stream.train.run import Limits, TrainingData, Validation, train

    if pack is not None:
        written = write_pack(data, pack, overwrite)
        say(f"wrote {pack}: {len(written.names)} images, {pack.stat().st_size / 2**20:.1f} MiB")
        return
    if pack_coded is not None:
        from stream.train.make_coded import CodedMix, write_coded  # PyAV: only here

        mix = CodedMix(parse_codecs(codecs), parse_crf(crf), inter=inter, predicted=predicted, variants=variants,
                       seed=seed)  # fmt: skip
        say(write_coded(data, pack_coded, parse_scales(scales), mix, overwrite))
        return
    if out is None:
        raise UserError("--out is needed to train (or --pack FILE to only pack --data)")
    if steps is None and minutes is None:
        raise UserError("give --steps N, --minutes M or both")
    for name, value in (("--minutes", minutes), ("--save-minutes", save_minutes)):
        if value is not None and not math.isfinite(value):  # typer's bounds let NaN by: it trained forever
            raise UserError(f"{name} {value:g}: a number of minutes")
    training = TrainingData.load(data, coded, start_from)
    recipe = Recipe.asked(
        data=training.pack.fingerprint(), units=units, channels=channels, scales=parse_scales(scales), patch=patch,
        batch=batch, optimizer=optimizer, lr=lr, weight_decay=weight_decay, clip=clip, schedule=schedule,
        lr_step=lr_step, lr_gamma=lr_gamma, steps=steps, warmup=warmup,
        units_schedule=parse_units_schedule(units_schedule, units), min_units=min_units, ema=ema, init=init, seed=seed,
        select=select, loss=loss, **training.recipe_fields(coded_share),
    )  # fmt: skip
    validating = bool(val_every or save_minutes)
    if select == "coded" and val_coded is None:
        raise UserError("--select coded picks the best weights on coded LR: give --val-coded")
    validation = Validation.load(val_data, val_crop, parse_depths(val_units, units), validating, val_coded)
    validation.check(recipe.scales)
    limits = Limits(steps, minutes, val_every, save_minutes, log_every)
    asked, run = train(recipe, training, out, device, precision, resume, validation, limits)
    if run.idle:
        say(f"{resume}: already at step {run.trainer.step}, as far as asked: nothing trained or written")
        return
    reason = f"stopped by {asked[0]}" if asked else "done"
    written = [str(path) for path in (run.last, out / "best.safetensors", run.curve) if path.is_file()]
    say(f"{reason} at step {run.trainer.step}: wrote {listed(written)}")  # (no best before the first validation)
    if asked:  # saved, but not done: 128 + the signal, as every command stopped so exits (a scheduler tells)
        raise typer.Exit(128 + signal.Signals[asked[0]])


def parse_scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(sorted({int(s) for s in text.replace(",", " ").split()}))
    except ValueError:
        raise UserError(f"--scales {text!r}: expected integers such as 2,3,4") from None
    if not scales or min(scales) < 2 or max(scales) > 4:  # x5 trained, and nothing ran it
        raise UserError(f"--scales {text!r}: expected scales from 2 to 4, as enhance and eval run them")
    return scales


def parse_codecs(text: str) -> tuple[str, ...]:
    codecs = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    if not codecs or not set(codecs) <= {"x264", "x265", "mpeg2", "jpeg"}:
        raise UserError(f"--codecs {text!r}: expected some of x264,x265,mpeg2,jpeg")
    return codecs


def parse_crf(text: str) -> tuple[int, int]:
    """'28-40' -> (28, 40): the range x264 and x265 take (0-51), low first; '30' -> (30, 30). '18-' is refused (it
    was 18-18, where its writer meant from 18 up)."""
    low, dash, high = text.partition("-")
    try:
        crf = int(low), int(high if dash else low)
    except ValueError:
        raise UserError(f"--crf {text!r}: expected a range such as 18-36") from None
    if not 0 <= crf[0] <= crf[1] <= 51:
        raise UserError(f"--crf {text!r}: expected LOW-HIGH within 0-51, low first")
    return crf


def parse_units_schedule(text: str, units: int) -> tuple[tuple[int, int], ...]:
    """'3:1000,9:3000,25': 3 units until step 1000, 9 until 3000, then --units (25)."""
    stages: list[tuple[int, int]] = []
    items = [item for item in text.split(",") if item.strip()]
    for i, item in enumerate(items):
        head, _, until = item.partition(":")
        try:
            stage = (int(head), int(until)) if until else (int(head), -1)
        except ValueError:
            raise UserError(f"--units-schedule: {item!r} is not UNITS:UNTIL_STEP") from None
        if stage[1] == -1:
            if i != len(items) - 1 or stage[0] != units:
                raise UserError(f"--units-schedule: a bare {stage[0]} may only end it, equal to --units {units}")
            continue
        if stage[0] < 1 or stage[1] <= (stages[-1][1] if stages else 0):
            raise UserError(f"--units-schedule: {item!r} needs units >= 1 and steps that increase")
        stages.append(stage)
    return tuple(stages)


def parse_depths(text: str, units: int) -> tuple[int, ...]:
    """--val-units '3,9': extra depths to validate at, each at most the model's own."""
    try:
        depths = tuple(sorted({int(u) for u in text.replace(",", " ").split()}))
    except ValueError:
        raise UserError(f"--val-units {text!r}: expected integers such as 3,9") from None
    if depths and (depths[0] < 1 or depths[-1] > units):
        raise UserError(f"--val-units {text!r}: depths go from 1 to --units {units}")
    return tuple(u for u in depths if u != units)
