"""Whether fp8 (e4m3) convolutions keep DRRN's quality, measured on the CPU before any GPU time.

    python -m benchmarks.fp8_quality [--weights NAME] [--out F.json]

Issue #23's stretch goal: Hopper's fp8 tensor cores (torch._scaled_mm) take e4m3 operands, each
with a scale, and accumulate in fp32; the goal asks Set5 x2 within 0.05 dB of fp16. Here the
recursive units' two convs (all but 0.03% of DRRN's FLOPs) take their operands rounded as such a
GEMM would take them, then convolve in fp32: weights scaled per output channel; activations per
tensor, scaled either by their own maximum (dynamic: one more pass over each activation on a GPU)
or by the maximum a calibration pass over training crops saw at that unit (static). The first and
last convs stay in fp32. Against the same model with fp16-rounded operands and in fp32.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kernels.model import DRRN
from kernels.onednn import activation_peaks
from kernels.weights import DEFAULT_PRETRAINED, load_drrn
from stream.cli.weights import PATCH_SIZE, PATCHES
from stream.eval.protocol import bicubic_patches, eager_fp32, evaluate_dataset, read_dataset

E4M3_MAX = 448.0  # the largest finite float8_e4m3fn
DATA = Path("../shared/data")  # run from the repository root, as the other benchmarks
ROUNDINGS = ("fp32", "fp16", "fp8-dynamic", "fp8-static")


def e4m3(x: torch.Tensor, amax: torch.Tensor | float) -> torch.Tensor:
    """`x` as an fp8 GEMM sees it: scaled so `amax` maps to E4M3_MAX, rounded to e4m3, scaled back."""
    scale = torch.as_tensor(amax).clamp(min=1e-12) / E4M3_MAX
    return (x / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).to(x.dtype) * scale


class RoundedConv(nn.Module):
    """A unit's conv with its operands rounded; `calls` counts calls within a forward pass (both convs
    are shared by every unit), so a static scale can be kept per unit."""

    def __init__(self, conv: nn.Conv2d, rounding: str, calls: list[int], amax: dict[int, float]) -> None:
        super().__init__()
        self.rounding, self.calls, self.amax = rounding, calls, amax  # amax: per call, filled by calibration
        w = conv.weight.detach()
        self.weight = w.half().float() if rounding == "fp16" else e4m3(w, w.abs().amax(dim=(1, 2, 3), keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls[0] += 1
        if self.rounding == "fp16":
            x = x.half().float()
        else:
            x = e4m3(x, x.abs().amax() if self.rounding == "fp8-dynamic" else self.amax[self.calls[0]])
        return F.conv2d(x, self.weight, padding=1)


class RoundedDRRN(DRRN):
    """DRRN with its units' convs rounded; their calls counted afresh each forward pass."""

    def __init__(self, model: DRRN, rounding: str) -> None:
        super().__init__(model.config)
        self.load_state_dict(model.state_dict())
        self.calls, self.amax = [0], {}
        self.conv_a, self.conv_b = (
            RoundedConv(conv, rounding, self.calls, self.amax) for conv in (self.conv_a, self.conv_b)
        )

    def forward(self, x: torch.Tensor, units: int | None = None) -> torch.Tensor:
        self.calls[0] = 0
        return super().forward(x, units)

    def calibrate(self, model: DRRN, crops: Path) -> None:
        """The static scales: each unit's largest activations in `model` over bicubic crops of `crops`,
        as int8 calibrates (all are ReLU outputs); calls alternate conv_a (reads h), conv_b (t)."""
        peaks = activation_peaks(model, bicubic_patches(crops, PATCH_SIZE, PATCHES))
        for i in range(peaks.units):
            self.amax[2 * i + 1], self.amax[2 * i + 2] = peaks.h[i], peaks.t[i]


def rounded(weights: str, rounding: str) -> DRRN:
    model = load_drrn(weights)[0]
    if rounding == "fp32":
        return model
    rounded_model = RoundedDRRN(model, rounding)
    if rounding == "fp8-static":
        rounded_model.calibrate(model, DATA / "train" / "T91")
    return rounded_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=DEFAULT_PRETRAINED)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lumas = read_dataset(DATA / "Set5")
    record: dict[str, object] = {"weights": args.weights, "date": date.today().isoformat(), "Set5_x2": {}}
    for rounding in ROUNDINGS:
        model = rounded(args.weights, rounding)
        result = evaluate_dataset(eager_fp32(model, model.config.units, torch.device("cpu")), "Set5", lumas, 2)
        record["Set5_x2"][rounding] = round(result.psnr, 4)
        print(f"{rounding:12s} Set5 x2 {result.psnr:.4f} dB", flush=True)
    print(json.dumps(record))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
