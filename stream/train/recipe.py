"""What decides a training run's trajectory: the recipe, with the learning rate and depth as functions of the step.

Nothing in it is random state: the depth of a step is drawn from (seed, step), so a checkpoint
of the model, the optimiser and the step resumes a run exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any

from kernels.model import DRRNConfig
from stream.errors import UserError


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
    start: str = ""  # fine-tuning: the weights it starts from (describe()), which replace the init
    coded: str = ""  # fingerprint of the coded LR set (stream/train/coded_data.py) patches come from
    coded_share: float = 0.0  # of each batch: patches with coded LR; the rest clean (MATLAB bicubic)
    # What picks best.safetensors where coded LR is validated too: "both" (clean and coded alike: a set
    # for every input), or "coded" (a set for compressed input only: lossless input runs another set).
    select: str = "both"
    loss: str = "l2"  # "l2": the paper's, half the squared error; "l1": the absolute error (both summed over a patch)
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
        opt += f", {self.coded_share:.0%} of patches coded LR" if self.coded_share else ""
        opt += ", chosen on coded LR" if self.select == "coded" else ""
        opt += ", L1 loss" if self.loss == "l1" else ""
        return f"batch {self.batch} of {self.patch}x{self.patch}, {opt}"

    @property
    def coded_batch(self) -> int:
        """Patches per batch with coded LR (the rest clean)."""
        return round(self.batch * self.coded_share)

    @classmethod
    def asked(
        cls, *, optimizer: str, lr: float | None, weight_decay: float | None, channels: int | None,
        steps: int | None, **rest: Any,
    ) -> Recipe:  # fmt: skip
        """The recipe a command line asks for, with each optimizer's defaults (SGD: the paper's lr 0.1 and
        weight decay 1e-4; Adam: 1e-4 and none) and a cosine schedule annealed over the run's steps;
        a one-line error for a recipe that cannot run."""
        recipe = cls(
            optimizer=optimizer, lr=lr if lr is not None else {"sgd": 0.1, "adam": 1e-4}[optimizer],
            weight_decay=weight_decay if weight_decay is not None else {"sgd": 1e-4, "adam": 0.0}[optimizer],
            channels=channels or DRRNConfig.channels, horizon=(steps or 0) if rest.get("schedule") == "cosine" else 0,
            **rest,
        )  # fmt: skip
        if not (math.isfinite(recipe.lr) and recipe.lr > 0):  # torch's optimizer said "unexpected ValueError"
            raise UserError(f"--lr {recipe.lr:g}: a learning rate is a number above 0")
        if not (math.isfinite(recipe.weight_decay) and recipe.weight_decay >= 0):
            raise UserError(f"--weight-decay {recipe.weight_decay:g}: a number from 0")
        if not (0 <= recipe.ema < 1):  # (NaN too: typer's bounds let it by, and it exported NaN weights as done)
            raise UserError(f"--ema {recipe.ema:g}: a decay from 0 to below 1")
        if recipe.schedule == "cosine" and not steps:
            raise UserError("--schedule cosine anneals over --steps, so it needs --steps")
        if recipe.min_units > recipe.units:
            raise UserError(f"--min-units {recipe.min_units} is more than --units {recipe.units}")
        scales = len(recipe.scales)
        if recipe.coded_share and recipe.coded_batch in (0, recipe.batch) and recipe.coded_share != 1:
            raise UserError(f"--coded-share {recipe.coded_share:g} of --batch {recipe.batch} rounds to "
                            f"{recipe.coded_batch} coded patches: choose a share that leaves both kinds")  # fmt: skip
        if any(0 < n < scales for n in (recipe.coded_batch, recipe.batch - recipe.coded_batch)):
            which = "clean or coded patches" if recipe.coded_share else "patches"
            raise UserError(f"--batch {recipe.batch} has fewer {which} than scales ({scales})")
        return recipe

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """A recorded recipe; fields added since it was recorded take their defaults (what it ran with)."""
        known = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        return cls(**known | {"scales": tuple(d["scales"]), "units_schedule": tuple(map(tuple, d["units_schedule"]))})


def recipe_changes(old: Recipe, new: Recipe) -> list[str]:
    """What differs between two recipes, one "field old -> new" per difference."""
    return [
        f"{f.name} {getattr(old, f.name)} -> {getattr(new, f.name)}"
        for f in fields(Recipe)
        if getattr(old, f.name) != getattr(new, f.name)
    ]
