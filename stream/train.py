"""Training DRRN for x2, x3 and x4 at once, as the paper does: `drrn-stream train`.

The training set lives on the training device as one flat uint8 luma array; every batch is
cut, rotated or flipped and degraded there (MATLAB-exact bicubic, in torch), so a GPU never
waits for a data loader. The sampler's random numbers are seeded from (seed, step), and the
learning rate and the number of units are functions of the step, so a checkpoint of the
model, the optimiser and the step resumes a run exactly, with no RNG state to carry.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import signal
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kernels.inference import DTYPES, resolve_device, resolve_precision
from kernels.model import DRRN, DRRNConfig, flops_per_pixel
from kernels.weights import Weights, save_weights
from stream.errors import UserError
from stream.evaluate import eager_fp32, evaluate_dataset
from stream.options import DeviceOpt, PrecisionOpt
from stream.train_data import LumaPack, PatchSampler, load_pack

DEFAULT_VAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "Set5"
CHECKPOINT_VERSION = 1
TRAIN_FLOPS_PER_FORWARD = 3  # forward, input gradients and weight gradients: three convolutions' work each

err = Console(stderr=True)


# --- the recipe and the trainer ---------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the run's trajectory; a resumed run must have the same."""

    data: str  # fingerprint of the training images
    units: int = 25
    channels: int = DRRNConfig.channels
    scales: tuple[int, ...] = (2, 3, 4)
    patch: int = 31  # output pixels; the paper's 31
    batch: int = 128  # the paper's mini-batch
    optimizer: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 1e-4
    clip: float = 0.01  # adjustable clipping: gradient norm <= clip / lr (0: none)
    schedule: str = "step"
    lr_step: int = 20_000  # step: multiply lr by lr_gamma every lr_step steps; rsqrt: decay from this step on
    lr_gamma: float = 0.5  # the paper halves it
    horizon: int = 0  # cosine schedule: steps to anneal over
    warmup: int = 0  # steps of linear lr warm-up from 0 (Adam's first moments are noisy)
    units_schedule: tuple[tuple[int, int], ...] = ()  # (units, until step) stages before `units`
    min_units: int = 0  # > 0: each step's depth drawn from min_units..units, so one set of weights serves all
    ema: float = 0.0  # > 0: validate and export a moving average of the weights, decaying by this per step
    init: str = "msra"  # "msra" (the paper's); "msra-zero-out": output conv 0, so training starts at bicubic
    seed: int = 0

    def lr_at(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.schedule == "cosine":
            return warm * self.lr * 0.5 * (1 + math.cos(math.pi * min(step, self.horizon) / self.horizon))
        if self.schedule == "rsqrt":  # open-ended: continuing a run in another window needs no horizon
            return warm * self.lr * math.sqrt(self.lr_step / max(step, self.lr_step))
        return warm * self.lr * self.lr_gamma ** (step // self.lr_step)

    def units_at(self, step: int) -> int:
        """The depth of this step: the curriculum's stage, else a draw seeded by (seed, step), else `units`."""
        staged = next((u for u, until in self.units_schedule if step < until), None)
        if staged is not None:
            return staged
        if self.min_units:
            return random.Random(self.seed << 32 | step).randint(self.min_units, self.units)
        return self.units

    def pixels(self, steps: int) -> int:
        """Training (output) pixels seen in `steps` steps."""
        return steps * self.batch * self.patch**2

    def describe(self) -> str:
        opt = f"{self.optimizer} lr {self.lr:g}" + (" momentum 0.9" if self.optimizer == "sgd" else "")
        opt += f", weight decay {self.weight_decay:g}" if self.weight_decay else ""
        opt += f", clip {self.clip:g}/lr" if self.clip else ""
        opt += f", warm-up {self.warmup}" if self.warmup else ""
        if self.schedule == "cosine":
            opt += f", cosine over {self.horizon} steps"
        elif self.schedule == "rsqrt":
            opt += f", 1/sqrt(step) from {self.lr_step}"
        elif self.lr_gamma != 1:
            opt += f", x{self.lr_gamma:g} every {self.lr_step} steps"
        if self.units_schedule:
            opt += ", units " + ", ".join(f"{u} until {until}" for u, until in self.units_schedule)
        opt += f", units {self.min_units}..{self.units} at random" if self.min_units else ""
        opt += f", EMA {self.ema:g}" if self.ema else ""
        return f"batch {self.batch} of {self.patch}x{self.patch}, {opt}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        return cls(**d | {"scales": tuple(d["scales"]), "units_schedule": tuple(map(tuple, d["units_schedule"]))})


def initialise(model: DRRN, init: str) -> None:
    """He et al.'s normal init, as the paper uses: std sqrt(2 / fan_in) for every conv.

    "msra-zero-out" also zeroes the output conv: the residual starts at 0 (the model starts
    as bicubic) instead of at MSRA's huge first outputs (MSE 14.6 for B1U25), which with
    Adam at lr 1e-3 left a B1U3 only 0.2 dB above bicubic after 1,500 steps.
    """
    for p in model.parameters():
        torch.nn.init.kaiming_normal_(p, nonlinearity="relu")
    if init == "msra-zero-out":
        torch.nn.init.zeros_(model.conv_out.weight)


class Trainer:
    """The model, its optimiser and the sampler on one device; `train_step` is one update."""

    def __init__(self, recipe: Recipe, pack: LumaPack, device: torch.device, precision: str) -> None:
        self.recipe, self.device, self.precision = recipe, device, precision
        torch.manual_seed(recipe.seed)
        model = DRRN(DRRNConfig(units=recipe.units, channels=recipe.channels))
        initialise(model, recipe.init)
        self.model = model.to(device, memory_format=torch.channels_last)  # oneDNN and cuDNN prefer NHWC
        params = self.model.parameters()
        if recipe.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay
            )
        else:
            self.optimizer = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.sampler = PatchSampler(pack, recipe.patch, recipe.scales, recipe.batch, device)
        self.generator = torch.Generator(device)
        self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()} if recipe.ema else None
        self.step = 0
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convs

    def train_step(self) -> torch.Tensor:
        """One update; returns the batch's mean squared error in [0, 1] units (on the device)."""
        lr = self.recipe.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.generator.manual_seed(self.recipe.seed << 32 | self.step)
        x, target = self.sampler.sample(self.generator)
        dtype = DTYPES[self.precision]
        with torch.autocast(self.device.type, dtype) if dtype != torch.float32 else nullcontext():
            out = self.model(x.contiguous(memory_format=torch.channels_last), units=self.recipe.units_at(self.step))
        mse = F.mse_loss(out.float(), target)  # the loss in fp32, whatever the convolutions ran in
        loss = 0.5 * self.recipe.patch**2 * mse  # the paper's: half the squared error summed over a patch
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe.clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.clip / lr)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            decay = min(self.recipe.ema, (1 + self.step) / (10 + self.step))  # short memory while the weights move fast
            for name, value in self.model.state_dict().items():
                self.ema[name].lerp_(value, 1 - decay)
        self.step += 1
        return mse.detach()

    def step_flops(self, step: int) -> float:
        """Useful floating-point work of one training step (forward and both backward passes)."""
        units = self.recipe.units_at(step)
        return TRAIN_FLOPS_PER_FORWARD * flops_per_pixel(units, self.recipe.channels) * self.recipe.pixels(1)

    def weights(self) -> dict[str, torch.Tensor]:
        """What is validated and exported: the moving average where the recipe keeps one."""
        return self.ema if self.ema is not None else self.model.state_dict()

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema or {},
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] and self.scaler.is_enabled():  # empty when saved by a run without fp16
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            for name, value in state["ema"].items():
                self.ema[name].copy_(value)
        self.step = state["step"]


# --- validation, checkpoints, logs ------------------------------------------------------


def validate(
    model: DRRN, lumas: list[torch.Tensor], scales: tuple[int, ...], units: int, device: torch.device
) -> dict[int, float]:
    """Mean PSNR per scale, as `drrn-stream eval` scores (whole images, float32), at `units` deep."""
    restore = eager_fp32(model, units, device)
    return {s: evaluate_dataset(restore, "validation", lumas, s).psnr for s in scales}


def centre_crop(y: torch.Tensor, size: int) -> torch.Tensor:
    h, w = y.shape
    top, left = max(h - size, 0) // 2, max(w - size, 0) // 2
    return y[top : top + size, left : left + size]


def save_checkpoint(path: Path, trainer: Trainer, seconds: dict[str, float], best: dict[str, Any]) -> None:
    """Only tensors, numbers, strings and containers, so `torch.load(weights_only=True)` reads it."""
    state = trainer.state_dict() | {
        "version": CHECKPOINT_VERSION,
        "recipe": asdict(trainer.recipe),
        "seconds": seconds["all"],
        "gpu_seconds": seconds["gpu"],
        "best": best,
    }
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    tmp.replace(path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path}: not a readable training checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise UserError(f"{path}: not a drrn-stream training checkpoint (version {CHECKPOINT_VERSION})")
    return state


def recipe_changes(old: Recipe, new: Recipe) -> list[str]:
    return [
        f"{f.name} {getattr(old, f.name)} -> {getattr(new, f.name)}"
        for f in fields(Recipe)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def keep_curve_until(path: Path, step: int) -> None:
    """Drop records a crashed run logged after its last checkpoint, so a resumed curve has no repeats."""
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(f"{line}\n" for line in lines))


@contextmanager
def stop_requests() -> Iterator[list[str]]:
    """Ctrl-C or SIGTERM asks the loop to stop after the current step (a second Ctrl-C aborts)."""
    asked: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        asked.append(signal.Signals(signum).name)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        err.print("[yellow]stopping after this step and saving (Ctrl-C again to abort)[/yellow]")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield asked
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def parse_scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(sorted({int(s) for s in text.replace(",", " ").split()}))
    except ValueError:
        raise UserError(f"--scales {text!r}: expected integers such as 2,3,4") from None
    if not scales or min(scales) < 2:
        raise UserError(f"--scales {text!r}: expected scales of 2 or more")
    return scales


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


# --- one run: the loop, its curve, checkpoints and exports ------------------------------


@dataclass(frozen=True)
class Limits:
    """When a run stops, validates, checkpoints and logs (none of it changes the trajectory)."""

    steps: int | None  # train until this step in total
    minutes: float | None  # stop this run after this long
    val_every: int  # validate and checkpoint every N steps (0: never by step count)
    save_minutes: float | None  # also whenever this long has passed since the last checkpoint
    log_every: int  # steps per curve record


@dataclass(frozen=True)
class Validation:
    lumas: list[torch.Tensor]  # uint8 luma images, scored as `drrn-stream eval` scores
    name: str  # "Set5, whole images", for logs and the weights' metadata
    depths: tuple[int, ...]  # extra depths to score besides the model's own

    @classmethod
    def of(cls, pack: LumaPack | None, crop: int | None, depths: tuple[int, ...]) -> Validation:
        if pack is None:
            return cls([], "", ())
        lumas = [centre_crop(y, crop) for y in pack.images()] if crop else pack.images()
        where = f"centre {crop}x{crop} crops (approximate)" if crop else "whole images"
        return cls(lumas, f"{pack.label}, {where}", depths)


class TrainingRun:
    """A Trainer writing into its output folder: last.pt, best.safetensors and curve.jsonl."""

    def __init__(
        self, trainer: Trainer, out: Path, data: LumaPack, validation: Validation, state: dict[str, Any] | None
    ) -> None:
        self.trainer, self.out, self.validation = trainer, out, validation
        self.data = f"{data.label} ({len(data.names)} images)"
        self.last, self.curve = out / "last.pt", out / "curve.jsonl"
        self.before, self.gpu_before, self.best = 0.0, 0.0, {}
        if state is not None:
            trainer.load_state_dict(state)
            self.before, self.gpu_before, self.best = state["seconds"], state.get("gpu_seconds", 0.0), state["best"]
            keep_curve_until(self.curve, trainer.step)
        else:
            self.curve.write_text("")
        self.start = self.saved_at = time.monotonic()
        self.psnr: dict[int, float] = {}  # the last validation's, at the model's depth
        self.validated_at = -1

    def seconds(self) -> dict[str, float]:
        """Training seconds of the whole run so far, all and on GPUs (across resumes)."""
        now = time.monotonic() - self.start
        return {"all": self.before + now, "gpu": self.gpu_before + (now if self.trainer.device.type == "cuda" else 0)}

    def log(self, record: dict[str, Any]) -> None:
        step, seconds = self.trainer.step, self.seconds()
        head = {"step": step, "seconds": round(seconds["all"], 2), "gpu_seconds": round(seconds["gpu"], 2)}
        with self.curve.open("a") as f:
            f.write(json.dumps(head | {"pixels": self.trainer.recipe.pixels(step)} | record) + "\n")

    def export(self, path: Path, psnr: dict[int, float]) -> None:
        """The validated weights (EMA where kept) with what they are and what they measured."""
        recipe, step, seconds = self.trainer.recipe, self.trainer.step, self.seconds()
        units = recipe.units
        metadata = {
            "name": f"drrn-b1u{units}-x{''.join(map(str, recipe.scales))}",
            "units": str(units),
            "scales": ",".join(map(str, recipe.scales)),
            "trained": (
                f"{self.data}, {step} steps of {recipe.describe()}, {recipe.init} init, "
                f"{self.trainer.device.type} {self.trainer.precision}, {seconds['all'] / 60:.1f} min"
                + (f" ({seconds['gpu'] / 60:.1f} on GPUs)" if seconds["gpu"] else "")
                + f", {recipe.pixels(step) / 1e9:.2f} Gpx"
            ),
            "steps": str(step),
            "pixels": str(recipe.pixels(step)),
            "gpu_minutes": f"{seconds['gpu'] / 60:.2f}",
        }
        if psnr:
            scores = json.dumps({str(s): round(p, 3) for s, p in psnr.items()})
            metadata |= {"psnr": scores, "validation": self.validation.name}
        tmp = path.with_name(f".{path.name}.partial")
        save_weights(tmp, Weights({k: v.float().cpu() for k, v in self.trainer.weights().items()}, metadata))
        tmp.replace(path)

    def score(self, console: Console) -> None:
        """Validate the weights at the model's depth and the extra ones; export them if the best yet."""
        trainer, v, scales = self.trainer, self.validation, self.trainer.recipe.scales
        model = DRRN(trainer.model.config)  # a copy of the weights validated: the trainer's stay untouched
        model.load_state_dict(trainer.weights())
        self.psnr = validate(model, v.lumas, scales, model.config.units, trainer.device)
        at_depth = {u: validate(model, v.lumas, scales, u, trainer.device) for u in v.depths}
        self.validated_at = trainer.step
        mean = sum(self.psnr.values()) / len(self.psnr)
        is_best = mean > self.best.get("mean", -math.inf)
        if is_best:
            self.best = {"mean": mean, "step": trainer.step}
            self.export(self.out / "best.safetensors", self.psnr)
        record: dict[str, Any] = {"psnr": {str(s): round(p, 3) for s, p in self.psnr.items()}}
        if at_depth:
            record["psnr_units"] = {str(u): {str(s): round(p, 3) for s, p in d.items()} for u, d in at_depth.items()}
        self.log(record)
        shown = "  ".join(f"x{s} {p:.2f}" for s, p in self.psnr.items())
        shown += "".join(f"; U{u} x{min(d)} {d[min(d)]:.2f}" for u, d in at_depth.items())
        console.print(f"step {trainer.step}: PSNR {shown}, mean {mean:.2f}" + (" (best)" if is_best else ""))

    def checkpoint(self, console: Console) -> None:
        if self.validation.lumas:
            self.score(console)
        save_checkpoint(self.last, self.trainer, self.seconds(), self.best)
        self.saved_at = time.monotonic()

    def record(self, loss_sum: torch.Tensor, steps_done: int, since: float) -> dict[str, Any]:
        """One curve record for the steps since the last (reads the loss: a sync)."""
        trainer, recipe = self.trainer, self.trainer.recipe
        work = sum(trainer.step_flops(i) for i in range(trainer.step - steps_done, trainer.step))
        record = {
            "loss": loss_sum.item() / steps_done,
            "lr": recipe.lr_at(trainer.step - 1),
            "units": recipe.units_at(trainer.step - 1),
            "tflops": round(work / (time.monotonic() - since) / 1e12, 4),
        }
        self.log(record)
        return record

    def run(self, limits: Limits) -> list[str]:
        """Train until a limit or a signal; returns the signals that stopped it (none: a limit)."""
        trainer = self.trainer
        with progress_display(limits.steps) as progress, stop_requests() as asked:
            task = progress.add_task("train", total=limits.steps, completed=trainer.step, status="")

            def flush(loss_sum: torch.Tensor, steps_done: int, since: float) -> None:
                r = self.record(loss_sum, steps_done, since)
                shown = " ".join(f"x{s} {p:.2f}" for s, p in self.psnr.items()) or "-"
                status = f"loss {r['loss']:.3g}  lr {r['lr']:.3g}  units {r['units']}  {r['tflops']:.3g} TFLOP/s"
                progress.update(task, completed=trainer.step, status=f"{status}  PSNR {shown}")

            loss_sum, since, steps_done = torch.zeros((), device=trainer.device), time.monotonic(), 0
            while not asked and not self.reached(limits):
                loss_sum += trainer.train_step()
                steps_done += 1
                if trainer.step % limits.log_every == 0:
                    flush(loss_sum, steps_done, since)
                    loss_sum.zero_()
                    since, steps_done = time.monotonic(), 0
                due = limits.save_minutes is not None and time.monotonic() - self.saved_at >= limits.save_minutes * 60
                if (limits.val_every and trainer.step % limits.val_every == 0) or due:
                    self.checkpoint(progress.console)
            if steps_done:
                flush(loss_sum, steps_done, since)
            if self.validation.lumas and self.validated_at != trainer.step and not asked:
                self.score(progress.console)
            if not self.validation.lumas:
                self.export(self.out / "best.safetensors", {})  # nothing measured: the latest weights
            save_checkpoint(self.last, trainer, self.seconds(), self.best)
        return asked

    def reached(self, limits: Limits) -> bool:
        by_steps = limits.steps is not None and self.trainer.step >= limits.steps
        return by_steps or (limits.minutes is not None and time.monotonic() - self.start >= limits.minutes * 60)


def progress_display(steps: int | None) -> Progress:
    return Progress(
        TextColumn("step"),
        MofNCompleteColumn() if steps else TextColumn("{task.completed}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
    )


# --- the command ------------------------------------------------------------------------


def train_command(
    data: Annotated[Path, typer.Option("--data", help="Folder of training images (subfolders too) or a .npz.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for last.pt, best.safetensors and curve.jsonl.")
    ] = None,
    pack: Annotated[
        Path | None, typer.Option("--pack", help="Write --data as a compact .npz (uint8 luma) and exit.")
    ] = None,
    units: Annotated[int, typer.Option("--units", min=1, help="Recursive units of the model.")] = 25,
    scales: Annotated[str, typer.Option("--scales", help="Scales trained together, e.g. 2,3,4.")] = "2,3,4",
    patch: Annotated[int, typer.Option("--patch", min=8, help="Training patch size in output pixels.")] = 31,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Patches per step, split evenly between scales.")] = 128,
    steps: Annotated[int | None, typer.Option("--steps", min=0, help="Train until this step (in total).")] = None,
    minutes: Annotated[float | None, typer.Option("--minutes", min=0, help="Stop this run after M minutes.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Checkpoint (last.pt) to continue exactly.")] = None,
    optimizer: Annotated[
        Literal["sgd", "adam"], typer.Option("--optimizer", help="sgd (the paper's) or adam.")
    ] = "sgd",
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate; default 0.1 (sgd), 1e-4 (adam).")] = None,
    weight_decay: Annotated[float | None, typer.Option("--weight-decay", help="Default 1e-4 (sgd), 0 (adam).")] = None,
    clip: Annotated[float, typer.Option("--clip", min=0, help="Clip the gradient norm to clip/lr; 0: none.")] = 0.01,
    schedule: Annotated[
        Literal["step", "cosine", "rsqrt"],
        typer.Option(
            "--schedule",
            help="step: x gamma every --lr-step; cosine: to --steps; rsqrt: lr*sqrt(lr_step/step) from --lr-step on.",
        ),
    ] = "step",
    lr_step: Annotated[
        int, typer.Option("--lr-step", min=1, help="Steps between lr decays (rsqrt: its start).")
    ] = 20_000,
    lr_gamma: Annotated[float, typer.Option("--lr-gamma", min=0, help="Factor of each lr decay.")] = 0.5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Steps of linear lr warm-up.")] = 0,
    units_schedule: Annotated[
        str, typer.Option("--units-schedule", help="Curriculum, e.g. 3:1000,9:3000,25 (units:until step).")
    ] = "",
    min_units: Annotated[
        int, typer.Option("--min-units", min=0, help="Draw each step's depth from MIN..--units (0: always --units).")
    ] = 0,
    ema: Annotated[
        float, typer.Option("--ema", min=0, max=0.99999, help="Validate and export a moving average (decay per step).")
    ] = 0.0,
    val_data: Annotated[
        Path | None, typer.Option("--val-data", help="Validation images (folder or .npz); default ../shared Set5.")
    ] = None,
    val_every: Annotated[
        int,
        typer.Option(
            "--val-every", min=0, help="Validate and checkpoint every N steps; 0: not by steps (see --save-minutes)."
        ),
    ] = 1000,
    val_crop: Annotated[
        int | None, typer.Option("--val-crop", min=16, help="Validate on centre crops (approximate, faster).")
    ] = None,
    val_units: Annotated[
        str, typer.Option("--val-units", help="Also validate at these depths, e.g. 9 (logged as psnr_units).")
    ] = "",
    save_minutes: Annotated[
        float | None,
        typer.Option("--save-minutes", min=0.01, help="Also validate and checkpoint whenever M minutes have passed."),
    ] = None,
    log_every: Annotated[int, typer.Option("--log-every", min=1, help="Steps per curve record and display.")] = 10,
    init: Annotated[
        Literal["msra", "msra-zero-out"],
        typer.Option("--init", help="msra (the paper's), or msra-zero-out: start from bicubic."),
    ] = "msra",
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**31 - 1, help="Seeds init and sampling.")] = 0,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    channels: Annotated[int, typer.Option("--channels", min=1, hidden=True)] = DRRNConfig.channels,
) -> None:
    """Train one DRRN for several scales (x2, x3, x4 as in the paper) on uint8 luma images."""
    train_pack = load_pack(data)
    if pack is not None:
        pack.parent.mkdir(parents=True, exist_ok=True)
        train_pack.save(pack)
        err.print(f"wrote {pack}: {len(train_pack.names)} images, {pack.stat().st_size / 2**20:.1f} MiB")
        return
    if out is None:
        raise UserError("--out is needed to train (or --pack FILE to only pack --data)")
    if steps is None and minutes is None:
        raise UserError("give --steps N, --minutes M or both")
    if schedule == "cosine" and not steps:
        raise UserError("--schedule cosine anneals over --steps, so it needs --steps")
    try:
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
    except (ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None
    recipe = Recipe(
        data=train_pack.fingerprint(),
        units=units,
        channels=channels,
        scales=parse_scales(scales),
        patch=patch,
        batch=batch,
        optimizer=optimizer,
        lr=lr if lr is not None else {"sgd": 0.1, "adam": 1e-4}[optimizer],
        weight_decay=weight_decay if weight_decay is not None else {"sgd": 1e-4, "adam": 0.0}[optimizer],
        clip=clip,
        schedule=schedule,
        lr_step=lr_step,
        lr_gamma=lr_gamma,
        horizon=steps if schedule == "cosine" else 0,
        warmup=warmup,
        units_schedule=parse_units_schedule(units_schedule, units),
        min_units=min_units,
        ema=ema,
        init=init,
        seed=seed,
    )
    if batch < len(recipe.scales):
        raise UserError(f"--batch {batch} is smaller than the number of scales ({len(recipe.scales)})")
    if min_units > units:
        raise UserError(f"--min-units {min_units} is more than --units {units}")
    state = read_checkpoint(resume) if resume is not None else None
    if state is None and (out / "last.pt").exists():
        raise UserError(
            f"{out / 'last.pt'}: exists; pass --resume {out / 'last.pt'} to continue it, or choose another --out"
        )
    if state is not None and (changes := recipe_changes(Recipe.from_dict(state["recipe"]), recipe)):
        raise UserError(f"{resume}: the checkpoint's run differs ({'; '.join(changes)}); repeat its options")
    val_path = val_data if val_data is not None else (DEFAULT_VAL_DATA if DEFAULT_VAL_DATA.is_dir() else None)
    val_pack = load_pack(val_path) if val_path is not None and (val_every or save_minutes) else None
    validation = Validation.of(val_pack, val_crop, parse_depths(val_units, units))
    out.mkdir(parents=True, exist_ok=True)
    run = TrainingRun(Trainer(recipe, train_pack, dev, prec), out, train_pack, validation, state)
    err.print(
        f"[dim]B1U{units} ({channels} channels) on {dev} in {prec}: "
        f"{train_pack.label} ({len(train_pack.names)} images), "
        f"scales {','.join(map(str, recipe.scales))}, {recipe.describe()}"
        + (f"; resuming at step {run.trainer.step}" if state else "")
        + (f"; validating on {validation.name}" if validation.lumas else "; no validation")
        + (f" every {val_every} steps" if validation.lumas and val_every else "")
        + (f", checkpoints every {save_minutes:g} min" if save_minutes else "")
        + "[/dim]",
        highlight=False,
    )
    asked = run.run(Limits(steps, minutes, val_every, save_minutes, log_every))
    reason = f"stopped by {asked[0]}" if asked else "done"
    err.print(f"{reason} at step {run.trainer.step}: wrote {run.last}, {out / 'best.safetensors'} and {run.curve}")


def main() -> None:
    """`python -m stream.train`: the train command alone, for machines without PyAV (the GPU
    window's), which the full CLI imports for its other commands."""
    try:
        typer.run(train_command)
    except UserError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
