import math

import pytest
import torch

from kernels import host_memory, resize
from kernels.colour import rgb_to_y
from kernels.metrics import psnr, ssim
from kernels.resize import imresize


def test_upscale_x2_matches_hand_computed_bicubic_with_mirrored_border():
    # Columns 10, 20, 30, 40. The first output column sits at u = 0.75 (1-based): taps at
    # -1, 0, 1, 2 mirror to columns 2, 1, 1, 2 with MATLAB cubic weights (a = -0.5)
    # -0.0234375, 0.2265625, 0.8671875, -0.0703125.
    img = torch.tensor([[10.0, 20.0, 30.0, 40.0]], dtype=torch.float64).repeat(4, 1)
    out = imresize(img, 2)
    assert out.shape == (8, 8)
    assert out[0, 0].item() == pytest.approx(1.09375 * 10 - 0.09375 * 20, abs=1e-12)
    # Column 4 sits at u = 2.25; its taps (columns 1..4) need no mirroring, and cubic
    # convolution reproduces a linear ramp exactly: 10 * 2.25.
    assert out[3, 3].item() == pytest.approx(22.5, abs=1e-12)


def test_downscale_by_half_is_antialiased_over_eight_taps():
    # Scale 1/2 widens the kernel to 8 input pixels: output 1 sits at u = 1.5 and weighs
    # columns 1..5 (after mirroring) by 0.546875, 0.3984375, 0.1015625, -0.03515625, -0.01171875.
    img = (8.0 * torch.arange(8, dtype=torch.float64)).repeat(8, 1)
    out = imresize(img, 0.5)
    assert out.shape == (4, 4)
    assert out[0, 0].item() == pytest.approx(3.59375, abs=1e-12)


def test_sizes_round_up_and_constants_stay_constant():
    img = torch.full((5, 7), 0.3, dtype=torch.float64)
    out = imresize(img, 1 / 2)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out, torch.full((3, 4), 0.3, dtype=torch.float64))


def test_rgb_to_y_is_matlab_studio_range():
    rgb = torch.tensor([[[0]], [[0]], [[0]]], dtype=torch.uint8)
    assert rgb_to_y(rgb).item() == 16
    assert rgb_to_y(torch.full((3, 1, 1), 255, dtype=torch.uint8)).item() == 235
    # 16 + (65.481 * 200 + 128.553 * 100 + 24.966 * 50) / 255 = 122.7... -> 123
    assert rgb_to_y(torch.tensor([[[200]], [[100]], [[50]]], dtype=torch.uint8)).item() == 123


def test_psnr_of_a_one_level_error_and_the_border_shave():
    a = torch.full((20, 20), 100.0)
    b = a + 1
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2), abs=1e-9)
    b[0, :] += 50  # only in the shaved border
    assert psnr(a, b, border=2) == pytest.approx(10 * math.log10(255**2), abs=1e-9)
    assert psnr(a, a) == math.inf


def test_ssim_of_known_pairs():
    x = torch.rand(32, 32, generator=torch.Generator().manual_seed(0)) * 255
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    # Two flat images: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), C1 = (0.01 * 255)^2.
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(torch.full((16, 16), 100.0), torch.full((16, 16), 110.0)) == pytest.approx(expected, abs=1e-12)
    assert ssim(x, 255 - x) < 0


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_long_axes_resized_tap_by_tap_equal_the_dense_matrices(monkeypatch, scale):
    """A 48 MP photo's axes are too long for dense matrices (0.8 GB): it is resized tap by tap in bands of rows,
    mirrored borders and antialiased shrinks included, to float64 rounding of the matrix products."""
    img = torch.rand(2, 37, 53, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dense = imresize(img, scale)
    monkeypatch.setattr(resize, "DENSE_ENTRIES", 0)
    monkeypatch.setattr(host_memory, "BAND_PIXELS", 3 * dense.shape[-1])  # bands of 3 rows, the last shorter
    torch.testing.assert_close(imresize(img, scale), dense, rtol=0, atol=1e-13)


def test_a_long_axis_builds_no_dense_matrix():
    resize._matrix.cache_clear()
    out = imresize(torch.rand(1, 1, 4, 2000), 2)
    assert out.shape == (1, 1, 8, 4000) and out.is_contiguous()
    assert resize._matrix.cache_info().currsize == 0  # where a 2000 -> 4000 matrix was 32 MB
