"""How far tiled output is from whole-frame output, per halo: the data behind the default.

    python -m benchmarks.halo --weights ../shared/reference-weights/drrn_b1u25_x234.mxnet.params

For every image of the dataset (Set5 by default) at one scale, runs DRRN whole and tiled
with each halo, and reports the largest difference in 0..255 levels, the lowest PSNR of
tiled against whole, the mean PSNR against ground truth, and the compute each halo costs.
"""

from __future__ import annotations

import argparse
import json

import torch

from kernels.inference import Restorer
from kernels.metrics import psnr, to_levels
from kernels.tiling import Tiling, spans
from kernels.weights import load_drrn
from stream.eval.images import list_images, read_luma
from stream.eval.protocol import degrade


def window_cost(h: int, w: int, tile: int, halo: int) -> float:
    """Pixels computed per output pixel: the windows' total area over the frame's."""
    rows, cols = spans(h, tile, halo), spans(w, tile, halo)
    area = (
        len(rows)
        * len(cols)
        * (rows[0].window.stop - rows[0].window.start)
        * (cols[0].window.stop - cols[0].window.start)
    )
    return area / (h * w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dataset", default="../shared/data/Set5")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--halos", type=int, nargs="+", default=[0, 8, 16, 32, 52])
    args = parser.parse_args()

    model, _ = load_drrn(args.weights)
    cpu = torch.device("cpu")
    whole = Restorer(model, cpu, "fp32", Tiling(tile=None, batch=1))
    images = [degrade(read_luma(p), args.scale) for p in list_images(args.dataset)]
    reference = [to_levels(whole(bic[None, None])[0, 0]) for _, bic in images]
    rows = []
    for halo in args.halos:
        tiled = Restorer(model, cpu, "fp32", Tiling(tile=args.tile, halo=halo, batch=4))
        outs = [to_levels(tiled(bic[None, None])[0, 0]) for _, bic in images]
        rows.append(
            {
                "halo": halo,
                "max_abs_diff": max((o - r).abs().max().item() for o, r in zip(outs, reference, strict=True)),
                "min_psnr_vs_whole": min(psnr(o, r) for o, r in zip(outs, reference, strict=True)),
                "psnr_vs_gt": sum(psnr(o, gt, args.scale) for o, (gt, _) in zip(outs, images, strict=True)) / len(outs),
                "cost_per_256_tile": ((args.tile + 2 * halo) / args.tile) ** 2,
                "cost_on_dataset": sum(window_cost(*gt.shape, args.tile, halo) for gt, _ in images) / len(images),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    whole_psnr = sum(psnr(r, gt, args.scale) for r, (gt, _) in zip(reference, images, strict=True)) / len(images)
    print(json.dumps({"whole_psnr_vs_gt": whole_psnr}))


if __name__ == "__main__":
    main()
