"""Training data for `drrn-stream train`: uint8 luma images packed flat, and patch pairs
cut, rotated or flipped and degraded on the training device, so a GPU never waits."""

from __future__ import annotations

import hashlib
import lzma
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kernels.errors import reason
from kernels.resize import imresize
from stream.errors import UserError
from stream.eval.images import read_luma
from stream.files import PICTURE_SUFFIXES, check_folder, check_writable, is_hidden, write_atomically

# --- the training images ----------------------------------------------------------------


@dataclass
class LumaPack:
    """uint8 luma images as one flat array: compact to carry, and cheap to crop from on a device."""

    pixels: np.ndarray  # all images' pixels, row-major, one after another (uint8)
    shapes: np.ndarray  # n x 2 int64: (height, width) of each image
    names: list[str]  # each image's path from the packed folder's parent: "train/T91/t1.png"

    @property
    def offsets(self) -> np.ndarray:
        return flat_offsets(self.shapes)

    @property
    def label(self) -> str:
        """The folders the images were in ("BSD200+T91", "Set5"), for logs and the weights' metadata."""
        return "+".join(sorted({Path(n).parent.name for n in self.names}))

    def images(self) -> list[torch.Tensor]:
        return [torch.from_numpy(image) for image in split_images(self.pixels, self.shapes)]

    def fingerprint(self) -> str:
        """Identifies the data in a checkpoint, whether it was read from a folder or a .npz."""
        digest = hashlib.sha256(self.shapes.astype("<i8").tobytes())
        digest.update(self.pixels.tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: Path) -> None:
        with write_atomically(path) as tmp, tmp.open("wb") as f:  # a file object: numpy adds no ".npz"
            np.savez_compressed(f, **stored_pixels(self.pixels, self.shapes), shapes=self.shapes,
                                names=np.array(self.names))  # fmt: skip


# --- how packs store their pixels -------------------------------------------------------


def flat_offsets(shapes: np.ndarray) -> np.ndarray:
    """Where each image of a flat array starts, from their (height, width)."""
    sizes = shapes.prod(axis=1)
    return np.cumsum(sizes) - sizes


def split_images(pixels: np.ndarray, shapes: np.ndarray) -> list[np.ndarray]:
    """A flat array's images, each an H x W view of it."""
    return [pixels[o : o + h * w].reshape(h, w) for o, (h, w) in zip(flat_offsets(shapes), shapes, strict=True)]


def stored_pixels(pixels: np.ndarray, shapes: np.ndarray) -> dict[str, np.ndarray]:
    """Flat uint8 images as a .npz stores them: each image's second differences (what is left of a
    pixel once its left, upper and upper-left neighbours predict it: W + N - NW, mostly near 0),
    all of them compressed by LZMA. Exact by construction, numpy and the standard library alone.

    A GPU call carries the training kit and the tree (64 MiB in all), and the tree grows by every
    training run's state: this stores the 291 training images in 21.3 MB against zlib's 26.8 of the
    raw pixels (numpy's savez_compressed), the clips' frames in 6.4 against 11.3. (Lossless WebP is
    as small in all, but would tie every machine that reads a pack to an image codec of its OpenCV.)
    """
    residuals = [  # uint8 arithmetic: differences wrap modulo 256
        np.diff(np.diff(image, axis=0, prepend=np.uint8(0)), axis=1, prepend=np.uint8(0)).ravel()
        for image in split_images(pixels, shapes)
    ]
    return {"residuals_xz": np.frombuffer(lzma.compress(np.concatenate(residuals).tobytes()), np.uint8)}


def read_pixels(npz: Mapping[str, np.ndarray], shapes: np.ndarray) -> np.ndarray:
    """What `stored_pixels` stored (or the raw pixels of a pack written before it), flat again;
    ValueError where it does not decode to the shapes."""
    if "pixels" in npz:
        return npz["pixels"]
    try:
        residuals = np.frombuffer(lzma.decompress(npz["residuals_xz"].tobytes()), np.uint8)
    except lzma.LZMAError as e:
        raise ValueError(f"its pixels do not decompress: {e}") from None
    if residuals.size != (total := int(shapes.prod(axis=1).sum())):
        raise ValueError(f"{residuals.size} pixels stored for images of {total}")
    images = [  # the differences summed back, modulo 256 as they were taken
        np.cumsum(np.cumsum(r, axis=0, dtype=np.uint8), axis=1, dtype=np.uint8).ravel()
        for r in split_images(residuals, shapes)
    ]
    return np.concatenate(images)


def pack_folder(folder: Path) -> LumaPack:
    """Every image under `folder` (subfolders too, e.g. train/T91 and train/BSD200) as uint8 luma."""
    check_folder(folder)
    paths = sorted(  # hidden files are no training pictures, as eval has it
        p for p in folder.resolve().rglob("*")
        if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file() and not is_hidden(p)
    )  # fmt: skip
    if not paths:
        raise UserError(f"{folder}: no images in it or its subfolders ({', '.join(sorted(PICTURE_SUFFIXES))})")
    lumas = [read_luma(p).numpy() for p in paths]
    return LumaPack(
        pixels=np.concatenate([y.ravel() for y in lumas]),
        shapes=np.array([y.shape for y in lumas], dtype=np.int64),
        names=[p.relative_to(folder.resolve().parent).as_posix() for p in paths],
    )


def write_pack(folder: Path, dst: Path, overwrite: bool = False) -> LumaPack:
    """`train --pack`: the images of `folder` as one compact .npz, which --data reads as the folder (an existing one
    replaced only with -y, as every output is: it was replaced unasked)."""
    if dst.suffix.lower() != ".npz":
        raise UserError(f"--pack {dst}: the file must end in .npz (what --data reads as a pack)")
    check_target(dst, overwrite, "--pack")
    check_writable(dst)  # before the reading, not after it
    pack = load_pack(folder)
    pack.save(dst)
    return pack


def check_target(dst: Path, overwrite: bool, option: str) -> None:
    """A pack's file: its folder made, an existing file replaced only with -y, never a folder."""
    if dst.is_dir():
        raise UserError(f"{option} {dst}: is a folder")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    dst.parent.mkdir(parents=True, exist_ok=True)


def read_pack(path: Path) -> LumaPack:
    try:
        with np.load(path, allow_pickle=False) as npz:
            shapes = npz["shapes"].astype(np.int64)
            pack = LumaPack(read_pixels(npz, shapes), shapes, [str(n) for n in npz["names"]])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:  # not numpy's advice to allow pickles
        cause = "not a numpy .npz" if "pickle" in str(e) or isinstance(e, zipfile.BadZipFile) else reason(e)
        raise UserError(f"{path}: not a packed luma .npz ({cause})") from None
    sizes_match = pack.shapes.ndim == 2 and int(pack.shapes.prod(axis=1).sum()) == pack.pixels.size
    if pack.pixels.dtype != np.uint8 or not sizes_match or len(pack.names) != len(pack.shapes) or not pack.names:
        raise UserError(f"{path}: not a packed luma .npz (inconsistent or empty arrays)")
    return pack


def load_pack(path: Path) -> LumaPack:
    """--data and --val-data: a folder of images or a .npz written by `--pack`."""
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        return read_pack(path)
    return pack_folder(path)


# --- training pairs, made on the device -------------------------------------------------


def crop_size(patch: int, scale: int) -> int:
    """The HR crop degraded for one patch: a multiple of the scale with 4 * scale pixels of margin.

    An output pixel of MATLAB bicubic down by s and back up depends on HR pixels less than
    4 * s away (2 * s for each resize), so the centre patch of such a crop equals the same
    pixels of the whole image degraded at once, as the paper's data was made (mirrored
    borders of the crop never reach it), while costing a crop rather than an image per patch.
    """
    return scale * (math.ceil(patch / scale) + 8)


def gather_crops(pixels: torch.Tensor, offset: torch.Tensor, width: torch.Tensor, top: torch.Tensor,
                 left: torch.Tensor, size: int) -> torch.Tensor:  # fmt: skip
    """B square crops of `size` at (top, left) from images stored flat, each at `offset`, `width` wide."""
    grid = torch.arange(size, device=pixels.device)
    rows = (top[:, None] + grid)[:, :, None] * width[:, None, None]
    return pixels[offset[:, None, None] + rows + (left[:, None] + grid)[:, None, :]]


def dihedral(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 rotations/flips to each square image of x (B x S x S); code: B ints in 0..7."""
    for bit, transform in enumerate((lambda t: t.transpose(-1, -2), lambda t: t.flip(-2), lambda t: t.flip(-1))):
        x = torch.where((code >> bit & 1).bool()[:, None, None], transform(x), x)
    return x


class PatchSampler:
    """Batches of (bicubic input, HR target) patches in [0, 1], B x 1 x P x P, drawn on the device.

    A patch is uniform over every crop position of every image (as cutting all images into
    patches would give), rotated or flipped at random, and degraded at one of the scales:
    the batch is split evenly between the scales, so no step waits on the host to group them.
    """

    def __init__(self, pack: LumaPack, patch: int, scales: tuple[int, ...], batch: int, device: torch.device) -> None:
        self.patch, self.scales, self.batch, self.device = patch, scales, batch, device
        self.crop = max(crop_size(patch, s) for s in scales)
        shapes = torch.from_numpy(pack.shapes)
        room = (shapes - self.crop + 1).clamp(min=0)  # crop positions along each axis, per image
        positions = room.prod(dim=1)
        if positions.sum() == 0:
            raise UserError(f"no training image is at least {self.crop}x{self.crop} pixels (patch {patch})")
        self.pixels = torch.from_numpy(pack.pixels).to(device)
        self.ends = positions.cumsum(0).to(device)  # crop positions of images 0..i together
        self.positions, self.room_w = positions.to(device), room[:, 1].to(device)
        self.widths, self.offsets = shapes[:, 1].to(device), torch.from_numpy(pack.offsets).to(device)
        self.total = int(positions.sum())
        self.group_sizes = [len(g) for g in torch.arange(batch).tensor_split(len(scales))]

    def sample(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.batch
        r = torch.randint(self.total, (n,), generator=generator, device=self.device)
        image = torch.searchsorted(self.ends, r, right=True)
        k = r - (self.ends[image] - self.positions[image])  # crop position within the image
        top, left = k // self.room_w[image], k % self.room_w[image]
        code = torch.randint(8, (n,), generator=generator, device=self.device)
        crops = gather_crops(self.pixels, self.offsets[image], self.widths[image], top, left, self.crop)
        crops = dihedral(crops.float() / 255, code)  # B x crop x crop
        inputs, targets = [], []
        for hr, s in zip(crops.split(self.group_sizes), self.scales, strict=True):
            c = crop_size(self.patch, s)
            hr = hr[:, (self.crop - c) // 2 :, (self.crop - c) // 2 :][:, :c, :c]
            up = imresize(imresize(hr, 1 / s, (c // s, c // s)), s, (c, c))
            p = slice((c - self.patch) // 2, (c - self.patch) // 2 + self.patch)
            inputs.append(up[:, p, p])
            targets.append(hr[:, p, p])
        return torch.cat(inputs)[:, None], torch.cat(targets)[:, None]
