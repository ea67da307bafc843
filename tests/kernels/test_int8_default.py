"""The CPU default of issue #24: int8 where it pays (oneDNN's kernels through PyTorch on any x86 CPU with
AVX2: AMX, VNNI, AVX-512 or AVX2 kernels; the shipped ONNX file through ONNX Runtime where torch lacks them
and the CPU has VNNI), PyTorch bf16 or fp32 elsewhere."""

import numpy as np
import pytest
import torch

from kernels import onednn, resolve
from kernels.choice import ModelChoice
from kernels.errors import ChoiceError
from kernels.pretrained import COMPRESSED, CONTENT_WEIGHTS, DEFAULT_PRETRAINED, HEAVY, INT8, int8_path
from kernels.weights import find_weights

VNNI = {"avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"}  # these machines' kinds, as /proc/cpuinfo says
AMX = VNNI | {"amx_tile", "amx_int8", "amx_bf16"}
AVX512_NO_VNNI = {"avx2", "avx512f", "avx512bw"}
AVX2_ONLY = {"avx2", "fma"}
NO_AVX2 = {"sse4_2"}
ONNX_CPU = "ONNX Runtime (CPUExecutionProvider"


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to be a CPU kind: its flags for the int8 choice, and its bf16 support to match."""

    def be(flags: set[str], bf16: str) -> None:
        monkeypatch.setattr(resolve, "cpu_flags", lambda: flags)
        monkeypatch.setattr(resolve, "cpu_bf16", lambda: bf16)
        monkeypatch.setattr(resolve, "cpu_has_native_bf16", lambda: bf16 == "native")

    return be


@pytest.mark.parametrize(
    "flags, bf16, why",
    [(VNNI, "native", "AVX512-VNNI"), (AVX512_NO_VNNI, "emulated", "AVX-512"), (AVX2_ONLY, "none", "AVX2"),
     (AMX, "native", "AMX"), ({"avx2", "avx_vnni"}, "none", "AVX-VNNI")],
)  # fmt: skip
def test_the_default_per_cpu_kind_is_int8(cpu, flags, bf16, why):
    cpu(flags, bf16)
    if not onednn.int8_available():
        pytest.skip("this torch has no oneDNN int8 convolutions (the next tests pretend so)")
    ran = ModelChoice(device="cpu").resolve()
    assert (ran.backend, ran.precision) == (f"PyTorch (oneDNN, {why})", "int8")
    assert ran.units == INT8[DEFAULT_PRETRAINED][1] and ran.trained_units == 25  # the default depth either way
    assert f", {why})" in ran.backend and f"{why})" in str(ran)  # the header says why int8 runs


@pytest.mark.parametrize(
    "flags, bf16, backend, precision",
    [(AMX, "native", "PyTorch", "bf16"), (AVX512_NO_VNNI, "emulated", "PyTorch", "fp32"),
     (AVX2_ONLY, "none", "PyTorch", "fp32"), (VNNI, "native", f"{ONNX_CPU}, AVX512-VNNI)", "int8")],
)  # fmt: skip
def test_without_int8_convs_in_torch_as_before_the_file_with_vnni(cpu, monkeypatch, flags, bf16, backend, precision):
    cpu(flags, bf16)
    monkeypatch.setattr(resolve.onednn, "int8_available", lambda: False)
    if backend.startswith("ONNX"):
        pytest.importorskip("onnxruntime")
    ran = ModelChoice(device="cpu").resolve()
    assert (ran.backend, ran.precision) == (backend, precision)


def test_without_avx2_fp32_runs(cpu):
    cpu(NO_AVX2, "none")
    ran = ModelChoice(device="cpu").resolve()
    assert (ran.backend, ran.precision) == ("PyTorch", "fp32")


def test_with_amx_int8_runs_any_calibrated_depth_and_says_what_it_cannot(cpu, tiny_weights):
    cpu(AMX, "native")
    assert ModelChoice(device="cpu", units=25).resolve().precision == "int8"  # not only the ONNX file's 17
    deeper = ModelChoice(device="cpu", units=26).resolve()  # past the calibration: auto moves on, and says why
    assert deeper.precision == "bf16" and deeper.notices == (
        f"notice: {DEFAULT_PRETRAINED}.safetensors is calibrated for int8 up to 25 units: 26 run in bf16",
    )
    assert ModelChoice(device="cpu", units=25).resolve().notices == ()
    with pytest.raises(ChoiceError, match="calibrated for int8 up to 25 units"):
        ModelChoice(device="cpu", units=26, precision="int8").resolve()
    assert ModelChoice(str(tiny_weights), device="cpu").resolve().precision == "bf16"
    with pytest.raises(ChoiceError, match=r"tiny\.safetensors not calibrated for int8; calibrate them with drrn"):
        ModelChoice(str(tiny_weights), device="cpu", precision="int8").resolve()


def test_without_onnxruntime_a_notice_and_pytorch_runs(cpu, monkeypatch):
    """Only where the ONNX file is int8's way (torch without oneDNN's int8 convolutions) does it matter."""
    cpu(VNNI, "native")
    monkeypatch.setattr(resolve.onednn, "int8_available", lambda: False)
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
    cpu(NO_AVX2, "none")  # no int8 kernels of oneDNN's: only the shipped ONNX file runs int8
    choice = {k: v.format(tiny=tiny_weights) if isinstance(v, str) else v for k, v in choice.items()}
    with pytest.raises(ChoiceError, match=message):
        ModelChoice(device="cpu", precision="int8", **choice).resolve()


@pytest.mark.skipif(not onednn.int8_available(), reason="this torch has no oneDNN int8 convolutions")
def test_with_vnni_int8_runs_any_depth_through_pytorch_without_onnxruntime(cpu, tiny_weights, monkeypatch):
    """The ONNX file's depth or another, with onnxruntime or without: oneDNN's int8 on VNNI kernels, the header
    saying so; weights not calibrated for it run bf16, or say why when int8 is asked."""
    cpu(VNNI, "native")
    monkeypatch.setattr(resolve, "has_onnxruntime", lambda: False)
    for units in (None, 9, 25):
        ran = ModelChoice(device="cpu", units=units).resolve()
        assert (ran.precision, ran.backend, ran.units) == ("int8", "PyTorch (oneDNN, AVX512-VNNI)", units or 17)
        assert not ran.notices
    assert ModelChoice(str(tiny_weights), device="cpu").resolve().precision == "bf16"
    with pytest.raises(ChoiceError, match=r"tiny\.safetensors not calibrated for int8; calibrate them with drrn"):
        ModelChoice(str(tiny_weights), device="cpu", precision="int8").resolve()


def test_where_only_the_onnx_file_runs_int8_other_depths_and_weights_run_pytorch(cpu, tiny_weights, monkeypatch):
    cpu(VNNI, "native")
    monkeypatch.setattr(resolve.onednn, "int8_available", lambda: False)
    assert ModelChoice(device="cpu", units=25).resolve().backend == "PyTorch"
    assert ModelChoice(str(tiny_weights), device="cpu").resolve().backend == "PyTorch"
    assert ModelChoice(device="cpu", precision="fp32").resolve().backend == "PyTorch"


def test_each_content_runs_its_own_sets_int8_file_at_its_depth(cpu, monkeypatch):
    """Where the ONNX files are int8's way, each runs at its own depth: heavily compressed input takes its set's
    file at the depth it runs, compressed input its own set's; another depth runs PyTorch."""
    pytest.importorskip("onnxruntime")
    cpu(VNNI, "native")
    monkeypatch.setattr(resolve.onednn, "int8_available", lambda: False)
    heavy = ModelChoice(device="cpu", content="heavy").resolve()
    assert heavy.backend.startswith("ONNX Runtime") and heavy.units == INT8[HEAVY][1]
    assert heavy.weights.startswith(f"{HEAVY} (") and heavy.units == ModelChoice(content="heavy").content_units
    compressed = ModelChoice(device="cpu", content="compressed").resolve()
    assert compressed.backend.startswith("ONNX Runtime") and compressed.weights.startswith(f"{COMPRESSED} (")
    assert compressed.units == INT8[COMPRESSED][1]
    assert ModelChoice(device="cpu", content="heavy", units=17).resolve().backend == "PyTorch"


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


@pytest.mark.parametrize("kind", ["ONNX", "VNNI", "AMX", "AVX2"])
@pytest.mark.parametrize("content", ["clean", "compressed"])
def test_int8_restores_as_pytorch_fp32_does_at_its_depth(cpu, monkeypatch, content, kind):
    """Over 40 dB apart (about a level): int8's loss is its rounding, not another model's output;
    for each content's set and each int8 engine (ONNX: the shipped file, where torch has no oneDNN int8),
    and its header still says why it runs. oneDNN's int8 runs on whatever instructions this CPU has (AVX2
    at least: the kernels its dispatch picks)."""
    if kind == "ONNX":
        pytest.importorskip("onnxruntime")
        monkeypatch.setattr(resolve.onednn, "int8_available", lambda: False)
    elif not onednn.int8_available():
        pytest.skip("this torch has no oneDNN int8 convolutions")
    cpu({"ONNX": VNNI, "VNNI": VNNI, "AMX": AMX, "AVX2": AVX2_ONLY}[kind], "native" if kind != "AVX2" else "none")
    int8 = ModelChoice(device="cpu", precision="int8", content=content).load()
    fp32 = ModelChoice(device="cpu", precision="fp32", content=content).load()
    assert int8.ran.weights == fp32.ran.weights and f"for {content} input (as asked)" in str(int8.ran)
    depth = INT8[CONTENT_WEIGHTS[content]][1]  # the set's own default depth, as its int8 file's
    assert ("VNNI" if kind == "ONNX" else kind) in int8.ran.backend and int8.ran.units == fp32.ran.units == depth
    assert int8.ran.backend.startswith("ONNX Runtime" if kind == "ONNX" else "PyTorch (oneDNN")
    yy, xx = np.mgrid[0:40, 0:48]
    y = torch.from_numpy((0.3 + 0.4 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32))[None, None]
    a, b = int8.restorer(y), fp32.restorer(y)
    mse = ((a - b) * 255).square().mean().item()
    assert a.shape == b.shape == y.shape and 0 < mse and 10 * np.log10(255**2 / mse) > 40
