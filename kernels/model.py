"""DRRN (Tai, Yang, Liu, CVPR 2017): the whole model, as traced in the reference graph."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RF_RADIUS_PER_UNIT = 2  # two 3x3 convs per recursive unit


@dataclass(frozen=True)
class DRRNConfig:
    units: int = 25  # recursive units; B1U25 is the paper's best, B1U9 trades 2.7x speed for ~0.2 dB
    channels: int = 128  # feature width of every conv; fixed by all published DRRN weights


class DRRN(nn.Module):
    """B1U<units>: one recursive block whose two convs are shared by every unit.

    Maps a bicubic-upscaled luma in [0, 1] (N x 1 x H x W) to the restored luma, same size.
    The graph is the traced reference one: every input to a conv goes through a ReLU, the
    residual added back in each unit is h0 (already ReLU'd), and the global skip adds relu(x).
    """

    def __init__(self, config: DRRNConfig | None = None) -> None:
        super().__init__()
        self.config = config or DRRNConfig()
        c = self.config.channels
        self.conv_in = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.conv_a = nn.Conv2d(c, c, 3, padding=1, bias=False)  # first conv of every unit
        self.conv_b = nn.Conv2d(c, c, 3, padding=1, bias=False)  # second conv of every unit
        self.conv_out = nn.Conv2d(c, 1, 3, padding=1, bias=False)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel sees on every side (52 for B1U25)."""
        return 2 + RF_RADIUS_PER_UNIT * self.config.units

    def forward(self, x: torch.Tensor, units: int | None = None) -> torch.Tensor:
        units = self.config.units if units is None else units
        x = F.relu(x)  # N x 1 x H x W; a no-op for valid luma, but it is in the traced graph
        h0 = F.relu(self.conv_in(x))  # N x C x H x W
        h = h0
        for _ in range(units):
            h = self.conv_b(F.relu(self.conv_a(F.relu(h)))) + h0
        return self.conv_out(F.relu(h)) + x  # N x 1 x H x W


def flops_per_pixel(units: int = 25, channels: int = 128) -> int:
    """Multiply-adds x 2 per output pixel: 14.75 MFLOP for B1U25."""
    macs = 9 * (channels + 2 * units * channels * channels + channels)
    return 2 * macs
