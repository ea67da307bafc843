"""DRRN as an ONNX file: export (the plain DRRN graph, with what it is in its metadata), and a
Restorer that runs such a file with ONNX Runtime through the tiling the torch path uses.

onnxruntime (it runs exported files, and the shipped int8 model where torch lacks oneDNN's int8
convolutions), onnx and onnxscript (for export) are an optional extra (`pip install -e '.[onnx]'`): without
a module, one line names the command that installs it.
"""

from __future__ import annotations

import importlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
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
        install = "pip install onnxruntime" if module == "onnxruntime" else EXTRA
        raise WeightsError(f"ONNX needs {module.split('.')[0]}: {install}") from None


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


# The global residual's 16-bit ranges, set by DRRN's domain, not by calibration: a range clipped
# to what the calibration patches reached cuts the brightest pixels and the strongest edges of
# other pictures (up to 52 levels off on Set5 x3; with KL calibration -0.9 to -1.9 dB). 16 bits
# over these spans step 0.006 to 0.008 levels.
LUMA_RANGE, RESIDUAL_RANGE, OUTPUT_RANGE = (0.0, 1.5), (-1.0, 1.0), (-0.5, 1.5)  # luma: after its ReLU
CALIBRATION = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}  # -> ORT's CalibrationMethod


def quantize_int8(
    fp32: Path, dst: Path, patches: list[np.ndarray], method: str, on_patch: Callable[[], None] = lambda: None
) -> None:
    """Static int8 in QDQ form (ONNX Runtime's quantizer): per-channel int8 weights, uint8
    activations whose ranges `method` sets from running `patches` (float32 1 x 1 x h x w bicubic
    luma, as DRRN sees it) through the float model one at a time (memory: one patch's
    activations). The global residual stays at 16 bits: the input luma, the residual the last
    conv predicts, and their sum, the output, where 8 bits would put a step of about one level
    into the picture itself. On Set5 that is -0.02 to -0.04 dB instead of -0.11 to -0.13 with
    every activation 8-bit, at int8's speed: every conv but the first and last still reads 8-bit
    input (docs/QUALITY.md). `on_patch` is called as each patch is run (a progress display)."""
    q, onnx = need("onnxruntime.quantization"), need("onnx")
    nodes = onnx.load(str(fp32)).graph.node
    made_by = {name: node.op_type for node in nodes for name in node.output}
    last = [node for node in nodes if node.op_type == "Add"][-1]  # output = last conv's residual + input luma
    residual = next(name for name in last.input if made_by.get(name) == "Conv")
    luma = next(name for name in last.input if name != residual)
    wide = {luma: LUMA_RANGE, residual: RESIDUAL_RANGE, last.output[0]: OUTPUT_RANGE}

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
            if patch is None:
                return None
            on_patch()
            return {"y": patch}

    overrides = {
        name: [{"quant_type": q.QuantType.QUInt16, "rmin": np.float32(low), "rmax": np.float32(high)}]
        for name, (low, high) in wide.items()
    }
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


def any_size(path: Path) -> bytes:
    """A one-window file (what deployment runtimes take) as one taking any N, H and W. Its convs hold no
    size, so ONNX Runtime then runs the windows the torch path cuts, frame borders where the torch path
    has them: a frame smaller than the window is no longer padded, and comes out as PyTorch's does."""
    proto = need("onnx").load(str(path))
    for value in (*proto.graph.input, *proto.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, ("n", "c", "h", "w"), strict=True):
            if name != "c":
                dim.Clear()
                dim.dim_param = name
    del proto.graph.value_info[:]  # shapes inferred for the window
    return proto.SerializeToString()


class OnnxRestorer:
    """An exported DRRN run by ONNX Runtime (its CPU provider, or CUDA or TensorRT where present):
    float luma N x 1 x H x W in [0, 1] in, restored out, like kernels.inference.Restorer."""

    def __init__(self, path: Path, device: torch.device, tiling: Tiling) -> None:
        ort = need("onnxruntime")
        gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device.type == "cuda" else []
        self.providers = [p for p in gpu if p in ort.get_available_providers()] + ["CPUExecutionProvider"]
        self.session = self._open(str(path), path)
        first = self._check_shape(path)
        if isinstance(first.shape[2], int):  # one fixed window: opened again with its size freed
            self.session = self._open(any_size(path), path)
            first = self.session.get_inputs()[0]
        self.input_name, self.provider = first.name, self.session.get_providers()[0]
        self.dtype = np.float16 if "float16" in first.type else np.float32
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.units, self.channels = int(self.metadata.get("units", 25)), int(self.metadata.get("channels", 128))
        self.variable_depth = False  # the exported graph unrolls its units
        self.device = torch.device("cpu")
        self.precision = self.metadata.get("precision", "fp16" if self.dtype == np.float16 else "fp32")
        self.backend = f"ONNX Runtime ({self.provider})"
        self.tiling = tiling

    def _open(self, model: str | bytes, path: Path) -> object:
        """An ORT session of the file (or of its bytes), one thread budget with torch's (a chunk worker's share)."""
        ort = need("onnxruntime")
        threads = ort.SessionOptions()
        threads.intra_op_num_threads = torch.get_num_threads()
        try:
            return ort.InferenceSession(model, threads, providers=self.providers)
        except Exception as e:  # ORT raises its own exception types for unreadable files
            raise WeightsError(f"{path}: not a runnable ONNX file ({str(e).strip().splitlines()[0]})") from None

    def _check_shape(self, path: Path) -> object:
        """The one input (ORT's NodeArg): N x 1 x H x W, with H and W both fixed and equal (one window,
        N fixed at 1) or both free, and one output like it; else one line saying what the file takes."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shapes = [list(value.shape) for value in (*inputs, *outputs)]
        if len(inputs) == len(outputs) == 1 and all(len(shape) == 4 and shape[1] == 1 for shape in shapes):
            n, _, h, w = shapes[0]
            if (not isinstance(h, int) and not isinstance(w, int)) or (n == 1 and isinstance(h, int) and h == w):
                return inputs[0]
        takes = " and ".join(" x ".join(map(str, shape)) for shape in shapes)
        raise WeightsError(f"{path}: takes and gives {takes}; DRRN takes N x 1 x H x W luma and gives the same "
                           "(or one 1 x 1 x W x W window)")  # fmt: skip

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.numpy().astype(self.dtype)})[0]
        return torch.from_numpy(out.astype(np.float32))

    def __call__(self, y: torch.Tensor, units: int | None = None) -> torch.Tensor:
        if units not in (None, self.units):
            raise ValueError(f"this ONNX file runs {self.units} units, not {units}: its graph unrolls them")
        return run_tiled(self._run, y.detach().to("cpu", torch.float32), self.tiling)
