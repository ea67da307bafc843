"""A ModelChoice settled on this machine: the device, the precision policy, the backend, the depth
and the tiling, decided here and nowhere else (kernels/choice.py says what each option means)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from kernels import onednn
from kernels.choice import CONTENT_WORDS, Loaded, ModelChoice, Precision, Resolved
from kernels.errors import ChoiceError
from kernels.inference import Restorer, Restores, cpu_bf16, cpu_flags, cpu_has_native_bf16
from kernels.pretrained import INT8, int8_path
from kernels.tiling import tiling_for
from kernels.weights import Weights, build_drrn, describe, find_weights

EMULATED_BF16 = (
    "warning: this CPU has no bf16 instructions (AVX512-BF16, AMX): bf16 is emulated, 3-14x slower than fp32 "
    "(docs/PERFORMANCE.md); --precision fp32 is faster here"
)
NO_BF16 = "notice: this CPU cannot run bf16 convolutions (oneDNN needs AVX-512 or AMX); running fp32"
INT8_FLAGS = {"avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI"}  # /proc/cpuinfo's names


def device_for(device: str = "auto") -> torch.device:
    """--device as a torch device: auto is the first GPU where CUDA is available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ChoiceError(f"--device {device}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ChoiceError(f"--device {device}: expected auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ChoiceError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def precision_for(precision: Precision, device: torch.device) -> tuple[str, tuple[str, ...]]:
    """The precision that runs, and what the user should hear about it. auto: fp16 on CUDA, bf16 on
    a CPU with bf16 instructions, else fp32 (where int8 does not run: settle and shipped_int8 ask that
    first). bf16 asked of a CPU without them runs emulated (with a warning), or, where oneDNN has no
    bf16 convolution at all (AVX2 only), fp32 (with a notice)."""
    if precision == "auto":
        return ("fp16" if device.type == "cuda" else "bf16" if cpu_has_native_bf16() else "fp32"), ()
    if precision == "fp16" and device.type == "cpu":
        raise ChoiceError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    if device.type == "cpu" and precision == "bf16" and (support := cpu_bf16()) != "native":
        return ("fp32", (NO_BF16,)) if support == "none" else ("bf16", (EMULATED_BF16,))
    return precision, ()


def resolve(choice: ModelChoice) -> Resolved:
    return replace(settle(shipped_int8(choice) or choice)[0], content=content_words(choice))


def load(choice: ModelChoice) -> Loaded:
    """The restorer for `choice`: ONNX Runtime for an .onnx file (or the shipped int8 export where
    it runs by default), else PyTorch on the device."""
    runs = shipped_int8(choice) or choice
    if runs.onnx:
        loaded = settle_onnx(runs)
    else:
        ran, weights = settle(runs)
        model = build_drrn(weights, ran.units)
        restorer = Restorer(model, torch.device(ran.device), ran.precision, ran.tiling, weights.int8_peaks)
        loaded = Loaded(restorer, weights, ran)
    return replace(loaded, ran=replace(loaded.ran, content=content_words(choice)))


def settle(choice: ModelChoice) -> tuple[Resolved, Weights]:
    """Every default of `choice` decided (the weights read, not yet on the device) for PyTorch."""
    if choice.onnx:
        loaded = settle_onnx(choice)
        return loaded.ran, loaded.weights
    device = device_for(choice.device)
    weights = find_weights(choice.weights_name)
    units = choice.units or choice.content_units or weights.run_units
    if onednn_int8_runs(choice, device, weights, units):
        precision, notices, backend = "int8", (), onednn.INT8_BACKEND.replace(")", f", {int8_kernels()})")
    else:
        (precision, notices), backend = precision_for(choice.precision, device), "PyTorch"
        notices += too_deep_for_int8(choice, device, weights, units, precision)
    tiling = tiling_for(device, choice.tile, choice.halo, choice.batch)
    notices += int8_notices(choice, device, units)
    ran = Resolved(describe(weights), units, weights.units, str(device), precision, backend, tiling, notices)
    return ran, weights


def content_words(choice: ModelChoice) -> str:
    """Why the shipped set for a content runs, for the header: "compressed input (h264, quantiser 31)";
    "" where weights were named, or where nothing was judged or asked (the default set)."""
    if choice.weights is not None or not (choice.evidence or choice.content != "auto"):
        return ""
    kind = CONTENT_WORDS["clean" if choice.content == "auto" else choice.content]
    return f"{kind} input ({choice.evidence or 'as asked'})"


def int8_isa() -> str:
    """The CPU's int8 dot-product instructions ("AVX512-VNNI", "AVX-VNNI"), or ""."""
    flags = cpu_flags()
    return next((name for flag, name in INT8_FLAGS.items() if flag in flags), "")


def onednn_int8_auto() -> bool:
    """Whether auto runs int8 as oneDNN's convolutions through PyTorch: on every x86 CPU with AVX2 where torch
    has them. With AMX 1.7x PyTorch's bf16 at -0.007 dB (Intel Xeon); with VNNI alone as fast as the shipped
    ONNX file (923 against 940 ms a 320x240 frame, AMD EPYC, AVX512-VNNI) at -0.007 dB where the file loses
    -0.018, at any depth and for any calibrated weights, and 1.9x PyTorch's bf16 there; without VNNI 2.0x
    PyTorch's fp32 on AVX2 kernels (docs/PERFORMANCE.md). The shipped ONNX file is the fallback where torch
    lacks them (int8_pays)."""
    return onednn.int8_available() and "avx2" in cpu_flags()


def int8_kernels() -> str:
    """The instructions oneDNN's int8 convolutions use here, as the header names them: why int8 runs."""
    flags = cpu_flags()
    if "amx_int8" in flags:
        return "AMX"
    return int8_isa() or ("AVX-512" if "avx512bw" in flags else "AVX2")


def onednn_int8_runs(choice: ModelChoice, device: torch.device, weights: Weights, units: int) -> bool:
    """Whether `choice` runs oneDNN's int8 forward: auto or --precision int8 where onednn_int8_auto says so,
    weights calibrated for int8 at least `units` deep (the shipped ones are). int8 asked but not so: one line."""
    if device.type != "cpu" or choice.precision not in ("auto", "int8"):
        return False
    if not onednn_int8_auto():
        return False
    peaks = weights.int8_peaks
    if peaks is not None and units <= peaks.units:
        return True
    if choice.precision == "int8":
        state = "not calibrated for int8" if peaks is None else f"calibrated for int8 up to {peaks.units} units"
        raise ChoiceError(
            f"--precision int8: {weights.source} {state}; calibrate them with drrn-stream convert "
            "WEIGHTS OUT.safetensors --calibration IMAGES"
        )
    return False


def int8_pays() -> bool:
    """Whether the shipped int8 model is this CPU's fastest path where oneDNN's int8 does not run through torch
    (onednn_int8_auto asked first): with VNNI, int8 runs 3.9x PyTorch fp32 (AMD EPYC, AVX512-VNNI/BF16);
    without it ONNX Runtime's int8 gains far less; with AMX, bf16 on AMX is faster (Intel Xeon,
    docs/PERFORMANCE.md)."""
    return bool(int8_isa()) and "amx_bf16" not in cpu_flags()


def has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def shipped_int8(choice: ModelChoice) -> ModelChoice | None:
    """The choice rewritten to the shipped int8 export where that is what runs: on a CPU where torch cannot
    run oneDNN's int8 (else settle runs int8 through PyTorch), shipped weights at the export's depth, with
    ONNX Runtime, and --precision int8, or auto where int8 pays. --precision int8 that cannot run so is a
    one-line error."""
    if choice.onnx or choice.precision not in ("auto", "int8"):
        return None
    if device_for(choice.device).type != "cpu":
        if choice.precision == "int8":
            raise ChoiceError("--precision int8 runs on the CPU; on CUDA fp16 is the fast path")
        return None
    if onednn_int8_auto():
        return None  # int8 runs through PyTorch here (settle)
    path = shipped_int8_file(choice, choice.units or choice.content_units)
    if path is not None and (choice.precision == "int8" or int8_pays()) and has_onnxruntime():
        return replace(choice, weights=str(path), units=None, precision="auto")
    if choice.precision == "int8":
        raise ChoiceError(f"--precision int8 {int8_refusal(choice, path)}")
    return None


def shipped_int8_file(choice: ModelChoice, units: int | None) -> Path | None:
    """The shipped int8 export of `choice`'s weights at depth `units` (None: the export's own), if there is one."""
    name = choice.weights_name
    if name not in INT8 or Path(name).exists() or units not in (None, INT8[name][1]):
        return None
    return int8_path(name)


def int8_refusal(choice: ModelChoice, path: Path | None) -> str:
    """Why --precision int8 cannot run, `path` being the shipped export that would hold the weights."""
    name = choice.weights_name
    if path is not None:
        return "needs onnxruntime (pip install onnxruntime)"
    if name in INT8 and not Path(name).exists():
        return f"is shipped for {name} at {INT8[name][1]} units only"
    return (
        "is shipped for the shipped weights only; export your own: drrn-stream export F.onnx --dynamic --int8 "
        "--calibration DIR"
    )


def too_deep_for_int8(choice: ModelChoice, device: torch.device, weights: Weights, units: int, precision: str
                      ) -> tuple[str, ...]:  # fmt: skip
    """Why auto runs no int8 where int8 would run: --units deeper than the weights were calibrated for (the header
    said bf16, slower, and not why)."""
    peaks = weights.int8_peaks
    if device.type != "cpu" or choice.precision != "auto" or not onednn_int8_auto() or peaks is None:
        return ()
    if units <= peaks.units:
        return ()
    return (f"notice: {weights.source} is calibrated for int8 up to {peaks.units} units: {units} run in {precision}",)


def int8_notices(choice: ModelChoice, device: torch.device, units: int) -> tuple[str, ...]:
    """Where the ONNX file would be int8's default way (torch lacking oneDNN's int8) but onnxruntime is missing:
    how to get it."""
    if device.type != "cpu" or choice.precision != "auto" or onednn_int8_auto():
        return ()
    if shipped_int8_file(choice, units) is not None and int8_pays() and not has_onnxruntime():
        return ("notice: this CPU runs int8 about 4x faster: pip install onnxruntime",)
    return ()


def onnx_restorer(choice: ModelChoice) -> Restores:
    from kernels.onnx_backend import OnnxRestorer

    path = Path(str(choice.weights))
    if not path.is_file():
        raise ChoiceError(f"{path}: no such file")
    device = device_for(choice.device)
    return OnnxRestorer(path, device, tiling_for(torch.device("cpu"), choice.tile, choice.halo, choice.batch))


def settle_onnx(choice: ModelChoice) -> Loaded:
    """An exported file decides its own depth, precision and (for one window) tiling: its session,
    opened once, says which."""
    restorer = onnx_restorer(choice)
    if choice.units is not None and choice.units != restorer.units:
        raise ChoiceError(
            f"{choice.weights}: exported with {restorer.units} units; --units {choice.units} needs another export"
        )
    if choice.precision not in ("auto", restorer.precision):  # --precision bf16 ran the file's fp32 without a word
        raise ChoiceError(
            f"{choice.weights}: exported in {restorer.precision}; --precision {choice.precision} needs another export"
        )
    trained = int(restorer.metadata.get("trained_units", restorer.units))  # an export at another depth says
    weights = Weights({}, restorer.metadata | {"units": str(trained)}, source=Path(str(choice.weights)).name)
    backend = restorer.backend
    if restorer.precision == "int8" and restorer.device.type == "cpu" and (isa := int8_isa()):
        backend = f"{backend.removesuffix(')')}, {isa})"  # what makes int8 pay here
    ran = Resolved(describe(weights), restorer.units, trained, str(restorer.device), restorer.precision, backend,
                   restorer.tiling)  # fmt: skip
    return Loaded(restorer, weights, ran)
