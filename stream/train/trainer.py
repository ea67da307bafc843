"""The model, its optimiser and the patch sampler on one device; `Trainer.train_step` is one update.

Mixed precision where asked (autocast; the loss in fp32), channels_last, and an optional moving
average of the weights, which is what is validated and exported.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from kernels.inference import DTYPES
from kernels.model import DRRN, DRRNConfig, flops_per_pixel
from kernels.weights import Weights
from stream.errors import UserError
from stream.train.coded_data import CodedSampler, CodedSet
from stream.train.data import LumaPack, PatchSampler
from stream.train.recipe import Recipe

TRAIN_FLOPS_PER_FORWARD = 3  # forward, input gradients and weight gradients: three convolutions' work each


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


def start_from(model: DRRN, weights: Weights) -> None:
    """Fine-tuning: the model starts from trained weights of its own width (any depth: all units share them)."""
    try:
        model.load_state_dict(weights.state_dict)
    except RuntimeError:
        width = weights.state_dict["conv_a.weight"].shape[0]
        raise UserError(f"--start-from: {weights.source} has {width} channels, the model "
                        f"{model.config.channels}") from None  # fmt: skip


class Trainer:
    """The model, its optimiser and the samplers on one device; `train_step` is one update."""

    def __init__(self, recipe: Recipe, pack: LumaPack, device: torch.device, precision: str,
                 coded: CodedSet | None = None, start: Weights | None = None) -> None:  # fmt: skip
        self.recipe, self.device, self.precision = recipe, device, precision
        torch.manual_seed(recipe.seed)
        model = DRRN(DRRNConfig(units=recipe.units, channels=recipe.channels))
        initialise(model, recipe.init)
        if start is not None:
            start_from(model, start)
        self.model = model.to(device, memory_format=torch.channels_last)  # oneDNN and cuDNN prefer NHWC
        params = self.model.parameters()
        if recipe.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay
            )
        else:
            self.optimizer = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.samplers = samplers(recipe, pack, coded, device)
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
        pairs = [sampler.sample(self.generator) for sampler in self.samplers]
        x, target = torch.cat([x for x, _ in pairs]), torch.cat([t for _, t in pairs])
        dtype = DTYPES[self.precision]
        with torch.autocast(self.device.type, dtype) if dtype != torch.float32 else nullcontext():
            out = self.model(x.contiguous(memory_format=torch.channels_last), units=self.recipe.units_at(self.step))
        error = out.float() - target  # the loss in fp32, whatever the convolutions ran in
        mse = error.square().mean()
        if self.recipe.loss == "l1":  # the absolute error summed over a patch, as EDSR and its successors train
            loss = self.recipe.patch**2 * error.abs().mean()
        else:  # the paper's: half the squared error summed over a patch
            loss = 0.5 * self.recipe.patch**2 * mse
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


def samplers(
    recipe: Recipe, pack: LumaPack, coded: CodedSet | None, device: torch.device
) -> list[PatchSampler | CodedSampler]:
    """Clean pairs for the batch's clean share, coded ones for the rest."""
    n_clean, n_coded = recipe.batch - recipe.coded_batch, recipe.coded_batch
    out: list[PatchSampler | CodedSampler] = []
    if n_clean:
        out.append(PatchSampler(pack, recipe.patch, recipe.scales, n_clean, device))
    if n_coded:
        if coded is None:
            raise UserError("the recipe trains on coded LR: give --coded FILE")
        out.append(CodedSampler(pack, coded, recipe.patch, recipe.scales, n_coded, device))
    return out
