"""A training run's state on disk: `last.pt` (resumes exactly) and the curve it has logged."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from stream.errors import UserError
from stream.files import write_atomically
from stream.train.trainer import Trainer

CHECKPOINT_VERSION = 1
CHECKPOINT_KEYS = ("model", "optimizer", "scaler", "ema", "step", "recipe", "seconds", "best")  # what a resume reads


def save_checkpoint(path: Path, trainer: Trainer, seconds: dict[str, float], best: dict[str, Any]) -> None:
    """Only tensors, numbers, strings and containers, so `torch.load(weights_only=True)` reads it. Made in memory
    (a few MB), then written: torch's own writer said a full disk as "unexpected pos 576 vs 534"."""
    state = trainer.state_dict() | {
        "version": CHECKPOINT_VERSION,
        "recipe": asdict(trainer.recipe),
        "seconds": seconds["all"],
        "gpu_seconds": seconds["gpu"],
        "best": best,
    }
    made = io.BytesIO()
    torch.save(state, made)
    try:
        with write_atomically(path) as tmp:
            tmp.write_bytes(made.getbuffer())
    except OSError as e:
        kept = "; the one before it is kept" if path.exists() else ""
        raise UserError(f"{path}: cannot write the checkpoint ({e.strerror}){kept}") from None


def read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: running code from the file
        raise UserError(f"{path}: not a training checkpoint (no file of tensors torch reads safely)") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile):  # OSError: torch's "Invalid argument"
        raise UserError(f"{path}: a damaged or cut-short training checkpoint") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise UserError(f"{path}: not a drrn-stream training checkpoint (version {CHECKPOINT_VERSION})")
    if missing := [key for key in CHECKPOINT_KEYS if key not in state]:
        raise UserError(f"{path}: a training checkpoint without {', '.join(missing)}; not one drrn-stream wrote")
    return state


def keep_curve_until(path: Path, step: int) -> None:
    """Drop records a crashed run logged after its last checkpoint, so a resumed curve has no repeats, and a line
    that is no record (cut short by a full disk, or blank), which failed the resume as "unexpected JSONDecodeError"."""
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if (record := _record(line)) and record["step"] <= step]
        path.write_text("".join(f"{line}\n" for line in lines))


def _record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("step"), int) else None
