"""DRRN's forward on CUDA as cuDNN convolutions with their ReLU and residual add fused in.

The CUDA counterpart of kernels.onednn, with the same regrouping: per unit t = relu(conv_a(h))
and h = relu(conv_b(t) + h0), so the ReLU the reference graph puts before each conv moves to
the end of the op that feeds it. cuDNN's fused conv + add + activation (torch.cudnn_convolution_relu,
torch.cudnn_convolution_add_relu) then applies them while the output is in registers, instead
of three extra passes per unit over 128-channel activations (about a third of the eager time at
720p on an H200, issue #23). The input conv (one channel in) stays a plain conv and ReLU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kernels.model import DRRN

_SAME = ([1, 1], [1, 1], [1, 1], 1)  # stride, padding, dilation, groups of every 3x3 conv

ConvRelu = Callable[..., torch.Tensor]  # (x, w, bias, stride, padding, dilation, groups)
ConvAddRelu = Callable[..., torch.Tensor]  # (x, w, z, alpha, bias, stride, padding, dilation, groups)


class FusedForward:
    """Callable like DRRN.forward, in the weights' run dtype; the ops are cuDNN's unless a test
    passes reference ones (the regrouping is then checked on machines without CUDA)."""

    def __init__(
        self,
        model: DRRN,
        dtype: torch.dtype,
        conv_relu: ConvRelu | None = None,
        conv_add_relu: ConvAddRelu | None = None,
    ) -> None:
        self.dtype = dtype
        self.conv_relu = conv_relu or torch.cudnn_convolution_relu
        self.conv_add_relu = conv_add_relu or torch.cudnn_convolution_add_relu
        self.w_in, self.w_a, self.w_b, self.w_out = (
            conv.weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
            for conv in (model.conv_in, model.conv_a, model.conv_b, model.conv_out)
        )

    def __call__(self, x: torch.Tensor, units: int) -> torch.Tensor:
        """x: N x 1 x H x W -> N x 1 x H x W in the run dtype, as the unfused fp16 model returns it."""
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last).relu()
        # N x C x H x W, made channels_last: a one-channel conv's output may come back NCHW, and an NCHW h0
        # (the add's operand) puts every fused conv on a slower cuDNN engine (26 vs 46 fps, 720p, H200)
        h0 = F.conv2d(x, self.w_in, padding=1).relu().contiguous(memory_format=torch.channels_last)
        h = h0
        for _ in range(units):
            t = self.conv_relu(h, self.w_a, None, *_SAME)  # relu(conv_a(relu(h)))
            h = self.conv_add_relu(t, self.w_b, h0, 1.0, None, *_SAME)  # relu(conv_b(t) + h0)
        return F.conv2d(h, self.w_out, padding=1) + x
