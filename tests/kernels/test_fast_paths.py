"""The per-device fast paths compute the same function as kernels.model.DRRN.forward."""

import pytest
import torch
import torch.nn.functional as F

from kernels import onednn, resolve
from kernels.choice import ModelChoice
from kernels.cudnn_fused import FusedForward
from kernels.inference import Restorer
from kernels.tiling import Tiling, tiling_for, whole_fits
from kernels.weights import load_drrn
from stream.console import say_notices
from tests.conftest import random_drrn

needs_onednn = pytest.mark.skipif(not onednn.available(), reason="this torch build has no oneDNN")
needs_onednn_bf16 = pytest.mark.skipif(
    not (onednn.available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="oneDNN has no bf16 convolution on this CPU (it needs AVX-512 BW/VL/DQ, AVX-NE-CONVERT or AMX)",
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@needs_onednn
@pytest.mark.parametrize("units", [0, 1, 3])
def test_fused_cpu_forward_equals_the_model(units):
    model = random_drrn(units=3)
    x = torch.rand(2, 1, 23, 17)
    fused = onednn.FusedForward(model, torch.float32)(x, units)
    torch.testing.assert_close(fused, model(x, units), rtol=1e-5, atol=1e-5)


@needs_onednn_bf16
def test_fused_bf16_is_close_to_autocast_bf16():
    model = random_drrn(units=2, channels=16)
    x = torch.rand(1, 1, 20, 20)
    with torch.autocast("cpu", torch.bfloat16):
        autocast = model(x).float()
    fused = onednn.FusedForward(model, torch.bfloat16)(x, 2).float()
    scale = model(x).abs().max()
    assert (fused - autocast).abs().max() <= 0.02 * scale
    assert fused.dtype == torch.float32 and fused.shape == x.shape


@needs_onednn_bf16
def test_fused_bf16_reads_the_luma_at_full_precision():
    """Near white bf16 steps a level apart: rounding the luma before the first conv puts one error
    into every feature, which DRRN sharpens (68 dB from float32 here; whole clips lost 0.13 dB). Read
    in float32 it stays a tenth of a level (80 dB)."""
    model, _ = load_drrn(None, 3)
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    x = (0.8 + 0.004 * torch.sin(xx / 6) * torch.cos(yy / 9))[None, None]  # a flat bright patch
    error = onednn.FusedForward(model, torch.bfloat16)(x, 3) - model(x, 3)
    assert 10 * torch.log10(1 / error.square().mean()) > 75 and error.abs().max() * 255 < 0.25


def test_restorer_on_cpu_equals_the_eager_model_tiled_and_whole():
    model = random_drrn(units=2)
    x = torch.rand(2, 1, 40, 30)
    for tiling in (Tiling(tile=None, batch=2), Tiling(tile=16, halo=model.receptive_radius, batch=3)):
        out = Restorer(model, torch.device("cpu"), "fp32", tiling)(x)
        torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)


def test_device_tiling_defaults_and_overrides():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert tiling_for(cpu) == Tiling(tile=768, halo=16, batch=1)
    assert tiling_for(cuda) == Tiling(tile=None, halo=16, batch=1)  # whole frames, as fast as cuDNN goes
    assert tiling_for(cpu, tile=0).tile is None  # whole frames
    assert tiling_for(cuda, tile=128, halo=8, batch=2) == Tiling(tile=128, halo=8, batch=2)


def test_whole_frames_run_where_their_activations_fit_half_the_free_memory():
    frame_720p = 1280 * 720 * 128 * 2 * 4  # fp16, four full-width tensors: 944 MB
    assert whole_fits((1, 1, 720, 1280), 2, free_bytes=2 * frame_720p)
    assert not whole_fits((1, 1, 720, 1280), 2, free_bytes=2 * frame_720p - 2)
    assert not whole_fits((2, 1, 720, 1280), 2, free_bytes=2 * frame_720p)  # the batch counts


def _conv_relu(x, w, bias, stride, padding, dilation, groups):  # cuDNN's fused ops, spelt out
    return F.conv2d(x, w, bias, stride, padding, dilation, groups).relu()


def _conv_add_relu(x, w, z, alpha, bias, stride, padding, dilation, groups):
    return (F.conv2d(x, w, bias, stride, padding, dilation, groups) + alpha * z).relu()


@pytest.mark.parametrize("units", [0, 1, 3])
def test_fused_cuda_regrouping_equals_the_model(units):
    """The CUDA fused forward's arithmetic (ReLUs moved into the op before) with reference ops for
    cuDNN's: what it computes is checked on every machine, cuDNN's kernels where CUDA is."""
    model = random_drrn(units=3)
    x = torch.rand(2, 1, 23, 17)
    fused = FusedForward(model, torch.float32, _conv_relu, _conv_add_relu)(x, units)
    torch.testing.assert_close(fused, model(x, units), rtol=1e-5, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_fused_forward_matches_the_unfused_one(precision):
    model = random_drrn(units=3, channels=16, std=0.1).cuda()
    x = torch.rand(2, 1, 40, 30, device="cuda")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    with torch.inference_mode():
        fused = FusedForward(model, dtype)(x, 3).float()
        with torch.autocast("cuda", dtype):
            unfused = model(x, 3).float()
    torch.testing.assert_close(fused, unfused, rtol=0, atol=0.02 if precision == "fp16" else 0.08)


@needs_cuda
@pytest.mark.parametrize("tile", [None, 32])
def test_cuda_fp16_graphs_match_cpu_float32(tile):
    # std 0.1 keeps the output near a real model's (max ~1.7, each unit still moves it by ~0.06 on
    # average); the default 0.3 gives outputs near 1000, where fp16's own rounding is ~0.5.
    model = random_drrn(units=3, channels=16, std=0.1)
    x = torch.rand(3, 1, 70, 50)
    expected = Restorer(model, torch.device("cpu"), "fp32", Tiling(tile=None, batch=3))(x)
    assert (model(x, 1) - expected).abs().mean() > 0.02  # the depth change below is visible at atol 0.02
    restorer = Restorer(random_drrn(units=3, channels=16, std=0.1), torch.device("cuda"), "fp16", Tiling(tile, 16, 2))
    for _ in range(2):  # the second call replays the captured graphs
        torch.testing.assert_close(restorer(x).cpu(), expected, rtol=0, atol=0.02)
    torch.testing.assert_close(restorer(x, units=1).cpu(), model(x, 1), rtol=0, atol=0.02)  # a new graph


def test_restorer_leaves_its_callers_model_as_it_was():
    model = random_drrn(units=2).requires_grad_(True)
    weight = model.conv_a.weight
    before = (weight.device, weight.dtype, weight.is_contiguous(), weight.requires_grad, weight.clone())
    Restorer(model, torch.device("cpu"), "fp32", Tiling(tile=None))(torch.rand(1, 1, 12, 12))
    after = model.conv_a.weight
    assert after is weight and (after.device, after.dtype, after.is_contiguous(), after.requires_grad) == before[:4]
    assert torch.equal(after, before[4])


@pytest.mark.parametrize(
    "support, runs, said",
    [("native", "bf16", ""), ("emulated", "bf16", "warning: this CPU has no bf16 instructions"),
     ("none", "fp32", "notice: this CPU cannot run bf16 convolutions")],
)  # fmt: skip
def test_bf16_on_each_kind_of_cpu(monkeypatch, capsys, tiny_weights, support, runs, said):
    """AVX512-BF16 or AMX, AVX-512 without BF16, AVX2 only: each kind of CPU this project runs on."""
    monkeypatch.setattr(resolve, "cpu_bf16", lambda: support)
    ran = ModelChoice(tiny_weights, device="cpu", precision="bf16").resolve()
    assert (ran.device, ran.precision) == ("cpu", runs)
    say_notices(ran.notices)
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == (1 if said else 0)
