"""`drrn-stream eval-video`: how much DRRN recovers on real footage, frame by frame.

Each frame's luma is the ground truth (put on DRRN's 8-bit studio scale first, so full-range
and 10-bit video compare on the same footing), optionally a centre crop of it. It is degraded
as `drrn-stream eval` degrades images (eval/protocol.py), except that a codec codes the clip's
LR frames as one video: the clip's own motion makes the P and B frames a real stream has.
Bicubic and DRRN restore the same decoded LR, and both are scored.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from stream.degrade import CLEAN, CodecRoundTrip, Degradation
from stream.errors import UserError
from stream.eval.protocol import Restore, centre_crop, levels, low_res, mod_crop, score_lr
from stream.files import write_atomically
from stream.video.frames import Frame
from stream.video.source import VideoSource

FIELDS = ["frame", "pts_time", "degrade", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "model_ms"]


@dataclass
class Pending:
    """A frame whose LR is in the codec: its ground truth waits for the decoded LR."""

    frame: Frame
    gt: torch.Tensor  # uint8, mod-cropped


class LowResStream:
    """The LR frames of one degradation, in order, as they come out of the codec (clean: at once,
    unrounded, exactly as the image protocol has them)."""

    def __init__(self, degradation: Degradation, rate: Fraction) -> None:
        self.degradation, self.rate = degradation, rate
        self.codec: CodecRoundTrip | None = None
        self.waiting: deque[Pending] = deque()

    def push(self, frame: Frame, gt: torch.Tensor, lr: torch.Tensor) -> list[tuple[Pending, torch.Tensor]]:
        if self.degradation.clean:
            return [(Pending(frame, gt), lr)]
        if self.codec is None:
            self.codec = CodecRoundTrip(self.degradation, lr.shape[1], lr.shape[0], self.rate)
        self.waiting.append(Pending(frame, gt))
        return self._pair(self.codec.push(levels(lr)))

    def flush(self) -> list[tuple[Pending, torch.Tensor]]:
        return self._pair(self.codec.flush()) if self.codec is not None else []

    def _pair(self, decoded: list) -> list[tuple[Pending, torch.Tensor]]:
        return [(self.waiting.popleft(), torch.from_numpy(y).to(torch.float64) / 255) for y in decoded]


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


@dataclass(frozen=True)
class VideoProtocol:
    """How eval-video degrades each frame (eval/protocol.py's image protocol, with a codec over the clip)."""

    scale: int = 2
    degradations: tuple[Degradation, ...] = (CLEAN,)
    kernel: str = "matlab"  # the downscale (stream/degrade.DOWNSCALE_KERNELS)
    crop: int | None = None  # score the centre crop x crop of each frame (None: the whole frame)


def degraded_frames(
    source: VideoSource, protocol: VideoProtocol, max_frames: int | None = None, skip: int = 0,
    streams: list[LowResStream] | None = None,
) -> Iterator[tuple[Degradation, Frame, torch.Tensor, torch.Tensor]]:  # fmt: skip
    """(degradation, frame, ground truth uint8, its LR in [0, 1]) for every frame and degradation,
    each degradation's frames in order (a codec gives them back a few frames late), through `streams`
    (default: one per degradation of the protocol)."""
    streams = streams if streams is not None else [LowResStream(d, source.info.rate) for d in protocol.degradations]
    for frame, y in ground_truth(source, max_frames, skip):
        gt = mod_crop(centre_crop(y, protocol.crop) if protocol.crop else y, protocol.scale)
        lr = low_res(gt, protocol.scale, protocol.kernel)
        for stream in streams:
            yield from ((stream.degradation, p.frame, p.gt, out) for p, out in stream.push(frame, gt, lr))
    for stream in streams:
        yield from ((stream.degradation, p.frame, p.gt, out) for p, out in stream.flush())


def coded_quantisers(
    clip: Path, protocol: VideoProtocol, max_frames: int | None = None, skip: int = 0
) -> dict[Degradation, float]:
    """The median quantiser of the opening frames of each degradation's coded LR of `clip` whose codec
    says it (x264, x265, MPEG-2, MPEG-4, VP9: stream.content.QUANTISER_SCALES): what the product's judge reads of a
    file coded so, so that evaluation restores that LR with the set a user's run on it gets (x264, x265 and libvpx
    code at their CRF only on average). A pass of its own: the set is chosen before the first frame is restored,
    as the product chooses."""
    from stream.content import OPENING_FRAMES, QUANTISER_SCALES

    read = tuple(d for d in protocol.degradations if d.decoder in QUANTISER_SCALES)
    coded = VideoProtocol(protocol.scale, read, protocol.kernel, protocol.crop)
    if not coded.degradations:
        return {}
    with VideoSource(clip) as source:
        streams = [LowResStream(d, source.info.rate) for d in coded.degradations]
        deque(degraded_frames(source, coded, max_frames, skip, streams), maxlen=0)
    return {
        s.degradation: statistics.median(s.codec.quantisers[:OPENING_FRAMES])
        for s in streams
        if s.codec is not None and s.codec.quantisers
    }


def evaluate_video(
    source: VideoSource, restorers: Mapping[Degradation, Restore], protocol: VideoProtocol,
    max_frames: int | None = None, skip: int = 0,
) -> Iterator[dict[str, float | str]]:  # fmt: skip
    """One row of scores per frame and degradation, each degradation's in order, restored by its restorer."""
    for degradation, frame, gt, lr in degraded_frames(source, protocol, max_frames, skip):
        score = score_lr(restorers[degradation], gt, lr, protocol.scale)
        yield {
            "frame": frame.index, "pts_time": float(frame.pts * source.info.time_base), "degrade": str(degradation),
            "psnr": score.psnr, "ssim": score.ssim, "psnr_bicubic": score.psnr_bicubic,
            "ssim_bicubic": score.ssim_bicubic, "model_ms": score.seconds * 1000,
        }  # fmt: skip


class Summary:
    """Per degradation, in the order asked: frames, mean PSNR/SSIM of DRRN and bicubic, and DRRN's gain
    over bicubic (mean, and its worst frame); running sums, so a long clip costs no memory. Frames that bicubic or
    DRRN restored exactly (a fade's black: an infinite PSNR, which made the means inf and the gain nan) are left
    out of the PSNR means and counted ("exact")."""

    MEANS = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")

    def __init__(self, order: list[str]) -> None:
        """`order`: the degradations' specs as asked (their frames come in as each codec's delay lets them)."""
        self.order, self.specs = order, {}

    def add(self, row: dict[str, float | str]) -> None:
        sums = self.specs.setdefault(str(row["degrade"]), dict.fromkeys(("frames", "scored", *self.MEANS), 0.0))
        sums["frames"] += 1
        sums["ssim"] += float(row["ssim"])
        sums["ssim_bicubic"] += float(row["ssim_bicubic"])
        psnr, bicubic = float(row["psnr"]), float(row["psnr_bicubic"])
        if math.isfinite(psnr) and math.isfinite(bicubic):
            sums["scored"] += 1
            sums["psnr"] += psnr
            sums["psnr_bicubic"] += bicubic
            sums["min_gain"] = min(sums.get("min_gain", math.inf), psnr - bicubic)

    def results(self) -> list[dict[str, float | str]]:
        out: list[dict[str, float | str]] = []
        for spec, sums in sorted(self.specs.items(), key=lambda item: self.order.index(item[0])):
            n, scored = sums["frames"], sums["scored"]
            means = {key: sums[key] / (n if key.startswith("ssim") else scored or math.nan) for key in self.MEANS}
            gain, worst = means["psnr"] - means["psnr_bicubic"], sums.get("min_gain", math.nan)
            out.append({"degrade": spec, "frames": int(n), **means, "gain": gain, "min_gain": worst,
                        "exact": int(n - scored)})  # fmt: skip
        return out


DOTTED_FRAMES = 30  # curves of this many frames or fewer show each frame's point (a one-frame curve drew nothing)


def plot_curves(path: Path, rows: list[dict[str, float | str]], title: str) -> None:
    """PSNR per frame, DRRN against bicubic, one pair of lines per degradation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    specs = list(dict.fromkeys(str(r["degrade"]) for r in rows))
    fig, ax = plt.subplots(figsize=(8 if len(specs) == 1 else 10.5, 3.5), dpi=120)  # room for the legend beside
    for colour, spec in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], specs, strict=False):
        mine = [r for r in rows if r["degrade"] == spec]
        label = "" if specs == ["clean"] else f" ({spec})"
        frames = [r["frame"] for r in mine]
        dots = {"marker": "o", "markersize": 3} if len(frames) <= DOTTED_FRAMES else {}  # one frame: a line of none
        ax.plot(frames, [r["psnr"] for r in mine], label=f"DRRN{label}", color=colour, **dots)
        ax.plot(frames, [r["psnr_bicubic"] for r in mine], label=f"bicubic{label}", color=colour, linestyle=":",
                **dots)  # fmt: skip
    ax.set(xlabel="frame", ylabel="Y PSNR (dB)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # frames are counted
    if len(shown := {float(r["frame"]) for r in rows}) == 1:  # one frame: an axis of whole frames around it (it
        ax.set_xlim(min(shown) - 1, min(shown) + 1)  # read -0.045 to 0.045)
    ax.grid(alpha=0.3)
    beside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if len(specs) > 1 else {}  # not over the lines
    ax.legend(fontsize="small", **beside)
    fig.tight_layout()
    with write_atomically(path) as partial:  # an earlier plot is kept where this one fails
        fig.savefig(partial)
    plt.close(fig)
