"""One training run: a Trainer writing last.pt, best.safetensors and curve.jsonl into its folder.

It validates and checkpoints every N steps or M minutes, stops cleanly on Ctrl-C or SIGTERM
(after the current step, saving), and resumes from its last.pt with the same recipe exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from kernels.choice import Precision
from kernels.model import DRRN
from kernels.resolve import device_for, precision_for
from kernels.weights import Weights, describe, find_weights, save_weights
from stream.console import err, progress, say, say_notices
from stream.errors import UserError, on_stop_signals, raise_interrupted
from stream.eval.protocol import centre_crop, check_scorable, eager_fp32, evaluate_dataset, score_lr
from stream.files import write_atomically
from stream.train.checkpoint import keep_curve_until, read_checkpoint, save_checkpoint
from stream.train.coded_data import CodedSet, describe_mix, read_coded
from stream.train.data import LumaPack, load_pack
from stream.train.recipe import Recipe, recipe_changes
from stream.train.trainer import Trainer

DEFAULT_VAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "Set5"


def validate(
    model: DRRN, lumas: list[torch.Tensor], scales: tuple[int, ...], units: int, device: torch.device
) -> dict[int, float]:
    """Mean PSNR per scale, as `drrn-stream eval` scores (whole images, float32), at `units` deep."""
    restore = eager_fp32(model, units, device)
    return {s: evaluate_dataset(restore, "validation", lumas, s).psnr for s in scales}


def validate_coded(model: DRRN, pairs: list[CodedPair], units: int, device: torch.device) -> dict[int, float]:
    """Mean PSNR per scale on coded LR of the validation images, scored as `eval --degrade` scores
    ({} for none)."""
    if not pairs:
        return {}
    restore = eager_fp32(model, units, device)
    scores: dict[int, list[float]] = {}
    for pair in pairs:
        score = score_lr(restore, pair.gt, pair.lr.to(torch.float64) / 255, pair.scale)
        scores.setdefault(pair.scale, []).append(score.psnr)
    return {s: sum(p) / len(p) for s, p in sorted(scores.items())}


@contextmanager
def stop_requests() -> Iterator[list[str]]:
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) asks the loop to stop after the current step and
    save; a second Ctrl-C aborts at once (only Ctrl-C: `timeout` sends SIGTERM twice, to the
    process and to its group, and that must still save)."""
    asked: list[str] = []

    def handler(signum: int) -> None:
        if asked and signum == signal.SIGINT:
            raise_interrupted(signum)
        asked.append(signal.Signals(signum).name)
        err.print("[yellow]stopping after this step and saving (Ctrl-C again to abort)[/yellow]")

    with on_stop_signals(handler):
        yield asked


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
    coded: tuple[CodedPair, ...] = ()  # coded LR of the images: what a real-input run is chosen by, too
    # What the scores are of (images, crop): a best chosen on other images is not beaten or kept by these
    fingerprint: str = ""
    names: tuple[str, ...] = ()  # each image's, as the pack names it

    @classmethod
    def load(cls, path: Path | None, crop: int | None, depths: tuple[int, ...], needed: bool = True,
             coded: Path | None = None) -> Validation:  # fmt: skip
        """The images at `path` (a folder or a .npz), else ../shared's Set5 where present; none if not
        needed; with `coded`, a coded set made from them (train --pack-coded)."""
        if needed and path is None and DEFAULT_VAL_DATA.is_dir():
            path = DEFAULT_VAL_DATA
        pack = load_pack(path) if needed and path is not None else None
        if coded is not None and pack is None:
            raise UserError("--val-coded needs validation (--val-every or --save-minutes) and its images (--val-data)")
        coded_set = read_coded(coded, pack, "--val-coded", "--val-data") if coded is not None and pack else None
        return cls.of(pack, crop, depths, coded_set)

    @classmethod
    def of(cls, pack: LumaPack | None, crop: int | None, depths: tuple[int, ...],
           coded: CodedSet | None = None) -> Validation:  # fmt: skip
        if pack is None:
            return cls([], "", ())
        lumas = [centre_crop(y, crop) for y in pack.images()] if crop else pack.images()
        where = f"centre {crop}x{crop} crops (approximate)" if crop else "whole images"
        pairs = tuple(coded_pairs(pack, coded)) if coded is not None else ()
        return cls(lumas, f"{pack.label}, {where}" + (f", and {len(pairs)} coded LR of them" if pairs else ""),
                   depths, pairs, f"{pack.fingerprint()} {crop or 'whole'}",
                   tuple(f"{n} (--val-crop {crop})" if crop else n for n in pack.names))  # fmt: skip

    def check(self, scales: tuple[int, ...]) -> None:
        """Before training: every image scorable at every scale, as eval checks its images (one too small, or
        --val-crop 16 at x3, failed inside SSIM at the first validation, after the training before it)."""
        for name, luma in zip(self.names, self.lumas, strict=True):
            check_scorable(name, *luma.shape, list(scales))


class TrainingRun:
    """A Trainer writing into its output folder: last.pt, best.safetensors and curve.jsonl."""

    def __init__(
        self, trainer: Trainer, out: Path, data: LumaPack, validation: Validation, state: dict[str, Any] | None,
        coded: CodedSet | None = None,
    ) -> None:  # fmt: skip
        self.trainer, self.out, self.validation = trainer, out, validation
        self.data = f"{data.label} ({len(data.names)} images)"
        self.coded = describe_mix(coded) if coded is not None and trainer.recipe.coded_share else ""
        self.last, self.curve = out / "last.pt", out / "curve.jsonl"
        self.before, self.gpu_before, self.best = 0.0, 0.0, {}
        self.resumed = state is not None
        if state is not None:
            trainer.load_state_dict(state)
            self.before, self.gpu_before, self.best = state["seconds"], state.get("gpu_seconds", 0.0), state["best"]
            keep_curve_until(self.curve, trainer.step)
        else:
            self.curve.write_text("")
        self.start = self.saved_at = time.monotonic()
        self.psnr: dict[int, float] = {}  # the last validation's, at the model's depth
        self.validated_at = -1
        self.idle = False  # run() found the run already at its limit, and left it as it was

    def describe(self, limits: Limits) -> str:
        """One line on what runs: the model, the device, the data, the recipe, validation and checkpoints."""
        trainer, recipe, v = self.trainer, self.trainer.recipe, self.validation
        return (
            f"B1U{recipe.units} ({recipe.channels} channels) on {trainer.device} in {trainer.precision}: "
            f"{self.data}, scales {','.join(map(str, recipe.scales))}, {recipe.describe()}"
            + (f"; starting from {recipe.start}" if recipe.start and not self.resumed else "")
            + (f"; coded LR: {self.coded}" if self.coded else "")
            + (f"; resuming at step {trainer.step}" if self.resumed else "")
            + (f"; validating on {v.name}" if v.lumas else "; no validation")
            + (f" every {limits.val_every} steps" if v.lumas and limits.val_every else "")
            + (f", checkpoints every {limits.save_minutes:g} min" if limits.save_minutes else "")
        )

    def seconds(self) -> dict[str, float]:
        """Training seconds of the whole run so far, all and on GPUs (across resumes)."""
        now = time.monotonic() - self.start
        return {"all": self.before + now, "gpu": self.gpu_before + (now if self.trainer.device.type == "cuda" else 0)}

    def log(self, record: dict[str, Any]) -> None:
        step, seconds = self.trainer.step, self.seconds()
        head = {"step": step, "seconds": round(seconds["all"], 2), "gpu_seconds": round(seconds["gpu"], 2)}
        try:
            with self.curve.open("a") as f:
                f.write(json.dumps(head | {"pixels": self.trainer.recipe.pixels(step)} | record) + "\n")
        except OSError as e:  # a full disk: "No space left on device", naming nothing
            raise UserError(f"{self.curve}: cannot write ({e.strerror or e}); the last checkpoint is kept") from None

    def export(self, path: Path, psnr: dict[int, float], coded: dict[int, float] | None = None) -> None:
        """The validated weights (EMA where kept) with what they are and what they measured."""
        recipe, step, seconds = self.trainer.recipe, self.trainer.step, self.seconds()
        units = recipe.units
        metadata = {
            "name": f"drrn-b1u{units}-x{''.join(map(str, recipe.scales))}",
            "units": str(units),
            "scales": ",".join(map(str, recipe.scales)),
            "trained": (
                f"{self.data}, {step} steps of {recipe.describe()}, "
                + (f"from {recipe.start}, " if recipe.start else f"{recipe.init} init, ")
                + f"{self.trainer.device.type} {self.trainer.precision}, {seconds['all'] / 60:.1f} min"
                + (f" ({seconds['gpu'] / 60:.1f} on GPUs)" if seconds["gpu"] else "")
                + f", {recipe.pixels(step) / 1e9:.2f} Gpx"
            ),
            "steps": str(step),
            "pixels": str(recipe.pixels(step)),
            "gpu_minutes": f"{seconds['gpu'] / 60:.2f}",
        } | ({"coded": self.coded} if self.coded else {})
        if psnr:
            scores = json.dumps({str(s): round(p, 3) for s, p in psnr.items()})
            metadata |= {"psnr": scores, "validation": self.validation.name}
        if coded:
            metadata["psnr_coded"] = json.dumps({str(s): round(p, 3) for s, p in coded.items()})
        with write_atomically(path) as tmp:
            save_weights(tmp, Weights({k: v.float().cpu() for k, v in self.trainer.weights().items()}, metadata))

    def score(self, console: Console) -> None:
        """Validate the weights at the model's depth and the extra ones; export them if the best yet."""
        trainer, v, scales = self.trainer, self.validation, self.trainer.recipe.scales
        model = DRRN(trainer.model.config)  # a copy of the weights validated: the trainer's stay untouched
        model.load_state_dict(trainer.weights())
        self.psnr = validate(model, v.lumas, scales, model.config.units, trainer.device)
        at_depth = {u: validate(model, v.lumas, scales, u, trainer.device) for u in v.depths}
        coded = validate_coded(model, [p for p in v.coded if p.scale in scales], model.config.units, trainer.device)
        self.validated_at = trainer.step
        mean = _mean(self.psnr) if not coded else (_mean(self.psnr) + _mean(coded)) / 2  # clean and coded alike
        mean = _mean(coded) if coded and trainer.recipe.select == "coded" else mean
        is_best = mean > self.best.get("mean", -math.inf)
        if is_best:
            self.best = {"mean": mean, "step": trainer.step, "coded": bool(coded), "validation": v.fingerprint}
            self.export(self.out / "best.safetensors", self.psnr, coded)
        record: dict[str, Any] = {"psnr": {str(s): round(p, 3) for s, p in self.psnr.items()}}
        if coded:
            record["psnr_coded"] = {str(s): round(p, 3) for s, p in coded.items()}
        if at_depth:
            record["psnr_units"] = {str(u): {str(s): round(p, 3) for s, p in d.items()} for u, d in at_depth.items()}
        self.log(record)
        shown = "  ".join(f"x{s} {p:.2f}" for s, p in self.psnr.items())
        shown += "".join(f"; U{u} x{min(d)} {d[min(d)]:.2f}" for u, d in at_depth.items())
        shown += "; coded " + "  ".join(f"x{s} {p:.2f}" for s, p in coded.items()) if coded else ""
        console.print(f"step {trainer.step}: PSNR {shown}, mean {mean:.2f}" + (" (best)" if is_best else ""))

    def checkpoint(self, console: Console) -> None:
        """Save the steps, then validate, then save what that measured (the best so far). Saved first: a
        validation takes minutes on a CPU (a 9-unit run's 1.5 on 2 cores), and a run killed in it (a
        `timeout` whose grace ran out) keeps its steps and loses only that validation."""
        self.save()
        if self.validation.lumas:
            self.score(console)
            self.save()

    def save(self) -> None:
        save_checkpoint(self.last, self.trainer, self.seconds(), self.best)
        self.saved_at = time.monotonic()

    def record(self, loss_sum: torch.Tensor, steps_done: int, since: float) -> dict[str, Any]:
        """One curve record for the steps since the last (reads the loss: a sync)."""
        trainer, recipe = self.trainer, self.trainer.recipe
        work = sum(trainer.step_flops(i) for i in range(trainer.step - steps_done, trainer.step))
        loss = loss_sum.item() / steps_done
        if not math.isfinite(loss):  # went on, it wrote NaN weights and a curve of bare NaN (no JSON), and said done
            raise UserError(f"{self.out}: training diverged by step {trainer.step} (loss {loss}); try a lower --lr "
                            "or a --clip above 0 (the last checkpoint, if any, is kept)")  # fmt: skip
        record = {
            "loss": loss,  # the batch's MSE whatever --loss (an l1 run's is comparable with an l2 run's)
            "lr": recipe.lr_at(trainer.step - 1),
            "units": recipe.units_at(trainer.step - 1),
            "tflops": round(work / (time.monotonic() - since) / 1e12, 4),
        }
        self.log(record)
        return record

    def run(self, limits: Limits) -> list[str]:
        """Train until a limit or a signal; returns the signals that stopped it (none: a limit). A resumed run
        already at its limit is left as it is (it validated again and wrote the curve's last record twice)."""
        trainer = self.trainer
        at_steps = limits.steps is not None and trainer.step >= limits.steps  # --minutes counts from now on
        if self.resumed and at_steps:  # (a new run at --steps 0 still exports the weights it starts from)
            self.idle = True
            return []
        with progress_display(limits.steps) as display, stop_requests() as asked:
            task = display.add_task("train", total=limits.steps, completed=trainer.step, status="")
            loss_sum, since, steps_done = torch.zeros((), device=trainer.device), time.monotonic(), 0
            while not asked and not self.reached(limits):
                loss_sum += trainer.train_step()
                steps_done += 1
                if trainer.step % limits.log_every == 0:
                    self.show(display, task, self.record(loss_sum, steps_done, since))
                    loss_sum.zero_()
                    since, steps_done = time.monotonic(), 0
                due = limits.save_minutes is not None and time.monotonic() - self.saved_at >= limits.save_minutes * 60
                if (limits.val_every and trainer.step % limits.val_every == 0) or due:
                    paused = time.monotonic()
                    self.checkpoint(display.console)
                    since += time.monotonic() - paused  # a record's speed is its steps' (it read 0.0 after one)
            if steps_done:
                self.show(display, task, self.record(loss_sum, steps_done, since))
            self.finish(display.console, scored=not asked)
        return asked

    def show(self, display: Progress, task: TaskID, record: dict[str, Any]) -> None:
        shown = " ".join(f"x{s} {p:.2f}" for s, p in self.psnr.items()) or "-"
        status = f"mse {record['loss']:.3g}  lr {record['lr']:.3g}  units {record['units']}"
        status += f"  {record['tflops']:.3g} TFLOP/s  PSNR {shown}"
        display.update(task, completed=self.trainer.step, status=status)

    def finish(self, console: Console, scored: bool) -> None:
        """The last validation (unless a signal cut the run short), export and checkpoint."""
        if self.validation.lumas and self.validated_at != self.trainer.step and scored:
            self.checkpoint(console)
            return
        if not self.validation.lumas:
            self.export(self.out / "best.safetensors", {})  # nothing measured: the latest weights
        self.save()

    def reached(self, limits: Limits) -> bool:
        by_steps = limits.steps is not None and self.trainer.step >= limits.steps
        return by_steps or (limits.minutes is not None and time.monotonic() - self.start >= limits.minutes * 60)


def _mean(scores: dict[int, float]) -> float:
    return sum(scores.values()) / len(scores)


@dataclass(frozen=True)
class CodedPair:
    """A coded LR of a validation image, with the HR window it shows."""

    scale: int
    gt: torch.Tensor  # uint8
    lr: torch.Tensor  # uint8


def coded_pairs(pack: LumaPack, coded: CodedSet) -> Iterator[CodedPair]:
    images = pack.images()
    for n, (offset, (h, w)) in enumerate(zip(coded.offsets, coded.shapes, strict=True)):
        s, (top, left) = int(coded.scale[n]), coded.origin[n]
        gt = images[int(coded.image[n])][top : top + s * h, left : left + s * w]
        yield CodedPair(s, gt, torch.from_numpy(coded.pixels[offset : offset + h * w].reshape(h, w)))


def progress_display(steps: int | None) -> Progress:
    return progress(
        TextColumn("step"),
        MofNCompleteColumn() if steps else TextColumn("{task.completed}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )


@dataclass(frozen=True)
class TrainingData:
    """What a run trains on: the images, coded LR of them (or none), and weights to start from (or none)."""

    pack: LumaPack
    coded: CodedSet | None = None
    start: Weights | None = None

    @classmethod
    def load(cls, data: Path, coded: Path | None, start: str | None) -> TrainingData:
        pack = load_pack(data)
        return cls(pack, read_coded(coded, pack) if coded is not None else None,
                   find_weights(start) if start is not None else None)  # fmt: skip

    def recipe_fields(self, coded_share: float | None) -> dict[str, Any]:
        """What the data adds to the recipe: the coded set and its share (0.3 unless asked), the start."""
        share = coded_share if coded_share is not None else 0.3 if self.coded is not None else 0.0
        if share and self.coded is None:
            raise UserError("--coded-share needs --coded FILE (made by --pack-coded)")
        return {
            "coded": self.coded.identity() if self.coded is not None and share else "", "coded_share": share,
            "start": describe(self.start) if self.start is not None else "",
        }  # fmt: skip


def train(
    recipe: Recipe, data: TrainingData, out: Path, device: str, precision: Precision, resume: Path | None,
    validation: Validation, limits: Limits,
) -> tuple[list[str], TrainingRun]:  # fmt: skip
    """Open the run (new, or resumed exactly) on the device, train until a limit or a signal;
    -> (the signals that stopped it, the run)."""
    dev = device_for(device)
    prec, notices = precision_for(precision, dev)
    run = open_run(recipe, data.pack, out, dev, prec, resume, validation, data.coded, data.start)
    say(run.describe(limits), style="dim")
    say_notices(notices)
    return run.run(limits), run


def open_run(
    recipe: Recipe, pack: LumaPack, out: Path, device: torch.device, precision: str, resume: Path | None,
    validation: Validation, coded: CodedSet | None = None, start: Weights | None = None,
) -> TrainingRun:  # fmt: skip
    """A new run in `out`, or the one `resume` saved; refused (one line) where the recipes differ, or
    where the best weights would be chosen otherwise (with or without --val-coded) than they were.
    A resumed fine-tune goes on from its checkpoint, not from --start-from (which may have been shipped
    anew since: its start stays the recorded one)."""
    state = read_checkpoint(resume) if resume is not None else None
    if state is None and (out / "last.pt").exists():
        raise UserError(
            f"{out / 'last.pt'}: exists; pass --resume {out / 'last.pt'} to continue it, or choose another --out"
        )
    if state is None and (held := [name for name in ("curve.jsonl", "best.safetensors") if (out / name).exists()]):
        raise UserError(f"{out}: holds another run's {' and '.join(held)}; choose another --out")  # (a new run's
        # curve was emptied at once, and a run that then failed had lost it)
    if state is not None:
        before = Recipe.from_dict(state["recipe"])
        recipe, start = dataclasses.replace(recipe, start=before.start), None  # the weights are the checkpoint's
        if changes := recipe_changes(before, recipe):
            raise UserError(f"{resume}: the checkpoint's run differs ({'; '.join(changes)}); repeat its options")
        if state["best"] and state["best"].get("coded", False) != bool(validation.coded):
            raise UserError(f"{resume}: its best weights were chosen {'with' if not validation.coded else 'without'} "
                            "--val-coded; repeat its options")  # fmt: skip
        if state["best"].get("validation", validation.fingerprint) != validation.fingerprint:
            raise UserError(f"{resume}: its best weights were chosen on other validation images or crops; repeat its "
                            "--val-data and --val-crop")  # fmt: skip
        if (held := out / "last.pt").exists() and not held.samefile(resume):  # it was replaced by the one resumed
            raise UserError(f"{out}: holds another run's last.pt; resume in {resume.parent}, or in a folder of its own")
        if state["best"] and not (out / "best.safetensors").exists():  # "wrote best.safetensors" of none there
            raise UserError(f"{out}: has no best.safetensors of the run resumed (its best, step "
                            f"{state['best']['step']}); resume in {resume.parent}, or copy its best.safetensors and "
                            "curve.jsonl there")  # fmt: skip
    if out.exists() and not out.is_dir():  # mkdir said "File exists"
        raise UserError(f"{out}: not a folder (--out is the run's folder)")
    out.mkdir(parents=True, exist_ok=True)
    return TrainingRun(Trainer(recipe, pack, device, precision, coded, start), out, pack, validation, state, coded)
