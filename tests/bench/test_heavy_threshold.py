"""benchmarks.heavy_threshold: the pan it codes, and the table it draws per threshold."""

from __future__ import annotations

import pytest
import torch

from benchmarks.heavy_threshold import by_threshold, pan


def test_the_pan_moves_by_the_shift_within_the_centre():
    y = torch.arange(40 * 50).reshape(40, 50)
    frames = pan(y, 3, 16, 2)
    assert [f.shape for f in frames] == [(16, 16)] * 3
    assert torch.equal(frames[1][:-2, :-2], frames[0][2:, 2:])  # each 2 px right and down of the last
    assert torch.equal(frames[2][-1, -1], y[(40 - 20) // 2 + 19, (50 - 20) // 2 + 19])


def test_each_threshold_picks_the_second_set_from_that_quantiser_on():
    rows = [
        {"level": 28, "quantiser": 25.0, "compressed": 0.5, "heavy": -0.1},
        {"level": 28, "quantiser": 31.0, "compressed": -0.2, "heavy": 0.3},
    ]
    table = by_threshold(rows, [28], range(22, 33), ("compressed", "heavy"))
    assert table[26][28] == {"gain": pytest.approx(0.4), "below": 0}  # 25: compressed, 31: heavy
    assert table[32][28] == {"gain": pytest.approx(0.15), "below": 1}  # both compressed
    assert table[22][28] == {"gain": pytest.approx(0.1), "below": 1}  # both heavy
    flipped = by_threshold(rows, [28], range(26, 27), ("heavy", "compressed"))  # where clean input ends, alike
    assert flipped[26][28] == {"gain": pytest.approx(-0.15), "below": 2}  # 25: heavy, 31: compressed
