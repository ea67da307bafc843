"""Making a CodedSet (stream/train/coded_data.py): low-resolution training images the way real
video makes them, through stream/degrade.py's kernels and codecs. Needs PyAV: it runs where the
data is prepared, and the set travels to the training machine as data.

Per training image, scale and variant, a random draw (seeded, so the set is reproducible) picks a
downscale kernel, a codec, a CRF and a preset (JPEG, MPEG-2: a quality), and whether the frame is
intra-coded (the whole image, one frame; always, for JPEG) or inter-coded: a frame after the first
of a short sequence of windows moving over the image a few pixels a frame, sub-pixel steps included,
so that the codec predicts it from the others, with the drift and smearing of P and B frames.
Each LR image is kept with the place of the HR window it shows, so every coded pixel has its exact
ground truth.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from stream.console import progress
from stream.degrade import Degradation, downscale, need_av, round_trip
from stream.errors import UserError
from stream.files import check_writable
from stream.train.coded_data import CodedSet, describe_mix
from stream.train.data import LumaPack, check_target, load_pack


@dataclass(frozen=True)
class CodedMix:
    """What the coded LR is drawn from (docs/QUALITY.md has the measurements behind it)."""

    codecs: tuple[str, ...] = ("x264", "x265")  # what downloads, phones and streams carry; "jpeg", "mpeg2" may join
    crf: tuple[int, int] = (18, 36)  # from near-transparent to a low-bitrate stream
    jpeg_q: tuple[int, int] = (30, 90)  # JPEG's quality where "jpeg" is drawn: a web picture to a camera's MJPEG
    mpeg2_q: tuple[int, int] = (2, 16)  # MPEG-2's quantiser where "mpeg2" is drawn: a DVD (2-8) to a poor rip
    presets: tuple[str, ...] = ("veryfast", "medium", "slow")
    kernels: tuple[str, ...] = ("bicubic", "bilinear", "area", "lanczos", "matlab")  # FFmpeg's, and the papers'
    inter: float = 0.5  # share of video LR images that are a predicted frame of a moving sequence
    frames: int = 5  # its length: x264 and x265 code it I P B B P
    # which frame of it: "last" (a P frame) or "any" after the first (P or B, B frames at a coarser quantiser)
    predicted: str = "last"
    step: int = 3  # most HR pixels the window moves a frame, each axis
    variants: int = 1  # coded LR images per training image and scale
    seed: int = 0


def make_coded(pack: LumaPack, scales: tuple[int, ...], mix: CodedMix,
               progress: Callable[[int, int], None] = lambda done, total: None) -> CodedSet:  # fmt: skip
    """Every image of `pack` at every scale, `mix.variants` times, coded as `mix` draws it."""
    rng = random.Random(mix.seed)
    images = pack.images()
    jobs = [(i, s) for i in range(len(images)) for s in scales for _ in range(mix.variants)]
    entries = []
    for done, (i, s) in enumerate(jobs):
        entries.append((i, s, *code_one(images[i].numpy(), s, mix, rng)))
        progress(done + 1, len(jobs))
    lrs = [lr for *_, lr, _ in entries]
    return CodedSet(
        pixels=np.concatenate([lr.ravel() for lr in lrs]),
        shapes=np.array([lr.shape for lr in lrs], dtype=np.int64),
        image=np.array([e[0] for e in entries], dtype=np.int64),
        scale=np.array([e[1] for e in entries], dtype=np.int64),
        origin=np.array([e[2] for e in entries], dtype=np.int64),
        specs=[e[4] for e in entries],
        data=pack.fingerprint(),
        mix=json.dumps(asdict(mix) | {"scales": list(scales)}),
    )


MIN_CODED_SIDE = 8  # LR pixels a side, the least a picture is coded at (a codec's block)


def check_codable(pack: LumaPack, scales: tuple[int, ...]) -> None:
    """Before the coding: every picture large enough to code at every scale (a 96x1 one failed the whole set as
    "unexpected IndexError", the coding done before it lost)."""
    need = MIN_CODED_SIDE * max(scales)
    for name, shape in zip(pack.names, pack.shapes, strict=True):
        if min(shape) < need:
            raise UserError(f"{name}: {shape[1]}x{shape[0]} is too small to code at x{max(scales)} (at least {need} "
                            "px a side); leave it out of --data")  # fmt: skip


def code_one(hr: np.ndarray, scale: int, mix: CodedMix, rng: random.Random) -> tuple[tuple[int, int], np.ndarray, str]:
    """One draw for one image -> (the HR window's top-left, its coded LR, what made it)."""
    kernel, codec = rng.choice(mix.kernels), rng.choice(mix.codecs)
    if codec == "jpeg":  # each picture on its own: nothing is predicted, so one frame, never a sequence
        degradation, inter = Degradation(codec, rng.randint(*mix.jpeg_q), None), False
    elif codec == "mpeg2":
        degradation, inter = Degradation(codec, rng.randint(*mix.mpeg2_q), None), rng.random() < mix.inter
    else:
        degradation = Degradation(codec, rng.randint(*mix.crf), rng.choice(mix.presets))
        inter = rng.random() < mix.inter
    size = window_size(hr.shape, scale, mix.frames * mix.step if inter else 0)
    path = walk(hr.shape, size, mix.frames if inter else 1, mix.step, rng)
    lows = [downscale(hr[y : y + size[0], x : x + size[1]], scale, kernel) for y, x in path]
    k = rng.randint(1, len(path) - 1) if inter and mix.predicted == "any" else len(path) - 1
    coded = round_trip(lows, degradation)[k]
    return path[k], coded, f"{degradation}{f':inter{k}' if inter else ''}@{kernel}"


def window_size(shape: tuple[int, ...], scale: int, margin: int) -> tuple[int, int]:
    """The HR window: the image less the room it moves in, a multiple of the scale."""
    h, w = (side - min(margin, side // 4) for side in shape[:2])
    return h - h % scale, w - w % scale


def walk(shape: tuple[int, ...], size: tuple[int, int], frames: int, step: int, rng: random.Random) -> list:
    """The windows' top-left corners: a random start, then steps of up to `step` px, kept inside."""
    room = (shape[0] - size[0], shape[1] - size[1])
    y, x = rng.randint(0, room[0]), rng.randint(0, room[1])
    path = [(y, x)]
    for _ in range(frames - 1):
        y = min(max(y + rng.randint(-step, step), 0), room[0])
        x = min(max(x + rng.randint(-step, step), 0), room[1])
        path.append((y, x))
    return path


def write_coded(data: Path, dst: Path, scales: tuple[int, ...], mix: CodedMix, overwrite: bool = False) -> str:
    """`train --pack-coded`: the coded set of the images at `data` (a folder or a pack), written to
    `dst` with a progress bar (an existing one replaced only with -y: it may be an hour's coding); -> the line that
    says what was written."""
    if dst.suffix.lower() != ".npz":
        raise UserError(f"--pack-coded {dst}: the file must end in .npz")
    need_av()  # before any work
    check_target(dst, overwrite, "--pack-coded")
    check_writable(dst)  # before the coding (a read-only folder failed after an hour's)
    pack = load_pack(data)
    check_codable(pack, scales)
    with progress(TextColumn("coding LR"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("coding", total=len(pack.names) * len(scales) * mix.variants)
        coded = make_coded(pack, scales, mix, lambda done, _: bar.update(task, completed=done))
    coded.save(dst)
    return (
        f"wrote {dst}: {describe_mix(coded)}, {coded.pixels.size / 1e6:.1f} Mpx, {dst.stat().st_size / 2**20:.1f} MiB"
    )
