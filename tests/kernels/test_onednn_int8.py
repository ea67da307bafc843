"""oneDNN's int8 forward (kernels.onednn.Int8Forward), its calibration, and `convert --calibration`.

The numbers are checked where the CPU has int8 dot products (VNNI or AMX, as torch reports them): on
older CPUs oneDNN's int8 kernels round differently, and drrn-stream never runs them there."""

from pathlib import Path

import numpy as np
import pytest
import torch

from kernels import onednn
from kernels.inference import Restorer
from kernels.onednn import ActivationPeaks, Int8Forward, activation_peaks
from kernels.pretrained import PRETRAINED
from kernels.tiling import Tiling
from kernels.weights import DEPTH_CURVES, curve_depth, find_weights
from tests.cli_helpers import run_cli
from tests.conftest import random_drrn

needs_int8 = pytest.mark.skipif(
    not (onednn.int8_available() and torch.cpu._is_vnni_supported()),
    reason="oneDNN's int8 kernels need VNNI or AMX (this CPU or this torch has neither)",
)


def smooth_luma(h: int, w: int, phase: float = 0.0) -> torch.Tensor:
    yy, xx = np.mgrid[0:h, 0:w]
    luma = 0.45 + 0.3 * np.sin(xx / 4.0 + phase) * np.cos(yy / 6.0 - phase)
    return torch.from_numpy(luma.astype(np.float32))[None, None]


def calibrated(model, patches: int = 4) -> ActivationPeaks:
    return activation_peaks(model, (smooth_luma(24, 24, i).numpy() for i in range(patches)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * np.log10(1 / (a - b).square().mean().item())


def test_peaks_are_per_unit_and_round_trip_through_json():
    model = random_drrn(units=3, channels=16, std=0.1)
    peaks = calibrated(model)
    assert (peaks.units, len(peaks.h), len(peaks.t)) == (3, 4, 3) and peaks.h[0] == peaks.h0 > 0
    assert ActivationPeaks.from_json(peaks.to_json()) == peaks


@needs_int8
@pytest.mark.parametrize("units", [3, 1])
def test_int8_restores_as_fp32_does_at_any_calibrated_depth(units):
    """Within a fraction of a level of float32 (a whole different output would be ~20 dB off), with a
    residual that really moves the picture; shallower than calibrated too."""
    model = random_drrn(units=3, channels=16, std=0.1)
    int8 = Int8Forward(model, calibrated(model))
    y = smooth_luma(20, 28, 0.5)  # unlike the calibration crops
    with torch.inference_mode():
        a, b = int8(y, units), model(y, units)
    assert a.dtype == torch.float32 and a.shape == y.shape
    assert psnr(b, y) < 35 < 45 < psnr(a, b)


@needs_int8
def test_deeper_than_calibrated_is_refused():
    model = random_drrn(units=2, channels=8, std=0.1)
    with pytest.raises(ValueError, match="calibrated for 2 units"):
        Int8Forward(model, calibrated(model))(smooth_luma(8, 8), 3)


@needs_int8
def test_tiles_in_int8_match_whole_frames():
    """Static scales: a tile's pixels come out as the whole frame's, so tiling changes nothing but the borders
    the halo covers."""
    model = random_drrn(units=2, channels=16, std=0.1)
    peaks, cpu, y = calibrated(model), torch.device("cpu"), smooth_luma(40, 56, 1.0)
    whole = Restorer(model, cpu, "int8", Tiling(tile=None), peaks)(y)
    tiled = Restorer(model, cpu, "int8", Tiling(tile=24, halo=8, batch=2), peaks)(y)
    assert torch.equal(whole, tiled)


def test_convert_records_the_calibration(tmp_path: Path, tiny_weights: Path, capsys, set5):
    out = tmp_path / "calibrated.safetensors"
    code, _, err = run_cli(["convert", str(tiny_weights), str(out), "--calibration", str(set5)], capsys)
    weights = find_weights(out)
    assert code == 0 and weights.digest() == find_weights(tiny_weights).digest()
    assert weights.int8_peaks is not None and weights.int8_peaks.units == 1
    assert "crops of 96 px of Set5" in weights.metadata["int8_calibration"]
    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / "x.safetensors"), "--calibration",
                            str(tmp_path / "none")], capsys)  # fmt: skip
    assert code != 0 and "none: no such folder" in err and not (tmp_path / "x.safetensors").exists()


def test_calibration_skips_pictures_too_small_to_degrade(tmp_path: Path, tiny_weights: Path, capsys):
    """A 1-px picture, degraded by 4 to nothing, failed the run as an "unexpected RuntimeError"."""
    import cv2
    import numpy as np

    folder, out = tmp_path / "pictures", tmp_path / "calibrated.safetensors"
    folder.mkdir()
    cv2.imwrite(str(folder / "dot.png"), np.full((1, 1, 3), 128, np.uint8))
    args = ["convert", str(tiny_weights), str(out), "--calibration", str(folder)]
    code, _, err = run_cli(args, capsys)
    assert (code, err) == (1, f"error: {folder}: no image of 4 px a side or more to calibrate on\n")
    cv2.imwrite(str(folder / "small.png"), np.arange(6 * 6 * 3, dtype=np.uint8).reshape(6, 6, 3))
    code, _, err = run_cli(args, capsys)
    assert code == 0 and find_weights(out).int8_peaks is not None, err


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_weights_are_calibrated_for_every_depth_they_run(name):
    """Their trained depth at least, and every depth their curves choose for any input: the set for heavily
    compressed input runs deeper than it trained, and int8 cannot run past its peaks."""
    weights = find_weights(name)
    runs = [weights.units, weights.run_units, *(curve_depth(weights.metadata, kind) or 0 for kind in DEPTH_CURVES)]
    assert weights.int8_peaks is not None and weights.int8_peaks.units >= max(runs)
