"""Fixtures of the training tests: a tiny image folder, one thread, and tiny model options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

TINY = ["--units", "1", "--channels", "8", "--patch", "15", "--batch", "6", "--log-every", "1"]


def shapes_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Flat shapes with sharp edges: something for super-resolution to learn, unlike noise."""
    img = np.full((size, size, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(8):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, size, 4))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
        else:
            cv2.circle(img, (x0, y0), x1 // 4 + 2, colour, -1)
    return img


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: a second thread only adds synchronisation (17x slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def train_dir(tmp_path: Path) -> Path:
    """Two subfolders of 64x64 images, as train/T91 and train/BSD200 are laid out."""
    rng = np.random.default_rng(0)
    for sub, count in (("setA", 2), ("setB", 2)):
        (tmp_path / "train" / sub).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(tmp_path / "train" / sub / f"{i}.png"), shapes_image(rng))
    cv2.imwrite(str(tmp_path / "train" / "setB" / "grey.png"), shapes_image(rng, 72)[:, :, 0])
    return tmp_path / "train"


@pytest.fixture
def val_dir(tmp_path: Path) -> Path:
    (tmp_path / "val").mkdir()
    cv2.imwrite(str(tmp_path / "val" / "v.png"), shapes_image(np.random.default_rng(1), 36))
    return tmp_path / "val"
