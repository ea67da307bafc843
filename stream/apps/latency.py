"""Keeping the live preview within a latency budget by choosing DRRN's depth frame by frame.

All units share their weights, so the depth can change between frames at no cost but quality
(the shipped weights are trained for every depth; docs/QUALITY.md has what each one gives). A
frame's latency, capture to display, is its model time plus a nearly constant rest (the wait
for the newest frame, the drawing). The controller learns the model's milliseconds per GFLOP
and that rest from the frames it is shown, and picks the deepest depth whose predicted latency
fits the budget; where even one unit does not fit, a smaller processing size. It goes
shallower at once when a frame runs over, and deeper only after a few frames with room to
spare, and only to a depth that fits with a margin, so the depth does not flicker.

`Depth` is the one owner of the depth the next frame runs at, budgeted or fixed: the window's
keys change it, the model thread reads it once per frame, and both go through its lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kernels.model import flops_per_pixel
from stream.errors import UserError

SIZES = (1.0, 0.75, 0.5, 0.375, 0.25)  # processing sizes tried, as a fraction of each side
HEADROOM = 0.9  # plan for 90% of the budget: frame times jitter
DEEPER_MARGIN = 0.95  # ... and go deeper only where the deeper choice fits within 95% of that
DEEPER_AFTER = 3  # frames in a row with room before going deeper
SMOOTHING = 0.3  # weight of the newest frame in the running estimates
MAX_UNITS = 50  # the deepest the keys go


@dataclass(frozen=True)
class Choice:
    units: int  # recursive units
    size: float  # processing size, a fraction of each side of the frame


class DepthController:
    """Chooses (units, size) for the next frame from the frames seen so far; one thread calls it."""

    def __init__(self, budget_ms: float, max_units: int, channels: int = 128) -> None:
        self.budget_ms, self.max_units, self.channels = budget_ms, max_units, channels
        self.choice = Choice(1, 1.0)  # cheapest at full size, until a frame has been timed
        self.ms_per_gflop: float | None = None
        self.rest_ms = 0.0
        self.pixels = 0  # output pixels of a full-size frame
        self._room = 0

    def gflop(self, choice: Choice) -> float:
        return flops_per_pixel(choice.units, self.channels) * self.pixels * choice.size**2 / 1e9

    def predict_ms(self, choice: Choice) -> float:
        """Capture-to-display latency expected for `choice` (0 before any frame was timed)."""
        return (self.ms_per_gflop or 0.0) * self.gflop(choice) + self.rest_ms

    def observe(self, choice: Choice, pixels: int, model_ms: float, latency_ms: float) -> Choice:
        """Learn from one shown frame, made with `choice`; returns the choice for the next one."""
        self.pixels = pixels
        rate, rest = model_ms / max(self.gflop(choice), 1e-9), max(latency_ms - model_ms, 0.0)
        over = latency_ms > self.budget_ms
        if self.ms_per_gflop is None or over:  # a late frame is believed at once: back off in one step
            self.ms_per_gflop = max(rate, _blend(self.ms_per_gflop or rate, rate))
            self.rest_ms = max(rest, _blend(self.rest_ms, rest))
        else:  # on time: learn slowly, so one fast frame does not send it deeper
            self.ms_per_gflop, self.rest_ms = _blend(self.ms_per_gflop, rate), _blend(self.rest_ms, rest)
        if over or self.predict_ms(self.choice) > HEADROOM * self.budget_ms:
            back = min(self.deepest(HEADROOM), self.choice, key=_cost)  # over: back off now, never deeper
            self.choice, self._room = back, 0
            return self.choice
        deeper = self.deepest(HEADROOM * DEEPER_MARGIN)
        self._room = self._room + 1 if _cost(deeper) > _cost(self.choice) else 0
        if self._room >= DEEPER_AFTER:
            self.choice, self._room = deeper, 0
        return self.choice

    def limit(self, max_units: int) -> None:
        """A new deepest depth allowed (the preview's +/- keys); a deeper choice is cut at once."""
        self.max_units = max_units
        if self.choice.units > max_units:
            self.choice = Choice(max_units, self.choice.size)

    def deepest(self, share: float) -> Choice:
        """The deepest depth at the largest size whose prediction fits share x budget."""
        for size in SIZES:
            for units in range(self.max_units, 0, -1):
                choice = Choice(units, size)
                if self.predict_ms(choice) <= share * self.budget_ms:
                    return choice
        return Choice(1, SIZES[-1])


class Depth:
    """The depth (and processing size) of the next frame: a fixed depth, or a budget's choice.

    One thread (the window's) changes it with `step` and `observe`; another (the model's) reads
    it with `next`, once per frame, and runs that frame whole at what it read. A model that
    cannot run another depth (an ONNX file unrolls the depth it was exported with) keeps its own.
    """

    def __init__(self, units: int, variable: bool = True, budget_ms: float | None = None) -> None:
        if budget_ms and not variable:
            raise UserError(f"--latency-ms chooses the depth frame by frame, and this model runs one (B1U{units}, "
                            "ONNX Runtime's int8 here): give --precision bf16 or fp32")  # fmt: skip
        self.variable = variable  # whether step can change anything
        self._units = units  # the depth, or (budgeted) the deepest allowed
        self._controller = DepthController(budget_ms, units) if budget_ms else None
        self._lock = threading.Lock()

    @property
    def budgeted(self) -> bool:
        return self._controller is not None

    @property
    def units(self) -> int:
        """The fixed depth, or (budgeted) the deepest the controller may choose."""
        with self._lock:
            return self._units

    def next(self) -> Choice:
        """What the next frame runs at (the model thread, once per frame)."""
        with self._lock:
            return self._controller.choice if self._controller else Choice(self._units, 1.0)

    def step(self, by: int) -> bool:
        """One deeper (+1) or shallower (-1), from the next frame on: the + and - keys. False,
        and nothing changes, where the model runs one depth only."""
        if not self.variable:
            return False
        with self._lock:
            self._units = min(max(self._units + by, 1), MAX_UNITS)
            if self._controller is not None:
                self._controller.limit(self._units)
        return True

    def observe(self, choice: Choice, pixels: int, model_ms: float, latency_ms: float) -> None:
        """A frame made at `choice` was shown: the budget learns from it (a fixed depth ignores it)."""
        with self._lock:
            if self._controller is not None:
                self._controller.observe(choice, pixels, model_ms, latency_ms)


def _cost(choice: Choice) -> tuple[float, int]:
    return (choice.size, choice.units)  # larger beats deeper: size is cut only when one unit is too slow


def _blend(old: float, new: float) -> float:
    return (1 - SMOOTHING) * old + SMOOTHING * new
