"""Luma codes in, restored luma codes out: the numeric heart of every video command.

Y codes go to the device, into DRRN's domain (studio-range Y / 255), are upscaled with
MATLAB-exact bicubic (two small matrix products, well under 1% of DRRN's cost, so the
model sees exactly the input it was trained on), restored, and come back as codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from kernels.colour import LumaCoding
from kernels.inference import Restorer
from kernels.metrics import psnr, to_levels
from kernels.resize import imresize


@dataclass
class Restored:
    y: np.ndarray  # H*s x W*s, the input's dtype
    model_ms: float  # this frame's share of the batch's model time
    psnr_vs_bicubic: float  # of the output against its bicubic input, on the 0..255 scale
    bicubic_levels: np.ndarray | None = None  # uint8 0..255, kept only when asked (for --reference)


class LumaEnhancer:
    def __init__(self, restorer: Restorer, scale: int, keep_bicubic: bool = False) -> None:
        self.restorer, self.scale, self.keep_bicubic = restorer, scale, keep_bicubic
        cuda = restorer.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(restorer.device) if cuda else None  # uploads beside the model's work

    def _upload(self, codes: torch.Tensor) -> torch.Tensor:
        """Host codes -> the device; on CUDA from pinned memory, asynchronously, on the copy stream."""
        if self.copy_stream is None:
            return codes.to(self.restorer.device)
        compute = torch.cuda.current_stream(self.restorer.device)
        with torch.cuda.stream(self.copy_stream):
            on_device = codes.pin_memory().to(self.restorer.device, non_blocking=True)
        compute.wait_stream(self.copy_stream)
        on_device.record_stream(compute)  # the allocator must not reuse it before the model has read it
        return on_device

    def upscale(self, ys: list[np.ndarray], coding: LumaCoding) -> torch.Tensor:
        """Codes (N frames, H x W) -> bicubic-upscaled luma in DRRN's domain, N x 1 x H*s x W*s."""
        codes = np.stack(ys)  # N x H x W; uint8 travels as is, a quarter of int32's bytes
        if codes.dtype != np.uint8:
            codes = codes.astype(np.int32)  # 10-bit and up: torch has few uint16 ops
        x = coding.to_model(self._upload(torch.from_numpy(codes)))[:, None]  # N x 1 x H x W
        return imresize(x, self.scale) if self.scale > 1 else x

    def __call__(self, ys: list[np.ndarray], coding: LumaCoding) -> list[Restored]:
        start = time.perf_counter()
        bicubic = self.upscale(ys, coding)
        out = self.restorer(bicubic)
        codes = coding.from_model(out[:, 0])  # int32, on the device
        codes = (codes.to(torch.uint8) if ys[0].dtype == np.uint8 else codes).cpu().numpy().astype(ys[0].dtype)
        model_ms = (time.perf_counter() - start) * 1000 / len(ys)
        bic_levels, out_levels = to_levels(bicubic[:, 0]), to_levels(out[:, 0])  # on the device
        kept = bic_levels.to(torch.uint8).cpu().numpy() if self.keep_bicubic else [None] * len(codes)
        return [Restored(y, model_ms, psnr(out_levels[i], bic_levels[i]), kept[i]) for i, y in enumerate(codes)]
