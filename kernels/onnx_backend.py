"""DRRN as an ONNX file: export (the plain DRRN graph, with what it is in its metadata), and a
Restorer that runs such a file with ONNX Runtime through the tiling the torch path uses.

onnx, onnxscript and onnxruntime are an optional extra (`pip install -e '.[onnx]'`); without it,
anything ONNX is one line naming that command.
"""

from __future__ import annotations

import importlib
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from kernels.errors import WeightsError
from kernels.model import DRRN
from kernels.tiling import Tiling, run_tiled

EXTRA = "pip install -e '.[onnx]'"
OPSET = 18
VALUE_RANGE = "studio-range luma / 255: 16/255 (black) to 235/255 (white), bicubic-upscaled; output the same"


def need(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise WeightsError(f"ONNX needs the optional extra: {EXTRA}") from None


def export_onnx(model: DRRN, path: Path, window: int | None, fp16: bool, metadata: dict[str, str]) -> None:
    """`model` as ONNX at `path`: input "y" N x 1 x window x window (None: any N, H, W), output
    "restored" alike, float32 or (fp16) float16; `metadata` goes into the file's metadata_props."""
    need("onnx")
    need("onnxscript")  # torch's exporter needs it
    model = model.eval().half() if fp16 else model.eval()
    x = torch.rand(1, 1, window or 64, window or 64, dtype=torch.float16 if fp16 else torch.float32)
    dims = {0: torch.export.Dim("n"), 2: torch.export.Dim("h", min=4), 3: torch.export.Dim("w", min=4)}
    with quiet_exporter():
        program = torch.onnx.export(
            model, (x,), dynamo=True, opset_version=OPSET, input_names=["y"], output_names=["restored"],
            dynamic_shapes=None if window else {"x": dims}, verbose=False,
        )  # fmt: skip
    save_with_metadata(program.model_proto, path, metadata)


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """torch's exporter and ONNX Runtime's quantizer print steps and advice: none of it is for the user."""
    logging.disable(logging.WARNING)  # torch.onnx's steps, ONNX Runtime's quantizer's advice
    try:
        with redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


CALIBRATION = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}  # -> ORT's CalibrationMethod


def quantize_int8(fp32: Path, dst: Path, patches: list[np.ndarray], method: str) -> None:
    """Static int8 in QDQ form (ONNX Runtime's quantizer): per-channel int8 weights, uint8
    activations whose ranges `method` sets from running `patches` (float32 1 x 1 x h x w bicubic
    luma, as DRRN sees it) through the float model one at a time (memory: one patch's
    activations); except the residual sums (the Add outputs), kept at 16 bits: on the shipped
    B1U25 they carry the loss (Set5 x2 -0.131 dB all 8-bit, -0.093 with them at 16), at no
    measurable cost in speed (docs/QUALITY.md)."""
    q, onnx = need("onnxruntime.quantization"), need("onnx")
    sums = [node.output[0] for node in onnx.load(str(fp32)).graph.node if node.op_type == "Add"]

    class Reader(q.CalibrationDataReader):
        """The patches, in the ranges ORT's strided calibration asks for."""

        def __init__(self) -> None:
            self.todo: Iterator[np.ndarray] = iter(patches)

        def __len__(self) -> int:
            return len(patches)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.todo = iter(patches[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            patch = next(self.todo, None)
            return None if patch is None else {"y": patch}

    overrides = {name: [{"quant_type": q.QuantType.QUInt16}] for name in sums}
    with quiet_exporter():
        q.quantize_static(
            str(fp32), str(dst), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
            activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
            calibrate_method=getattr(q.CalibrationMethod, CALIBRATION[method]),
            extra_options={
                "TensorQuantOverrides": overrides, "UseQDQContribOps": True,  # 16-bit Q/DQ ops
                "CalibStridedMinMax": 1,  # ranges merged patch by patch (every method), not all held at once
            },
        )  # fmt: skip


def set_metadata(path: Path, metadata: dict[str, str], window: int | None = None) -> None:
    """Replace the metadata of the ONNX file at `path` (the quantizer keeps none of its own) and,
    given a `window`, make its input and output 1 x 1 x window x window: int8 is calibrated on a
    dynamic twin, whose small patches cost a fraction of a window's time and memory."""
    proto = need("onnx").load(str(path))
    for value in (*proto.graph.input, *proto.graph.output) if window else ():
        for dim, size in zip(value.type.tensor_type.shape.dim, (1, 1, window, window), strict=True):
            dim.Clear()
            dim.dim_value = size
    del proto.graph.value_info[:]  # shapes inferred for the dynamic twin
    save_with_metadata(proto, path, metadata)


def save_with_metadata(proto: object, path: Path, metadata: dict[str, str]) -> None:
    """`proto` (an onnx.ModelProto) with exactly `metadata` as its metadata_props, checked, saved at `path`."""
    onnx = need("onnx")
    del proto.metadata_props[:]  # type: ignore[attr-defined]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)  # type: ignore[attr-defined]
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


class OnnxRestorer:
    """An exported DRRN run by ONNX Runtime (its CPU provider, or CUDA or TensorRT where present):
    float luma N x 1 x H x W in [0, 1] in, restored out, like kernels.inference.Restorer."""

    def __init__(self, path: Path, device: torch.device, tiling: Tiling) -> None:
        ort = need("onnxruntime")
        gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device.type == "cuda" else []
        providers = [p for p in gpu if p in ort.get_available_providers()] + ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as e:  # ORT raises its own exception types for unreadable files
            raise WeightsError(f"{path}: not a runnable ONNX file ({str(e).strip().splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        first = inputs[0]
        if (
            len(inputs) != 1
            or len(outputs) != 1
            or any(len(v.shape) != 4 or v.shape[1] != 1 for v in (first, *outputs))
        ):
            shape = " x ".join(map(str, first.shape))
            raise WeightsError(f"{path}: takes {shape}; DRRN takes N x 1 x H x W luma and gives the same")
        self.input_name, self.provider = first.name, self.session.get_providers()[0]
        self.dtype = np.float16 if "float16" in first.type else np.float32
        self.window = first.shape[2] if isinstance(first.shape[2], int) else None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.units, self.channels = int(self.metadata.get("units", 25)), int(self.metadata.get("channels", 128))
        self.device = torch.device("cpu")
        self.precision = self.metadata.get("precision", "fp16" if self.dtype == np.float16 else "fp32")
        self.backend = f"ONNX Runtime ({self.provider})"
        halo = int(self.metadata.get("halo", tiling.halo))
        self.tiling = Tiling(self.window - 2 * halo, halo, 1, fixed=True) if self.window else tiling

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.numpy().astype(self.dtype)})[0]
        return torch.from_numpy(out.astype(np.float32))

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return run_tiled(self._run, y.detach().to("cpu", torch.float32), self.tiling)
