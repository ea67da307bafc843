"""`drrn-stream eval-video`: how much DRRN recovers on real footage, frame by frame.

Each frame's luma is the ground truth: it is degraded with MATLAB bicubic by 1/S and
restored with bicubic and with DRRN, exactly as `drrn-stream eval` treats images (the
luma is first put on DRRN's 8-bit studio scale, so full-range and 10-bit video compare
on the same footing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from stream.errors import UserError
from stream.eval.protocol import Restore, score_image
from stream.video.frames import Frame
from stream.video.source import VideoSource

FIELDS = ["frame", "pts_time", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "model_ms"]


def ground_truth(
    source: VideoSource, max_frames: int | None = None, skip: int = 0
) -> Iterator[tuple[Frame, torch.Tensor]]:
    """Each frame after the first `skip` with its luma on DRRN's 8-bit studio scale (uint8),
    the ground truth scored against."""
    for item in source:
        if not isinstance(item, Frame) or item.index < skip:
            continue
        if max_frames is not None and item.index >= skip + max_frames:
            break
        yield item, source.info.coding.to_levels(torch.from_numpy(item.y)).to(torch.uint8)


def frames_to_score(source: VideoSource, max_frames: int | None, skip: int) -> int | None:
    """How many frames `evaluate_video` will score (None: the container does not say); a one-line
    error where `skip` leaves none."""
    known = source.info.frames
    if known and skip >= known:
        raise UserError(f"{source.name}: --skip {skip} leaves nothing of its {known} frames")
    left = known - skip if known else None
    return min(n for n in (max_frames, left) if n is not None) if max_frames or left is not None else None


def evaluate_video(
    source: VideoSource, restorer: Restore, scale: int, max_frames: int | None = None, skip: int = 0
) -> Iterator[dict[str, float]]:
    """One row of scores per frame, in order."""
    for frame, levels in ground_truth(source, max_frames, skip):
        score = score_image(restorer, levels, scale)
        yield {
            "frame": frame.index,
            "pts_time": float(frame.pts * source.info.time_base),
            "psnr": score.psnr,
            "ssim": score.ssim,
            "psnr_bicubic": score.psnr_bicubic,
            "ssim_bicubic": score.ssim_bicubic,
            "model_ms": score.seconds * 1000,
        }


def plot_curves(path: Path, rows: list[dict[str, float]], title: str) -> None:
    """PSNR per frame, DRRN against bicubic, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [r["frame"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=120)
    ax.plot(frames, [r["psnr"] for r in rows], label="DRRN", color="tab:blue")
    ax.plot(frames, [r["psnr_bicubic"] for r in rows], label="bicubic", color="tab:gray")
    ax.set(xlabel="frame", ylabel="Y PSNR (dB)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
