"""What the pipeline's upscale costs: MATLAB-exact bicubic (kernels.resize) against
PyTorch's fused bicubic, in time per frame and in DRRN's PSNR on Set5.

    python -m benchmarks.upscale --weights ../shared/reference-weights/drrn_b1u25_x234.mxnet.params

DRRN was trained on MATLAB bicubic input; PyTorch's bicubic (a = -0.75, clamped borders)
is a slightly different input, and this measures what that difference would cost.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from kernels.inference import Restorer
from kernels.metrics import psnr, to_levels
from kernels.resize import imresize
from kernels.tiling import Tiling
from kernels.weights import load_drrn
from stream.eval.images import list_images, read_luma
from stream.eval.protocol import degrade


def seconds_per_call(fn, x: torch.Tensor, repeats: int = 10) -> float:
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dataset", default="../shared/data/Set5")
    parser.add_argument("--scale", type=int, default=2)
    args = parser.parse_args()
    s = args.scale

    def torch_bicubic(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=s, mode="bicubic", align_corners=False)

    frame = torch.rand(1, 1, 720 // s, 1280 // s)
    timing = {
        "output": "1280x720",
        "exact_ms": 1000 * seconds_per_call(lambda t: imresize(t, s), frame),
        "torch_ms": 1000 * seconds_per_call(torch_bicubic, frame),
    }
    model, _ = load_drrn(args.weights)
    restorer = Restorer(model, torch.device("cpu"), "fp32", Tiling(tile=None, batch=1))
    scores: dict[str, list[float]] = {"exact": [], "torch": [], "bicubic_exact": [], "bicubic_torch": []}
    for path in list_images(args.dataset):
        gt, _ = degrade(read_luma(path), s)
        lr = imresize(gt.to(torch.float64) / 255, 1 / s)[None, None]
        for name, up in (("exact", imresize(lr, s)), ("torch", torch_bicubic(lr))):
            scores[name].append(psnr(to_levels(restorer(up)[0, 0]), gt, s))
            scores[f"bicubic_{name}"].append(psnr(to_levels(up[0, 0]), gt, s))
    means = {f"psnr_{k}": sum(v) / len(v) for k, v in scores.items()}
    print(json.dumps(timing | means))


if __name__ == "__main__":
    main()
