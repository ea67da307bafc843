"""Training pairs whose low-resolution side went through a real codec: what real video looks like.

A CodedSet holds, for training images of a LumaPack, low-resolution versions made where PyAV is
(stream/train/make_coded.py: a downscale kernel, then x264 or x265, intra-coded or as the last
frame of a short moving sequence, decoded), each with the scale and the place of the
high-resolution window it was made from. It is data, not code: the GPU machine, which has no
PyAV, trains on it. CodedSampler cuts patch pairs from it on the training device exactly as
PatchSampler cuts clean ones (same crop geometry, the same rotations and flips), so a batch can
mix both.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kernels.errors import reason
from kernels.resize import imresize
from stream.errors import UserError
from stream.files import write_atomically
from stream.train.data import LumaPack, crop_size, dihedral, flat_offsets, gather_crops, read_pixels, stored_pixels


@dataclass
class CodedSet:
    """Coded low-resolution images of a LumaPack's images, one flat uint8 array like LumaPack's."""

    pixels: np.ndarray  # all LR images, row-major, one after another (uint8)
    shapes: np.ndarray  # n x 2 int64: (height, width) of each LR image
    image: np.ndarray  # n int64: the pack's image each was made from
    scale: np.ndarray  # n int64: its scale
    origin: np.ndarray  # n x 2 int64: top-left of its HR window in that image (the window is scale x its shape)
    specs: list[str]  # each one's degradation (stream.degrade spec) and downscale kernel, e.g. "x264:crf=30:...@area"
    data: str  # the fingerprint of the LumaPack it was made from
    mix: str  # JSON of the CodedMix that made it: recorded in the weights trained on it

    @property
    def offsets(self) -> np.ndarray:
        return flat_offsets(self.shapes)

    def identity(self) -> str:
        """What a recipe records: the images and the mix it was made from. Made again from them (another
        machine's `prepare`), a set is the same set, though another x264/x265 build may code a bit otherwise."""
        return hashlib.sha256(f"{self.data} {self.mix}".encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        """Its pixels and geometry, exactly."""
        digest = hashlib.sha256(self.pixels.tobytes())
        for array in (self.shapes, self.image, self.scale, self.origin):
            digest.update(array.astype("<i8").tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name) for name in ("shapes", "image", "scale", "origin")}
        with write_atomically(path) as tmp, tmp.open("wb") as f:
            np.savez_compressed(f, **stored_pixels(self.pixels, self.shapes), **arrays, specs=np.array(self.specs),
                                data=self.data, mix=self.mix)  # fmt: skip


def read_coded(path: Path, pack: LumaPack, option: str = "--coded", images: str = "--data") -> CodedSet:
    """A coded set, checked against the images (of `images`) it must have been made from."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name].astype(np.int64) for name in ("shapes", "image", "scale", "origin")}
            coded = CodedSet(read_pixels(npz, arrays["shapes"]), **arrays, specs=[str(s) for s in npz["specs"]],
                             data=str(npz["data"]), mix=str(npz["mix"]))  # fmt: skip
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise UserError(f"{option} {path}: not a coded training set ({reason(e)})") from None
    if coded.data != pack.fingerprint():
        raise UserError(f"{option} {path}: was made from other images than {images}; make it again from them")
    hr = pack.shapes[coded.image]
    inside = (coded.origin >= 0).all() and (coded.origin + coded.shapes * coded.scale[:, None] <= hr).all()
    if coded.pixels.dtype != np.uint8 or int(coded.shapes.prod(axis=1).sum()) != coded.pixels.size or not inside:
        raise UserError(f"{option} {path}: not a coded training set (inconsistent arrays)")
    return coded


def describe_mix(coded: CodedSet) -> str:
    """One line for logs and the weights' metadata: "873 coded LR (x264/x265 CRF 18-36, ...)"."""
    mix = json.loads(coded.mix)
    if not mix:
        return f"{len(coded.specs)} coded LR"
    crf = [c for c in mix["codecs"] if c in ("x264", "x265")]
    codecs = [f"{'/'.join(crf)} CRF {mix['crf'][0]}-{mix['crf'][1]}"] if crf else []
    codecs += [f"MPEG-2 q {mix['mpeg2_q'][0]}-{mix['mpeg2_q'][1]}"] if "mpeg2" in mix["codecs"] else []
    codecs += [f"JPEG q {mix['jpeg_q'][0]}-{mix['jpeg_q'][1]}"] if "jpeg" in mix["codecs"] else []
    return (f"{len(coded.specs)} coded LR ({', '.join(codecs)}, "
            f"{'/'.join(mix['kernels'])} downscale, {mix['inter']:.0%} of video frames predicted"
            f"{' (P or B)' if mix.get('predicted') == 'any' else ''}, "
            f"x{'/'.join(map(str, mix['scales']))}, seed {mix['seed']})")  # fmt: skip


class CodedSampler:
    """Batches of (bicubic input, HR target) patches in [0, 1] from a CodedSet, B x 1 x P x P, drawn
    on the device like PatchSampler's: each LR image's crop positions equally likely, the batch
    split evenly between the scales, each pair rotated or flipped at random."""

    def __init__(self, pack: LumaPack, coded: CodedSet, patch: int, scales: tuple[int, ...], batch: int,
                 device: torch.device) -> None:  # fmt: skip
        self.patch, self.scales, self.device = patch, scales, device
        self.hr = torch.from_numpy(pack.pixels).to(device)
        self.hr_offsets, self.hr_widths = (torch.from_numpy(a).to(device) for a in (pack.offsets, pack.shapes[:, 1]))
        self.lr = torch.from_numpy(coded.pixels).to(device)
        self.groups = [_Group(coded, s, patch, device) for s in scales]
        self.group_sizes = [len(g) for g in torch.arange(batch).tensor_split(len(scales))]

    def sample(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = [], []
        for group, n in zip(self.groups, self.group_sizes, strict=True):
            entry, top, left = group.draw(n, generator)
            code = torch.randint(8, (n,), generator=generator, device=self.device)
            x, y = self.pairs(group, entry, top, left, code)
            inputs.append(x)
            targets.append(y)
        return torch.cat(inputs)[:, None], torch.cat(targets)[:, None]

    def pairs(self, group: _Group, entry: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
              code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """The LR crops at (top, left) of `entry` with their HR windows, transformed by `code`,
        the LR upscaled; -> (input, target), both the centre P x P, B x P x P."""
        s, c = group.scale, group.lr_crop
        lr = gather_crops(self.lr, group.offsets[entry], group.widths[entry], top, left, c)
        hr_top, hr_left = group.origin[entry, 0] + s * top, group.origin[entry, 1] + s * left
        image = group.image[entry]
        hr = gather_crops(self.hr, self.hr_offsets[image], self.hr_widths[image], hr_top, hr_left, s * c)
        lr, hr = dihedral(lr.float() / 255, code), dihedral(hr.float() / 255, code)
        up = imresize(lr, s, (s * c, s * c))
        p = slice((s * c - self.patch) // 2, (s * c - self.patch) // 2 + self.patch)
        return up[:, p, p], hr[:, p, p]


class _Group:
    """One scale's LR images, with each one's crop positions for a patch."""

    def __init__(self, coded: CodedSet, scale: int, patch: int, device: torch.device) -> None:
        self.scale, self.lr_crop = scale, crop_size(patch, scale) // scale
        mine = np.flatnonzero(coded.scale == scale)
        if not mine.size:  # said as no image being large enough
            made = ", ".join(f"x{s}" for s in sorted(set(coded.scale.tolist())))
            raise UserError(f"the coded LR holds {made} alone, not x{scale}: make it with --scales for every scale run")
        shapes = torch.from_numpy(coded.shapes[mine])
        room = (shapes - self.lr_crop + 1).clamp(min=0)
        positions = room.prod(dim=1)
        if positions.sum() == 0:
            raise UserError(f"no coded LR image at x{scale} is {self.lr_crop} px on a side (patch {patch})")
        self.ends, self.positions = positions.cumsum(0).to(device), positions.to(device)
        self.room_w, self.widths = room[:, 1].to(device), shapes[:, 1].to(device)
        self.offsets = torch.from_numpy(coded.offsets[mine]).to(device)
        self.origin, self.image = (torch.from_numpy(a[mine]).to(device) for a in (coded.origin, coded.image))
        self.total = int(positions.sum())

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n crop positions, each of all this scale's equally likely -> (entry, top, left)."""
        r = torch.randint(self.total, (n,), generator=generator, device=self.ends.device)
        entry = torch.searchsorted(self.ends, r, right=True)
        k = r - (self.ends[entry] - self.positions[entry])
        return entry, k // self.room_w[entry], k % self.room_w[entry]
