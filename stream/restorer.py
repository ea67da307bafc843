"""From command-line choices (weights, units, device, precision, tiling) to a ready Restorer."""

from __future__ import annotations

from pathlib import Path

import torch

from kernels.inference import Precision, Restorer, resolve_device, resolve_precision
from kernels.tiling import Tiling, tiling_for
from kernels.weights import Weights, load_drrn
from stream.errors import UserError


def resolve(device: str, precision: Precision) -> tuple[torch.device, str]:
    """--device and --precision as a device and a resolved precision; a one-line error where impossible."""
    try:
        dev = resolve_device(device)
        return dev, resolve_precision(precision, dev)
    except (ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None


def make_restorer(
    weights: Path | None,
    units: int | None,
    device: str,
    precision: Precision,
    tile: int | None = None,
    halo: int = Tiling.halo,
    batch: int | None = None,
) -> tuple[Restorer, Weights]:
    """tile and batch None: the device's default (kernels.tiling.tiling_for); tile 0: whole frames."""
    dev, prec = resolve(device, precision)
    model, loaded = load_drrn(weights, units)
    return Restorer(model, dev, prec, tiling_for(dev, tile, halo, batch)), loaded
