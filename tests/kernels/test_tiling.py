import pytest
import torch

from kernels.inference import Restorer
from kernels.metrics import to_levels
from kernels.tiling import WINDOW_ALIGN, Tiling, run_tiled, spans, windows_run
from kernels.weights import load_drrn
from stream.eval.images import read_luma
from stream.eval.protocol import degrade
from tests.conftest import random_drrn

# docs/QUALITY.md: at the default halo, tiled output differs from whole-frame output by at
# most this many 0..255 levels on Set5 (reference weights, float32).
DOCUMENTED_MAX_DIFF_LEVELS = 1


@pytest.mark.parametrize(
    "length, tile, halo", [(100, 32, 8), (33, 32, 8), (20, 32, 8), (256, 64, 0), (97, 16, 52), (1280, 512, 16)]
)
def test_spans_cover_the_axis_once_with_a_halo_of_context(length, tile, halo):
    covered = torch.zeros(length, dtype=torch.int64)
    sizes = set()
    for s in spans(length, tile, halo):
        covered[s.core] += 1
        sizes.add(s.window.stop - s.window.start)
        assert 0 <= s.window.start and s.window.stop <= length
        assert s.window.start + s.inner.start == s.core.start and s.window.start + s.inner.stop == s.core.stop
        # Context on each side is the halo, unless that side is the true frame edge.
        assert s.core.start - s.window.start >= halo or s.window.start == 0
        assert s.window.stop - s.core.stop >= halo or s.window.stop == length
    assert covered.eq(1).all()
    (size,) = sizes  # one window shape: one batch shape
    assert size == length or (size % WINDOW_ALIGN == 0 and size - WINDOW_ALIGN < min(tile, length) + 2 * halo)


def test_tiled_equals_whole_frame_when_halo_covers_the_receptive_field():
    model = random_drrn(units=2)  # radius 6
    x = torch.rand(3, 1, 45, 70)
    tiled = run_tiled(model, x, Tiling(tile=16, halo=model.receptive_radius, batch=5))
    torch.testing.assert_close(tiled, model(x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(run_tiled(model, x, Tiling(tile=16, halo=0, batch=5)), model(x), atol=1e-3)


def test_whoever_listens_is_told_of_each_batch_of_windows_run():
    """A big picture's progress: 2 frames of 3 x 5 windows of 16, in batches of 4 (the last one of 2)."""
    told: list[tuple[int, int]] = []
    listening = windows_run.set(lambda done, windows: told.append((done, windows)))
    try:
        run_tiled(lambda x: x, torch.rand(2, 1, 45, 70), Tiling(tile=16, halo=4, batch=4))
    finally:
        windows_run.reset(listening)
    assert told == [(4, 30), (8, 30), (12, 30), (16, 30), (20, 30), (24, 30), (28, 30), (30, 30)]
    run_tiled(lambda x: x, torch.rand(1, 1, 45, 70), Tiling(tile=16, halo=4, batch=4))  # nobody listening
    assert len(told) == 8


def test_whole_frame_mode_batches_frames():
    model = random_drrn(units=1)
    x = torch.rand(5, 1, 12, 10)
    torch.testing.assert_close(run_tiled(model, x, Tiling(tile=None, batch=2)), model(x), rtol=1e-5, atol=1e-5)


def test_default_halo_stays_within_documented_tolerance_on_real_weights(reference_weights, set5):
    model, _ = load_drrn(reference_weights)
    _, bicubic = degrade(read_luma(set5 / "butterfly.png")[:96, :96], 2)
    cpu = torch.device("cpu")
    whole = Restorer(model, cpu, "fp32", Tiling(tile=None))(bicubic[None, None])
    tiled = Restorer(model, cpu, "fp32", Tiling(tile=48, batch=4))(bicubic[None, None])  # default halo
    assert (to_levels(whole) - to_levels(tiled)).abs().max().item() <= DOCUMENTED_MAX_DIFF_LEVELS
