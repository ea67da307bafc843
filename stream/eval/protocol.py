"""Image evaluation under the standard SR protocol and under real-world degradations (see
../shared/DESIGN.md, "Quality protocol").

Per image: mod-crop the uint8 luma to the scale, degrade it by 1/s (MATLAB bicubic, unrounded:
the papers' protocol; or one of FFmpeg's kernels), optionally through a real codec (the LR
rounded to levels, coded and decoded: stream/degrade.py), upscale back with MATLAB bicubic
(the model's input and the bicubic baseline alike), restore, round to 0..255, and score Y with
`scale` pixels shaved from each border.
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kernels.inference import no_tf32
from kernels.metrics import psnr, smallest_scored, ssim, to_levels
from kernels.model import DRRN
from kernels.resize import imresize
from stream.degrade import CLEAN, CodecRoundTrip, Degradation, downscale, round_trip
from stream.errors import UserError
from stream.eval.images import list_images, read_luma

Restore = Callable[[torch.Tensor], torch.Tensor]  # bicubic luma N x 1 x H x W -> restored; a Restorer is one


@dataclass
class Score:
    psnr: float
    ssim: float
    psnr_bicubic: float
    ssim_bicubic: float
    seconds: float  # model time only


@dataclass
class DatasetResult:
    dataset: str
    scale: int
    degrade: str  # the codec round trip of the LR (stream/degrade.py's spec), "clean" for none
    downscale: str  # the kernel that made the LR
    images: int
    psnr: float
    ssim: float
    psnr_bicubic: float
    ssim_bicubic: float
    seconds: float
    # Images left out of the PSNR means (and the gain): restored exactly by bicubic or DRRN, a flat one's infinite
    # PSNR, which made every mean inf and the gain nan; the means are NaN where every image was
    exact: int = 0


def finite(row: dict[str, object]) -> dict[str, object]:
    """A row of results as JSON holds it: NaN and infinity (which strict parsers refuse) as null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def centre_crop(y: torch.Tensor, size: int) -> torch.Tensor:
    """The centre size x size of an image (all of a side shorter than that)."""
    h, w = y.shape
    top, left = max(h - size, 0) // 2, max(w - size, 0) // 2
    return y[top : top + size, left : left + size]


def mod_crop(y: torch.Tensor, scale: int) -> torch.Tensor:
    h, w = y.shape
    return y[: h - h % scale, : w - w % scale]


def low_res(gt: torch.Tensor, scale: int, kernel: str = "matlab") -> torch.Tensor:
    """The LR of a mod-cropped uint8 luma in [0, 1], float64: MATLAB's bicubic unrounded (the
    papers' protocol), or an FFmpeg kernel's levels."""
    if kernel == "matlab":
        return imresize(gt.to(torch.float64) / 255, 1 / scale)
    return torch.from_numpy(downscale(gt.numpy(), scale, kernel)).to(torch.float64) / 255


def levels(lr: torch.Tensor) -> np.ndarray:
    """An LR in [0, 1] as the uint8 levels an encoder takes."""
    return (lr * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def degrade(
    y: torch.Tensor, scale: int, degradation: Degradation = CLEAN, kernel: str = "matlab"
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 luma -> (mod-cropped ground truth as uint8, bicubic input in [0, 1] as float64): the
    LR made by `kernel`, then (unless clean) one intra-coded frame through the codec."""
    gt = mod_crop(y, scale)
    lr = low_res(gt, scale, kernel)
    if not degradation.clean:
        lr = torch.from_numpy(round_trip([levels(lr)], degradation)[0]).to(torch.float64) / 255
    return gt, imresize(lr, scale)


def picture_quantisers(
    datasets: Mapping[str, list[torch.Tensor]], scales: Iterable[int], degradations: Iterable[Degradation], kernel: str
) -> dict[Degradation, float]:
    """The median quantiser of each degradation's coded LR over every image and scale, where its codec says one
    (stream.content.QUANTISER_SCALES): what the product's judge reads of a picture coded so, so that evaluation
    restores that LR with the set a user's run on it gets (a lone frame is coded coarser than its CRF asks: on
    Set14 x264's by about 7 quantiser steps, x265's by 5). A pass of its own, the codec alone: the set is chosen
    before the first image is restored."""
    from stream.content import QUANTISER_SCALES

    read: dict[Degradation, float] = {}
    for degradation in (d for d in degradations if d.decoder in QUANTISER_SCALES):
        quantisers = []
        for scale in scales:
            for y in (y for images in datasets.values() for y in images):
                lr = levels(low_res(mod_crop(y, scale), scale, kernel))
                codec = CodecRoundTrip(degradation, lr.shape[1], lr.shape[0])
                codec.push(lr)
                codec.flush()
                quantisers += codec.quantisers
        if quantisers:
            read[degradation] = statistics.median(quantisers)
    return read


def score_image(
    restorer: Restore, y: torch.Tensor, scale: int, degradation: Degradation = CLEAN, kernel: str = "matlab"
) -> Score:
    return score_bicubic(restorer, *degrade(y, scale, degradation, kernel), scale)


def score_lr(restorer: Restore, gt: torch.Tensor, lr: torch.Tensor, scale: int) -> Score:
    """DRRN and bicubic on the same LR (float64 in [0, 1]), upscaled by MATLAB's bicubic."""
    return score_bicubic(restorer, gt, imresize(lr, scale), scale)


def score_bicubic(restorer: Restore, gt: torch.Tensor, bicubic: torch.Tensor, scale: int) -> Score:
    """DRRN on a bicubic-upscaled LR (float64 in [0, 1]), and that input itself, against the uint8 ground truth."""
    start = time.perf_counter()
    out = restorer(bicubic[None, None])[0, 0].cpu()
    seconds = time.perf_counter() - start
    out, bicubic = to_levels(out), to_levels(bicubic)
    return Score(
        psnr(out, gt, scale), ssim(out, gt, scale), psnr(bicubic, gt, scale), ssim(bicubic, gt, scale), seconds
    )


def eager_fp32(model: DRRN, units: int, device: torch.device) -> Restore:
    """The model run eagerly in true float32 (cuDNN's TF32 off): the scores a training run and a
    GPU window report, independent of kernels.inference's fast paths (which `eval` checks)."""
    model = copy.deepcopy(model).to(device).eval().requires_grad_(False)  # the caller's model is left as it is

    def restore(y: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), no_tf32(benchmark=False):  # image sizes vary: no autotuning per shape
            return model(y.to(device, torch.float32), units).cpu()

    return restore


def read_dataset(folder: str | Path, scales: Iterable[int] = (2,)) -> list[torch.Tensor]:
    """Every image's luma, read up front so that a bad file (or one too small to score) fails before any model
    time."""
    lumas = {path: read_luma(path) for path in list_images(folder)}
    for path, y in lumas.items():
        check_scorable(str(path), *y.shape, scales)
    return list(lumas.values())


def check_scorable(name: str, height: int, width: int, scales: Iterable[int]) -> None:
    """A one-line error where a picture (or a frame, or its crop) is too small to score at a scale: it failed
    inside SSIM as PyTorch's "Kernel size can't be greater than actual input size"."""
    for scale in scales:
        need = -(-smallest_scored(scale) // scale) * scale  # mod-cropped to the scale, as the protocol crops it
        if min(height, width) < need:
            raise UserError(f"{name}: {width}x{height} is too small to score at x{scale} (at least {need} px a side)")


def evaluate_dataset(
    restorer: Restore, name: str, lumas: list[torch.Tensor], scale: int, on_image: Callable[[], None] | None = None,
    degradation: Degradation = CLEAN, kernel: str = "matlab",
) -> DatasetResult:  # fmt: skip
    scores = []
    for y in lumas:
        scores.append(score_image(restorer, y, scale, degradation, kernel))
        if on_image:
            on_image()

    scored = [s for s in scores if math.isfinite(s.psnr) and math.isfinite(s.psnr_bicubic)]

    def mean(field: str, among: list[Score] = scores) -> float:
        return sum(getattr(s, field) for s in among) / len(among) if among else math.nan

    return DatasetResult(
        dataset=name,
        scale=scale,
        degrade=str(degradation),
        downscale=kernel,
        images=len(scores),
        psnr=mean("psnr", scored),
        ssim=mean("ssim"),
        psnr_bicubic=mean("psnr_bicubic", scored),
        ssim_bicubic=mean("ssim_bicubic"),
        seconds=sum(s.seconds for s in scores),
        exact=len(scores) - len(scored),
    )


CALIBRATION_MIN_PX = 4  # a side of an image calibrated on: a pixel at x4 (a 1-px image failed as "unexpected")


def bicubic_patches(folder: Path, size: int, count: int) -> Iterator[np.ndarray]:
    """What DRRN sees, for calibrating int8: `count` centre crops of `size` (float32, 1 x 1 x size x
    size) of the images of `folder` taken in turn (those of CALIBRATION_MIN_PX a side or more), degraded by 2, 3, 4
    in turn and upscaled back."""
    large = (luma for luma in map(read_luma, list_images(folder)) if min(luma.shape) >= CALIBRATION_MIN_PX)
    lumas = list(itertools.islice(large, count))  # each read once, and no more than are used
    if not lumas:
        raise UserError(f"{folder}: no image of {CALIBRATION_MIN_PX} px a side or more to calibrate on")
    for i in range(count):
        _, bicubic = degrade(lumas[i % len(lumas)], 2 + i % 3)  # float64 in [0, 1]
        h, w = bicubic.shape
        pad = (0, max(0, size - w), 0, max(0, size - h))
        bicubic = torch.nn.functional.pad(bicubic[None, None], pad, mode="replicate")[0, 0]  # small images
        top, left = (bicubic.shape[0] - size) // 2, (bicubic.shape[1] - size) // 2
        yield bicubic[top : top + size, left : left + size].numpy().astype(np.float32)[None, None]
