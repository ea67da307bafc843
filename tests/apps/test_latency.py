"""The live preview's depth: the controller against a fake model on a simulated clock (no sleeps), and its owner."""

from __future__ import annotations

import pytest

from kernels.model import flops_per_pixel
from stream.apps.latency import HEADROOM, MAX_UNITS, Choice, Depth, DepthController
from stream.errors import UserError

PIXELS = 640 * 480
REST_MS = 30.0  # waiting for the newest frame and drawing it


class FakeModel:
    """Model time grows with depth and processing area, plus a fixed launch cost; `speed` scales it."""

    def __init__(self, ms_per_gflop: float) -> None:
        self.ms_per_gflop, self.speed = ms_per_gflop, 1.0

    def ms(self, choice: Choice) -> float:
        gflop = flops_per_pixel(choice.units) * PIXELS * choice.size**2 / 1e9
        return (2.0 + self.ms_per_gflop * gflop) / self.speed


def run(controller: DepthController, model: FakeModel, frames: int) -> list[tuple[Choice, float]]:
    """Frames through the controller as the preview's threads see them: the worker starts a
    frame with the choice it finds before the main thread has learnt from the frame before."""
    shown: list[tuple[Choice, float]] = []
    pending = None
    for _ in range(frames):
        choice = controller.choice
        if pending is not None:
            controller.observe(*pending)
        model_ms = model.ms(choice)
        latency = model_ms + REST_MS
        pending = (choice, PIXELS, model_ms, latency)
        shown.append((choice, latency))
    return shown


def deepest_within(model: FakeModel, budget: float) -> int:
    return max(u for u in range(1, 26) if model.ms(Choice(u, 1.0)) + REST_MS <= budget)


def test_settles_on_the_deepest_depth_within_the_budget() -> None:
    model = FakeModel(ms_per_gflop=0.1)  # U25 at 640x480: ~25 ms of model time
    budget = 0.5 * (model.ms(Choice(25, 1.0)) + REST_MS)
    controller = DepthController(budget, max_units=25)
    shown = run(controller, model, 40)
    settled = {choice for choice, _ in shown[-15:]}
    assert len(settled) == 1  # no flicker
    (choice,) = settled
    best = deepest_within(model, HEADROOM * budget)
    assert choice.size == 1.0 and best - 3 <= choice.units <= best  # as deep as fits, less a margin
    assert sum(latency > budget for _, latency in shown) <= 2  # from the first frame on


def test_backs_off_when_frames_slow_down_and_recovers_when_they_speed_up() -> None:
    model = FakeModel(ms_per_gflop=0.1)
    budget = 0.5 * (model.ms(Choice(25, 1.0)) + REST_MS)
    controller = DepthController(budget, max_units=25)
    run(controller, model, 40)
    before = controller.choice
    model.speed = 0.5  # something else takes half the machine
    slow = run(controller, model, 30)
    assert sum(latency > budget for _, latency in slow) <= 2  # over budget for a frame or two at most
    assert controller.choice.units < before.units
    assert all(latency <= budget for _, latency in slow[-20:])
    model.speed = 1.0
    fast = run(controller, model, 40)
    assert controller.choice == before  # back where it was
    assert sum(latency > budget for _, latency in fast) == 0


def test_cuts_the_processing_size_only_when_one_unit_is_too_slow() -> None:
    model = FakeModel(ms_per_gflop=10.0)  # one unit at full size: ~330 ms
    budget = REST_MS + 0.5 * model.ms(Choice(1, 1.0))
    controller = DepthController(budget, max_units=25)
    shown = run(controller, model, 30)
    assert controller.choice.size < 1.0
    assert all(latency <= budget for _, latency in shown[-10:])
    deeper_at_full_size = Choice(1, 1.0)
    assert controller.predict_ms(deeper_at_full_size) > HEADROOM * budget


def test_never_deeper_than_asked() -> None:
    model = FakeModel(ms_per_gflop=0.001)  # everything fits
    controller = DepthController(1000.0, max_units=9)
    run(controller, model, 20)
    assert controller.choice == Choice(9, 1.0)


def test_a_lower_limit_cuts_the_depth_at_once() -> None:
    controller = DepthController(1000.0, max_units=25)
    run(controller, FakeModel(ms_per_gflop=0.001), 20)
    assert controller.choice == Choice(25, 1.0)
    controller.limit(7)  # the - key, pressed until 7
    assert controller.choice == Choice(7, 1.0)


def test_a_fixed_depth_moves_with_the_keys_within_its_bounds() -> None:
    depth = Depth(2)
    assert depth.next() == Choice(2, 1.0)
    assert depth.step(-1) and depth.step(-1)  # never below one unit
    assert depth.next() == Choice(1, 1.0)
    for _ in range(MAX_UNITS + 5):
        depth.step(+1)
    assert depth.next() == Choice(MAX_UNITS, 1.0)


def test_a_model_of_one_depth_keeps_it() -> None:
    depth = Depth(25, variable=False)
    assert not depth.step(+1) and not depth.step(-1)
    assert depth.next() == Choice(25, 1.0) and depth.units == 25
    with pytest.raises(UserError, match=r"--latency-ms chooses the depth frame by frame, and this model runs one"):
        Depth(25, variable=False, budget_ms=100.0)


def test_a_budget_chooses_the_depth_and_the_keys_limit_it() -> None:
    depth, model = Depth(25, budget_ms=1000.0), FakeModel(ms_per_gflop=0.001)  # everything fits
    for _ in range(20):
        choice = depth.next()
        model_ms = model.ms(choice)
        depth.observe(choice, PIXELS, model_ms, model_ms + REST_MS)
    assert depth.next() == Choice(25, 1.0)
    assert depth.step(-1)  # the - key: the deepest allowed, and at once what runs
    assert depth.next() == Choice(24, 1.0) and depth.units == 24
