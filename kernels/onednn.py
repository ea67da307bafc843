"""DRRN's forward on the CPU as oneDNN convolutions with their ReLU and residual add fused in.

Eager PyTorch runs each unit as two convolutions plus three elementwise passes (two ReLUs,
the h0 add) over 128-channel activations far larger than the cache, so on the CPU those
passes cost about a quarter of the time. oneDNN applies them as post-ops inside the convolution
while the output is still in registers: per unit, t = relu(conv_a(h)) and
h = relu(conv_b(t) + h0). The ReLU that the reference graph puts before each conv is thus
moved to the end of the op that feeds it: same arithmetic, one pass per conv.
docs/PERFORMANCE.md measures the gain.
"""

from __future__ import annotations

import torch

from kernels.model import DRRN

_CONV = torch.ops.mkldnn._convolution_pointwise  # the op inductor's CPU conv fusions lower to
_PAD, _STRIDE, _DILATION, _GROUPS = [1, 1], [1, 1], [1, 1], 1


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
