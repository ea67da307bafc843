"""DRRN's units as oneDNN int8 convolutions through PyTorch: speed and Set5 quality, against the CPU defaults.

    python -m benchmarks.onednn_int8 [--units 17] [--size 320x240] [--rounds 3] [--out F.json]

The CPU default today is PyTorch bf16 where the CPU has AMX, else the shipped int8 ONNX file
through ONNX Runtime where it has VNNI (kernels/resolve.py); both are timed here as the product
runs them (`--precision bf16`, `--precision int8`). PyTorch also reaches oneDNN's int8
convolutions directly (torch.ops.onednn.qconv2d_pointwise, what inductor's x86 quantisation
lowers to), with the ReLU and the residual add fused as post-ops, as kernels.onednn does in
bf16. A prototype of that path, measured here before it is built into the product: activations
in uint8 with one scale per unit (static: the largest value 24 bicubic crops of T91 reached there,
in fp32), weights in int8 per output channel; the first and last convs stay in float32. Times one
frame per path in rounds (the paths in random order), then scores Set5 x2.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from kernels.choice import ModelChoice
from kernels.model import DRRN
from kernels.onednn import FusedForward
from kernels.weights import load_drrn
from stream.bench.measure import cpu_isa, host_name
from stream.eval.protocol import bicubic_patches, evaluate_dataset, read_dataset

DATA = Path("../shared/data")  # run from the repository root, as the other benchmarks
_SAME = ([1, 1], [1, 1], [1, 1], 1)  # stride, padding, dilation, groups
Forward = Callable[[torch.Tensor, int], torch.Tensor]


def activation_peaks(model: DRRN, units: int) -> tuple[float, list[float], list[float]]:
    """The largest h0, each unit's input h and its t = relu(conv_a(h)) over 24 bicubic T91 crops (fp32)."""
    peak_h0, peak_h, peak_t = 0.0, [0.0] * (units + 1), [0.0] * units
    with torch.inference_mode():
        for patch in bicubic_patches(DATA / "train" / "T91", 96, 24):
            h0 = F.relu(model.conv_in(torch.from_numpy(patch).relu()))
            peak_h0, h = max(peak_h0, h0.max().item()), h0
            for i in range(units):
                peak_h[i] = max(peak_h[i], h.max().item())
                t = F.relu(model.conv_a(h))
                peak_t[i], h = max(peak_t[i], t.max().item()), F.relu(model.conv_b(t) + h0)
            peak_h[units] = max(peak_h[units], h.max().item())
    return peak_h0, peak_h, peak_t


def per_channel_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scales = (w.abs().amax(dim=(1, 2, 3)) / 127).float()
    return torch.clamp(torch.round(w / scales[:, None, None, None]), -128, 127).to(torch.int8), scales


class Int8Forward:
    """Callable like kernels.onednn.FusedForward: per unit t = relu(conv_a(h)) and h = relu(conv_b(t) + h0),
    each one oneDNN int8 conv from uint8 to uint8 (the add as a `sum` post-op into a copy of h0)."""

    def __init__(self, model: DRRN, units: int) -> None:
        self.fp32 = FusedForward(model, torch.float32)  # its first and last convs
        peak_h0, peak_h, peak_t = activation_peaks(model, units)
        self.s_h0, self.s_h, self.s_t = peak_h0 / 255, [p / 255 for p in peak_h], [p / 255 for p in peak_t]
        (self.w_a, self.ws_a), (self.w_b, self.ws_b) = (
            per_channel_int8(c.weight.detach()) for c in (model.conv_a, model.conv_b)
        )
        self.w_zero = torch.zeros(self.w_a.shape[0], dtype=torch.int64)
        self.packed: dict[tuple, torch.Tensor] = {}  # oneDNN's weights, per input scale and shape

    def _packed(self, w: torch.Tensor, scales: torch.Tensor, x_scale: float, shape: torch.Size) -> torch.Tensor:
        key = (w.data_ptr(), x_scale, tuple(shape))
        if key not in self.packed:
            self.packed[key] = torch.ops.onednn.qconv_prepack(w, scales, x_scale, 0, *_SAME[:3], 1, list(shape))
        return self.packed[key]

    def __call__(self, x: torch.Tensor, units: int) -> torch.Tensor:
        x = x.float().contiguous(memory_format=torch.channels_last).relu()
        h0f = self.fp32._conv(x, self.fp32.w_in, "relu")
        h0 = (
            torch.clamp(torch.round(h0f / self.s_h0), 0, 255)
            .to(torch.uint8)
            .contiguous(memory_format=torch.channels_last)
        )
        h, s_h = h0, self.s_h0
        for i in range(units):
            w_a = self._packed(self.w_a, self.ws_a, s_h, h.shape)
            t = torch.ops.onednn.qconv2d_pointwise(
                h, s_h, 0, w_a, self.ws_a, self.w_zero, None, *_SAME, self.s_t[i], 0, None, "relu", [], ""
            )
            w_b, s_out = self._packed(self.w_b, self.ws_b, self.s_t[i], t.shape), self.s_h[i + 1]
            h = torch.ops.onednn.qconv2d_pointwise(  # into the copy of h0: relu(conv_b(t) + h0)
                t, self.s_t[i], 0, w_b, self.ws_b, self.w_zero, h0.clone(), None, *_SAME, s_out, 0, None,
                self.s_h0, 0, "sum", 1.0, "relu", [], "",
            )  # fmt: skip
            s_h = s_out
        h = (h.float() * s_h).contiguous(memory_format=torch.channels_last)
        return self.fp32._conv(h, self.fp32.w_out, "none") + x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=17, help="the shipped int8 file's depth")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_drrn(None, args.units)[0]
    product = {p: ModelChoice(units=args.units, precision=p).load().restorer for p in ("bf16", "int8", "fp32")}
    paths: dict[str, Forward] = {  # the product's restorers, as `--precision` picks them, and the prototype
        f"{p} ({product[p].backend})": lambda x, units, r=product[p]: r(x, units) for p in ("bf16", "int8")
    }
    paths["int8 (oneDNN through PyTorch, this prototype)"] = Int8Forward(model, args.units)
    width, height = map(int, args.size.split("x"))
    frame, ms = torch.rand(1, 1, height, width), {name: [] for name in paths}
    with torch.inference_mode():
        for forward in paths.values():
            forward(frame, args.units)  # oneDNN primitives, packed weights
        for _ in range(args.rounds):
            for name in random.sample(list(paths), len(paths)):
                forward, start = paths[name], time.perf_counter()
                forward(frame, args.units)
                ms[name].append(round((time.perf_counter() - start) * 1000, 1))
        print(json.dumps(ms), flush=True)
        paths["fp32 (PyTorch)"] = lambda x, units: product["fp32"](x, units)
        lumas, set5 = read_dataset(DATA / "Set5"), {}
        for name, forward in paths.items():
            restore = lambda y, forward=forward: forward(y.float(), args.units).float()  # noqa: E731
            set5[name] = round(evaluate_dataset(restore, "Set5", lumas, 2).psnr, 4)
            print(f"Set5 x2 {name}: {set5[name]}", flush=True)
    record = {"date": date.today().isoformat(), "host": host_name(torch.device("cpu")), "isa": cpu_isa(),
              "units": args.units, "size": args.size, "ms_per_frame": ms,
              "ms_median": {name: statistics.median(v) for name, v in ms.items()}, "set5_x2": set5}  # fmt: skip
    print(json.dumps(record))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
