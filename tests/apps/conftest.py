"""What the apps' tests share."""

import cv2
import numpy as np
import pytest


@pytest.fixture
def photo() -> np.ndarray:
    """A smooth 36 x 48 BGR picture (upscaled noise): edges for DRRN, no single flat value."""
    noise = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    return cv2.resize(noise, (48, 36), interpolation=cv2.INTER_CUBIC)
