"""How fast `drrn-stream train` steps on this device, and where a step's time goes (issue #23, item 6).

    python -m benchmarks.train_probe [--device auto] [--units 13] [--batches 64 128 256] [--seconds 4] [--json F]

A GPU window trains for minutes, so pixels a second are what it buys. This drives the real Trainer
as the real-input run does (128 channels at one depth, 13: the mean of run 2's 1..25 draw; patch 48,
scales 2/3/4, Adam, EMA 0.999, bf16 autocast) for each batch size after a warm-up (cuDNN picks its
kernels in the first steps), and reports steps, training pixels and useful TFLOP/s a second. Then one
profile of the first batch size's steps: the share of the wall time the device was busy (well under 1,
the host's launches hold it back and a CUDA-graphed step would pay) and the kernels that took the most
of it (convolutions, their backward, elementwise passes, the optimiser, the sampler).

The images are synthetic: `gpu_window.sh check` cannot carry the 291-image pack beside the PyAV wheel,
and a patch costs the same whatever its pixels. Clean pairs only: the coded sampler's work is the same
kind (gathers and a bicubic upscale).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from kernels.resolve import device_for
from stream.train.data import LumaPack
from stream.train.recipe import Recipe
from stream.train.trainer import Trainer

WARMUP_STEPS = 3
PROFILED_STEPS = 8
TOP_KERNELS = 15


def synthetic_pack(images: int = 24, side: int = 256) -> LumaPack:
    """Seeded noise images, uint8, as many and as large as a batch's crops need."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, images * side * side, dtype=np.uint8)
    shapes = np.full((images, 2), side, dtype=np.int64)
    return LumaPack(pixels, shapes, [f"synthetic/{i}.png" for i in range(images)])


def trainer_for(batch: int, args: argparse.Namespace, device: torch.device) -> Trainer:
    recipe = Recipe(
        data="synthetic", units=args.units, scales=(2, 3, 4), patch=args.patch, batch=batch, optimizer="adam",
        lr=1e-4, weight_decay=0.0, clip=0.0, ema=0.999,
    )  # fmt: skip
    return Trainer(recipe, synthetic_pack(), device, args.precision)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(trainer: Trainer, seconds: float) -> tuple[float, int]:
    """Steps a second over at least `seconds` after the warm-up, and how many steps that took."""
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    sync(trainer.device)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 2:
        trainer.train_step()
        steps += 1
        if steps % 4 == 0:  # a sync now and then, so the time counts work done, not work queued
            sync(trainer.device)
    sync(trainer.device)
    return steps / (time.perf_counter() - start), steps


def where_time_goes(trainer: Trainer) -> dict:
    """One profile of PROFILED_STEPS steps: the device's busy share of the wall time and its top kernels."""
    cuda = trainer.device.type == "cuda"
    sync(trainer.device)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        for _ in range(PROFILED_STEPS):
            trainer.train_step()
        sync(trainer.device)
    wall_us = (time.perf_counter() - start) * 1e6
    events = [e for e in prof.key_averages() if (e.device_type.name == "CUDA") == cuda]
    self_us = {e.key: (e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events}
    counts = {e.key: e.count for e in events}
    total = sum(self_us.values())
    top = sorted(self_us, key=self_us.get, reverse=True)[:TOP_KERNELS]

    def row(key: str) -> dict:
        per_step = self_us[key] / PROFILED_STEPS
        return {"name": key[:120], "calls_per_step": counts[key] / PROFILED_STEPS,
                "ms_per_step": round(per_step / 1e3, 3), "share": round(self_us[key] / total, 3)}  # fmt: skip

    return {
        "steps": PROFILED_STEPS,
        "wall_ms_per_step": round(wall_us / PROFILED_STEPS / 1e3, 3),
        "busy_share": round(total / wall_us, 3) if cuda else None,  # the CPU's self times overlap threads
        "top": [row(k) for k in top],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--units", type=int, default=13)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed steps per batch size, at least")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = device_for(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    record: dict = {"device": name, "torch": torch.__version__, "date": date.today().isoformat(),
                    "precision": args.precision, "units": args.units, "patch": args.patch, "batches": []}  # fmt: skip
    for batch in args.batches:
        trainer = trainer_for(batch, args, device)
        rate, steps = steps_per_second(trainer, args.seconds)
        pixels = rate * trainer.recipe.pixels(1)
        row = {"batch": batch, "steps": steps, "steps_per_s": round(rate, 2), "mpx_per_s": round(pixels / 1e6, 2),
               "tflops": round(rate * trainer.step_flops(trainer.step) / 1e12, 2)}  # fmt: skip
        print(json.dumps(row), flush=True)
        record["batches"].append(row)
        if batch == args.batches[0]:
            record["profile"] = where_time_goes(trainer)
            print(json.dumps(record["profile"], indent=1), flush=True)
        del trainer
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
