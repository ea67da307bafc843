"""From command-line choices (weights, units, device, precision, tiling) to a ready Restorer."""

from __future__ import annotations

from pathlib import Path

from kernels.inference import Precision, Restorer, resolve_device, resolve_precision
from kernels.tiling import Tiling, tiling_for
from kernels.weights import Weights, load_drrn
from stream.errors import UserError


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
    try:
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
    except (ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None
    model, loaded = load_drrn(weights, units)
    return Restorer(model, dev, prec, tiling_for(dev, tile, halo, batch)), loaded
