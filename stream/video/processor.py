"""Luma codes in, restored luma codes out: the numeric heart of every video command.

Y codes go to the device, into DRRN's domain (studio-range Y / 255), are upscaled with
MATLAB-exact bicubic (kernels.resize, well under 1% of DRRN's cost, so the
model sees exactly the input it was trained on), restored, and come back as codes.
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np
import torch

from kernels.colour import LumaCoding
from kernels.host_memory import row_bands
from kernels.inference import Restores
from kernels.metrics import psnr_of_mse, to_levels
from kernels.resize import imresize
from stream.video.frames import Restored


class Processor(Protocol):
    """What the pipeline's model stage needs: a batch of frames' luma codes in, restored luma out.

    LumaEnhancer is the one the product runs; tests pass simpler ones.
    """

    def __call__(self, ys: list[np.ndarray], coding: LumaCoding) -> list[Restored]: ...


class LumaEnhancer:
    """DRRN's Processor: codes to the device, bicubic up, DRRN, and back to codes."""

    def __init__(self, restorer: Restores, scale: int, keep_bicubic: bool = False) -> None:
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

    def __call__(self, ys: list[np.ndarray], coding: LumaCoding, units: int | None = None) -> list[Restored]:
        """`units` deep (None: the restorer's own depth)."""
        start = time.perf_counter()
        bicubic = self.upscale(ys, coding)
        out = self.restorer(bicubic, units)
        finished = [self.finish(out[i, 0], bicubic[i, 0], coding, ys[0].dtype) for i in range(len(ys))]
        model_ms = (time.perf_counter() - start) * 1000 / len(ys)
        return [Restored(y, model_ms, psnr, kept) for y, psnr, kept in finished]

    def finish(
        self, out: torch.Tensor, bicubic: torch.Tensor, coding: LumaCoding, dtype: np.dtype
    ) -> tuple[np.ndarray, float, np.ndarray | None]:
        """One frame's restored luma (H x W, DRRN's domain, on the device) -> its codes on the host, its PSNR
        against the bicubic input and (if kept) that input's 8-bit levels. In bands of rows (BAND_PIXELS): the
        float64 levels PSNR compares took 27 bytes a pixel at once."""
        h, w = out.shape
        codes = np.empty((h, w), dtype)
        kept = np.empty((h, w), np.uint8) if self.keep_bicubic else None
        squared_error = torch.zeros((), dtype=torch.float64, device=out.device)
        for rows in row_bands(h, w):
            band = coding.from_model(out[rows])  # int32
            codes[rows] = (band.to(torch.uint8) if dtype == np.uint8 else band).cpu().numpy()
            bic_levels = to_levels(bicubic[rows])
            squared_error += (to_levels(out[rows]) - bic_levels).pow(2).sum()
            if kept is not None:
                kept[rows] = bic_levels.to(torch.uint8).cpu().numpy()
        return codes, psnr_of_mse(squared_error.item() / (h * w)), kept
