import torch
import torch.nn.functional as F

from kernels.model import DRRN, flops_per_pixel
from tests.conftest import random_drrn


def test_b1u25_has_the_papers_size_and_cost():
    model = DRRN()
    assert sum(p.numel() for p in model.parameters()) == 297_216
    assert round(flops_per_pixel() / 1e6, 2) == 14.75
    assert model.receptive_radius == 52


def test_forward_equals_direct_conv_composition():
    model = random_drrn(units=3)
    x = torch.rand(2, 1, 20, 24)
    w_in, w_a, w_b, w_out = (model.conv_in.weight, model.conv_a.weight, model.conv_b.weight, model.conv_out.weight)
    relu, conv = F.relu, lambda t, w: F.conv2d(t, w, padding=1)
    h0 = relu(conv(relu(x), w_in))
    h = h0
    for _ in range(3):
        h = conv(relu(conv(relu(h), w_a)), w_b) + h0
    expected = conv(relu(h), w_out) + relu(x)
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_receptive_field_is_exactly_the_stated_radius():
    model = random_drrn(units=2)  # radius 2 + 2 * 2 = 6
    r = model.receptive_radius
    x = torch.rand(1, 1, 31, 31)
    base = model(x)[0, 0, 15, 15]
    inside, outside = x.clone(), x.clone()
    inside[0, 0, 15, 15 + r] += 1
    outside[0, 0, 15, 15 + r + 1] += 1
    assert model(inside)[0, 0, 15, 15] != base
    assert model(outside)[0, 0, 15, 15] == base
