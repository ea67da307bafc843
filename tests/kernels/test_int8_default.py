"""The CPU default of issue #24: the shipped int8 model where the CPU has int8 instructions, PyTorch elsewhere."""

import numpy as np
import pytest
import torch

from kernels import resolve
from kernels.choice import ModelChoice
from kernels.errors import ChoiceError
from kernels.pretrained import DEFAULT_PRETRAINED, INT8, int8_path
from kernels.weights import find_weights

VNNI = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}  # the CPU kinds these machines have, as /proc/cpuinfo says
AMX = VNNI | {"amx_tile", "amx_int8", "amx_bf16"}
AVX512_NO_VNNI = {"avx2", "avx512f"}
AVX2_ONLY = {"avx2", "fma"}


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to be a CPU kind: its flags for the int8 choice, and its bf16 support to match."""

    def be(flags: set[str], bf16: str) -> None:
        monkeypatch.setattr(resolve, "cpu_flags", lambda: flags)
        monkeypatch.setattr(resolve, "cpu_bf16", lambda: bf16)
        monkeypatch.setattr(resolve, "cpu_has_native_bf16", lambda: bf16 == "native")

    return be


@pytest.mark.parametrize(
    "flags, bf16, backend, precision",
    [(VNNI, "native", "ONNX Runtime", "int8"), (AVX512_NO_VNNI, "emulated", "PyTorch", "fp32"),
     (AVX2_ONLY, "none", "PyTorch", "fp32"), (AMX, "native", "PyTorch", "bf16"),
     ({"avx2", "avx_vnni"}, "none", "ONNX Runtime", "int8")],
)  # fmt: skip
def test_the_default_per_cpu_kind(cpu, flags, bf16, backend, precision):
    cpu(flags, bf16)
    ran = ModelChoice(device="cpu").resolve()
    assert (ran.backend.split(" (")[0], ran.precision) == (backend, precision)
    assert ran.units == INT8[DEFAULT_PRETRAINED][1] and ran.trained_units == 25  # the default depth either way
    assert ("VNNI" in str(ran)) == (precision == "int8")  # the header says why int8 runs


def test_without_onnxruntime_a_notice_and_pytorch_runs(cpu, monkeypatch):
    cpu(VNNI, "native")
    monkeypatch.setattr(resolve, "has_onnxruntime", lambda: False)
    loaded = ModelChoice(device="cpu").load()
    assert (loaded.ran.backend, loaded.ran.precision) == ("PyTorch", "bf16")
    assert loaded.ran.notices == ("notice: this CPU runs int8 about 4x faster: pip install onnxruntime",)
    assert loaded.restorer(torch.full((1, 1, 16, 16), 0.5)).shape == (1, 1, 16, 16)


@pytest.mark.parametrize(
    "choice, message",
    [(dict(units=9), "is shipped for drrn-b1u25-x234 at 17 units only"),
     (dict(weights="{tiny}"), "is shipped for the shipped weights only")],
)  # fmt: skip
def test_int8_asked_where_it_cannot_run_is_one_line(cpu, tiny_weights, choice, message):
    cpu(VNNI, "native")
    choice = {k: v.format(tiny=tiny_weights) if isinstance(v, str) else v for k, v in choice.items()}
    with pytest.raises(ChoiceError, match=message):
        ModelChoice(device="cpu", precision="int8", **choice).resolve()


def test_another_depth_or_other_weights_run_pytorch_even_where_int8_pays(cpu, tiny_weights):
    cpu(VNNI, "native")
    assert ModelChoice(device="cpu", units=25).resolve().backend == "PyTorch"
    assert ModelChoice(str(tiny_weights), device="cpu").resolve().backend == "PyTorch"
    assert ModelChoice(device="cpu", precision="fp32").resolve().backend == "PyTorch"


@pytest.mark.parametrize("name", sorted(INT8))
def test_each_shipped_int8_file_holds_its_shipped_weights_at_their_depth(name):
    """An int8 file made from other weights (or before the weights were shipped anew) fails here:
    it must be exported again (`drrn-stream export ... --dynamic --int8`, docs/QUALITY.md)."""
    ort = pytest.importorskip("onnxruntime")
    path = int8_path(name)
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert meta["weights_digest"] == find_weights(name).digest()
    assert (int(meta["units"]), meta["precision"], meta["window"]) == (INT8[name][1], "int8", "any")
    assert find_weights(name).run_units == INT8[name][1]  # one default depth


@pytest.mark.parametrize("content", ["clean", "compressed"])
def test_int8_restores_as_pytorch_fp32_does_at_its_depth(cpu, content):
    """Over 40 dB apart (about a level): int8's loss is its rounding, not another model's output;
    for each content's set, and its header still says why it runs."""
    cpu(VNNI, "native")
    int8 = ModelChoice(device="cpu", precision="int8", content=content).load()
    fp32 = ModelChoice(device="cpu", precision="fp32", content=content).load()
    assert int8.ran.weights == fp32.ran.weights and f"for {content} input (as asked)" in str(int8.ran)
    yy, xx = np.mgrid[0:40, 0:48]
    y = torch.from_numpy((0.3 + 0.4 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32))[None, None]
    a, b = int8.restorer(y), fp32.restorer(y)
    mse = ((a - b) * 255).square().mean().item()
    assert a.shape == b.shape == y.shape and 0 < mse and 10 * np.log10(255**2 / mse) > 40
