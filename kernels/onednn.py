"""DRRN's forward on the CPU as oneDNN convolutions with their ReLU and residual add fused in.

Eager PyTorch runs each unit as two convolutions plus three elementwise passes (two ReLUs,
the h0 add) over 128-channel activations far larger than the cache, so on the CPU those
passes cost about a quarter of the time. oneDNN applies them as post-ops inside the convolution
while the output is still in registers: per unit, t = relu(conv_a(h)) and
h = relu(conv_b(t) + h0). The ReLU that the reference graph puts before each conv is thus
moved to the end of the op that feeds it: same arithmetic, one pass per conv.
docs/PERFORMANCE.md measures the gain.

Int8Forward runs the same graph with the units' convs in oneDNN's int8 kernels (AMX, VNNI):
on an AMX Xeon 1.7x the bf16 forward at -0.007 dB on Set5 (docs/PERFORMANCE.md, docs/QUALITY.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from kernels.model import DRRN

_CONV = torch.ops.mkldnn._convolution_pointwise  # the op inductor's CPU conv fusions lower to
_PAD, _STRIDE, _DILATION, _GROUPS = [1, 1], [1, 1], [1, 1], 1
_SAME = (_STRIDE, _PAD, _DILATION, _GROUPS)  # the order oneDNN's int8 ops take them


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class FusedForward:
    """Callable like DRRN.forward, on the CPU, in float32 or bfloat16 (weights cast once)."""

    def __init__(self, model: DRRN, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.w_in, self.w_a, self.w_b, self.w_out = (
            conv.weight.detach()
            .to(torch.float32 if conv is model.conv_in else dtype)
            .contiguous(memory_format=torch.channels_last)
            for conv in (model.conv_in, model.conv_a, model.conv_b, model.conv_out)
        )  # the first conv in float32: see __call__

    def _conv(self, x: torch.Tensor, w: torch.Tensor, unary: str) -> torch.Tensor:
        return _CONV(x, w, None, _PAD, _STRIDE, _DILATION, _GROUPS, unary, [], "")

    def __call__(self, x: torch.Tensor, units: int) -> torch.Tensor:
        """x: N x 1 x H x W -> float32; the global skip is added in float32, as autocast does. The
        first conv reads the luma in float32: rounded to bf16 (steps of a level near white) the same
        error reaches every feature, and DRRN sharpens it like texture (-0.13 dB on a flat 52 dB clip);
        its 128 outputs, rounded each on its own, average out. It is 1/400 of the work."""
        x = x.float().contiguous(memory_format=torch.channels_last).relu()  # N x 1 x H x W
        h0 = self._conv(x, self.w_in, "relu").to(self.dtype)  # N x C x H x W, relu(conv_in(x))
        h = h0
        for _ in range(units):
            t = self._conv(h, self.w_a, "relu")  # relu(conv_a(relu(h)))
            h = _CONV(t, h0, self.w_b, None, _PAD, _STRIDE, _DILATION, _GROUPS, "add", 1.0, "relu", [], "")
        return self._conv(h, self.w_out, "none").float() + x  # N x 1 x H x W


# --- int8: the units' convs in oneDNN's int8 kernels (AMX, VNNI) -------------------------------

_QCONV = torch.ops.onednn.qconv2d_pointwise if hasattr(torch.ops.onednn, "qconv2d_pointwise") else None
PEAKS_KEY = "int8_activation_peaks"  # the weights metadata that holds an ActivationPeaks as JSON
INT8_BACKEND = "PyTorch (oneDNN)"  # as reports name Int8Forward's runs


def int8_available() -> bool:
    """oneDNN's int8 convolutions as PyTorch exposes them (what inductor's x86 quantisation lowers to)."""
    return torch.backends.mkldnn.is_available() and _QCONV is not None


@dataclass(frozen=True)
class ActivationPeaks:
    """The largest value each activation of the units reached in float32 over calibration crops: the
    static uint8 scales of the int8 forward (all are ReLU outputs, so 0..peak maps onto 0..255).
    A unit's activations do not depend on how many units follow it, so one calibration at the
    trained depth serves every depth up to it."""

    h0: float  # relu(conv_in(x)), added back in every unit
    h: tuple[float, ...]  # the input of each unit, then the last unit's output: units + 1 values
    t: tuple[float, ...]  # relu(conv_a(h)) in each unit

    @property
    def units(self) -> int:
        return len(self.t)

    def to_json(self) -> str:
        return json.dumps({"h0": self.h0, "h": self.h, "t": self.t})

    @classmethod
    def from_json(cls, text: str) -> ActivationPeaks:
        peaks = json.loads(text)
        return cls(float(peaks["h0"]), tuple(map(float, peaks["h"])), tuple(map(float, peaks["t"])))


@torch.inference_mode()
def activation_peaks(
    model: DRRN, patches: Iterable[np.ndarray], on_patch: Callable[[], None] = lambda: None
) -> ActivationPeaks:
    """Run `model` in float32 at its depth over `patches` (1 x 1 x h x w bicubic luma, as DRRN sees it)."""
    units = model.config.units
    h0_peak, h_peak, t_peak = 0.0, [0.0] * (units + 1), [0.0] * units
    for patch in patches:
        h0 = F.relu(model.conv_in(torch.from_numpy(patch).float().relu()))
        h0_peak, h = max(h0_peak, h0.max().item()), h0
        for i in range(units):
            h_peak[i] = max(h_peak[i], h.max().item())
            t = F.relu(model.conv_a(h))
            t_peak[i], h = max(t_peak[i], t.max().item()), F.relu(model.conv_b(t) + h0)
        h_peak[units] = max(h_peak[units], h.max().item())
        on_patch()
    return ActivationPeaks(h0_peak, tuple(h_peak), tuple(t_peak))


def _int8_per_channel(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 weights with a scale per output channel, packed in oneDNN's layout; and those scales. The
    packing takes an input scale and shape but comes out the same for any (checked on oneDNN 3.x)."""
    scales = (w.abs().amax(dim=(1, 2, 3)) / 127).float()
    w8 = torch.clamp(torch.round(w / scales[:, None, None, None]), -128, 127).to(torch.int8)
    return torch.ops.onednn.qconv_prepack(w8, scales, 1.0, 0, *_SAME, None), scales


class Int8Forward:
    """Callable like FusedForward: each unit's two convs in int8 from uint8 to uint8, per unit
    t = relu(conv_a(h)) and h = relu(conv_b(t) + h0) with the ReLU and the add as post-ops. The
    first and last convs (1/64 of the work) stay float32: the luma needs finer steps than 8 bits
    (see FusedForward), and the output is a residual of a few levels. Activations take one static
    scale each (peak / 255, from ActivationPeaks); weights one per output channel."""

    def __init__(self, model: DRRN, peaks: ActivationPeaks) -> None:
        self.s_h0, self.s_h, self.s_t = peaks.h0 / 255, [p / 255 for p in peaks.h], [p / 255 for p in peaks.t]
        self.units = peaks.units  # the deepest calibrated
        # The scales folded into the float convs: conv_in makes h0 / s_h0, to be rounded to uint8; conv_out
        # reads the last h as stored (its weights times that depth's scale, made per depth run).
        self.w_in = (model.conv_in.weight.detach().float() / self.s_h0).contiguous(memory_format=torch.channels_last)
        self.w_out = model.conv_out.weight.detach().float()
        self.w_out_at: dict[int, torch.Tensor] = {}
        (self.w_a, self.ws_a), (self.w_b, self.ws_b) = (
            _int8_per_channel(conv.weight.detach()) for conv in (model.conv_a, model.conv_b)
        )
        self.w_zero = torch.zeros(self.ws_a.shape[0], dtype=torch.int64)

    def _conv_out(self, h: torch.Tensor, units: int) -> torch.Tensor:
        if units not in self.w_out_at:
            self.w_out_at[units] = (self.w_out * self.s_h[units]).contiguous(memory_format=torch.channels_last)
        return _CONV(h.float(), self.w_out_at[units], None, _PAD, _STRIDE, _DILATION, _GROUPS, "none", [], "")

    def __call__(self, x: torch.Tensor, units: int) -> torch.Tensor:
        """x: N x 1 x H x W -> float32, `units` (at most the calibrated depth) deep."""
        if units > self.units:
            raise ValueError(f"int8 calibrated for {self.units} units, asked for {units}")
        x = x.float().contiguous(memory_format=torch.channels_last).relu()
        h0 = _CONV(x, self.w_in, None, _PAD, _STRIDE, _DILATION, _GROUPS, "relu", [], "")  # h0 / s_h0, >= 0
        h0 = h0.add_(0.5).clamp_max_(255).to(torch.uint8)  # rounded (x + 0.5 truncated)
        h = h0 = h0.contiguous(memory_format=torch.channels_last)  # as oneDNN's int8 ops take it
        accum = torch.empty_like(h0)  # for each unit's add, which writes into its operand
        for i in range(units):
            s_h, s_t, s_out = self.s_h[i], self.s_t[i], self.s_h[i + 1]
            t = _QCONV(h, s_h, 0, self.w_a, self.ws_a, self.w_zero, None, *_SAME, s_t, 0, None, "relu", [], "")
            accum.copy_(h0)  # h is read: from the second unit on, accum is h's storage
            h = _QCONV.binary(t, s_t, 0, self.w_b, self.ws_b, self.w_zero, accum, None, *_SAME, s_out, 0, None,
                              self.s_h0, 0, "sum", 1.0, "relu", [], "")  # fmt: skip
        return self._conv_out(h, units) + x
