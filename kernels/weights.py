"""DRRN weights: our safetensors format, and converters from the formats DRRN ships in.

Every foreign file is mapped onto our parameter names by an explicit key map, with a shape
check per tensor. Formats: our safetensors (with metadata), MXNet `.params` (the reference
file), checkpoints of the upstream PyTorch port (a pickled model under "model", maybe wrapped
in DataParallel), and plain state dicts (.pth or .safetensors). Pickles are read with
`kernels.safe_pickle`, so loading a file never runs code from it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from kernels import safe_pickle
from kernels.errors import WeightsError, reason
from kernels.model import DRRN, DRRNConfig
from kernels.onednn import PEAKS_KEY, ActivationPeaks
from kernels.pretrained import DEFAULT_PRETRAINED, PRETRAINED, pretrained_path

# Our parameter name -> the names other DRRN releases use for the same tensor.
KEY_MAP: dict[str, tuple[str, ...]] = {
    "conv_in.weight": ("input.weight", "arg:learned_0"),
    "conv_a.weight": ("conv1.weight", "arg:learned_1"),
    "conv_b.weight": ("conv2.weight", "arg:learned_2"),
    "conv_out.weight": ("output.weight", "arg:learned_3"),
}
_ALIASES = {alias: ours for ours, aliases in KEY_MAP.items() for alias in (ours, *aliases)}
# Wrappers that checkpoints put around the model's own names.
_WRAPPER_PREFIXES = ("module.", "model.", "state_dict.", "net.")


# Depth curves a weights file may record, each {series: {units: dB}}: Set5 per scale ("x2": ...), real clips
# at x2 per LR coding ("clean", "x264:crf=23"), and per scale on LR coded lightly or heavily ("x2 x264:crf=18",
# "x2 x264:crf=33"); docs/QUALITY.md has the runs behind them. Which curves each kind of input's default depth
# follows: lightly and heavily coded input (stream.content judges them from the quantiser) those of such LR,
# where the weights record them; any other the rest.
DEPTH_CURVES = {
    "default": ("psnr_by_units_Set5", "psnr_by_units_clips_x2"),
    "light": ("psnr_by_units_clips_light",),
    "heavy": ("psnr_by_units_clips_heavy",),
}
DEPTH_TOLERANCE = 0.02  # dB: a depth this close to the best on every curve is as good (issue #24)


def curve_depth(metadata: Mapping[str, str], kind: str = "default") -> int | None:
    """The cheapest depth within DEPTH_TOLERANCE dB of the best on every series of the `kind` depth curves
    that `metadata` records, among the depths all of them measured; None where it records none."""
    series = [
        {int(units): psnr for units, psnr in by_units.items()}
        for key in DEPTH_CURVES[kind]
        if key in metadata
        for by_units in json.loads(metadata[key]).values()
    ]
    if not series:
        return None
    depths = sorted(set.intersection(*(set(s) for s in series)))
    return next(u for u in depths if all(s[u] >= max(s.values()) - DEPTH_TOLERANCE for s in series))


@dataclass
class Weights:
    state_dict: dict[str, torch.Tensor]  # our names, float32
    metadata: dict[str, str] = field(default_factory=dict)  # strings, as safetensors stores them
    source: str = ""  # the file it was read from

    @property
    def units(self) -> int:
        """The depth the weights were trained at."""
        return int(self.metadata.get("units", DRRNConfig.units))

    @property
    def run_units(self) -> int:
        """The depth to run unless asked: the one the default depth curves the weights record say
        (curve_depth); the trained depth where they record none."""
        return curve_depth(self.metadata) or self.units

    @property
    def int8_peaks(self) -> ActivationPeaks | None:
        """The activation peaks calibrated for the int8 forward (`drrn-stream convert --calibration`), if any."""
        return ActivationPeaks.from_json(self.metadata[PEAKS_KEY]) if PEAKS_KEY in self.metadata else None

    def digest(self) -> str:
        """sha256 of the tensors (our names, in order): what an export records of the weights it holds."""
        sha = hashlib.sha256()
        for name in sorted(self.state_dict):
            sha.update(name.encode())
            sha.update(self.state_dict[name].detach().to(torch.float32).contiguous().numpy().tobytes())
        return sha.hexdigest()


def expected_shapes(channels: int = DRRNConfig.channels) -> dict[str, tuple[int, ...]]:
    return {
        "conv_in.weight": (channels, 1, 3, 3),
        "conv_a.weight": (channels, channels, 3, 3),
        "conv_b.weight": (channels, channels, 3, 3),
        "conv_out.weight": (1, channels, 3, 3),
    }


def to_our_names(tensors: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Apply KEY_MAP to a foreign state dict and check every tensor's shape."""
    ours: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        name = key
        while name.startswith(_WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if name not in _ALIASES:
            raise WeightsError(f"{source}: unexpected tensor {key!r}; is this a DRRN checkpoint?")
        ours[_ALIASES[name]] = tensor.detach().to(torch.float32).contiguous()
    missing = sorted(set(KEY_MAP) - set(ours))
    if missing:
        raise WeightsError(f"{source}: missing {', '.join(missing)}; is this a DRRN checkpoint?")
    channels = ours["conv_a.weight"].shape[0]
    for name, shape in expected_shapes(channels).items():
        if tuple(ours[name].shape) != shape:
            raise WeightsError(f"{source}: {name} has shape {tuple(ours[name].shape)}, expected {shape}")
    return ours


# --- MXNet NDArray list (.params) ------------------------------------------------------

_MX_LIST_MAGIC = 0x112
_MX_ARRAY_MAGIC_V2 = 0xF993FAC9
_MX_DTYPES = {0: np.float32, 1: np.float64, 2: np.float16}


def read_mxnet_params(data: bytes, source: str) -> dict[str, torch.Tensor]:
    """Parse MXNet's NDArray-list format (dense float arrays, as `mx.nd.save` writes them)."""
    try:
        magic, _reserved, count = struct.unpack_from("<QQQ", data, 0)
        if magic != _MX_LIST_MAGIC:
            raise WeightsError(f"{source}: not an MXNet .params file")
        pos, arrays = 24, []
        for _ in range(count):
            array_magic, stype, ndim = struct.unpack_from("<IiI", data, pos)
            if array_magic != _MX_ARRAY_MAGIC_V2 or stype != 0:
                raise WeightsError(f"{source}: unsupported MXNet array layout (magic {array_magic:#x})")
            pos += 12
            shape = struct.unpack_from(f"<{ndim}q", data, pos)
            pos += 8 * ndim
            _dev_type, _dev_id, dtype_code = struct.unpack_from("<iii", data, pos)
            pos += 12
            if dtype_code not in _MX_DTYPES:
                raise WeightsError(f"{source}: unsupported MXNet dtype code {dtype_code}")
            dtype = np.dtype(_MX_DTYPES[dtype_code]).newbyteorder("<")
            n = int(np.prod(shape))
            arrays.append(np.frombuffer(data, dtype, n, pos).reshape(shape))
            pos += n * dtype.itemsize
        (name_count,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        names = []
        for _ in range(name_count):
            (length,) = struct.unpack_from("<Q", data, pos)
            names.append(data[pos + 8 : pos + 8 + length].decode())
            pos += 8 + length
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"{source}: truncated or corrupt MXNet .params file") from None
    if len(names) != len(arrays):
        raise WeightsError(f"{source}: MXNet file has {len(arrays)} arrays but {len(names)} names")
    return {name: torch.from_numpy(a.astype(np.float32)) for name, a in zip(names, arrays, strict=True)}


# --- PyTorch checkpoints (.pth) -------------------------------------------------------


def _tensors_in(obj: Any, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
    """Flatten a checkpoint's object tree (dicts and inert modules) into name -> tensor."""
    if depth > 8:
        return {}
    if isinstance(obj, torch.Tensor):
        return {prefix.rstrip("."): obj}
    if isinstance(obj, safe_pickle.Inert):  # a pickled nn.Module: walk it like state_dict() does
        found: dict[str, torch.Tensor] = {}
        for attr in ("_parameters", "_buffers", "_modules"):
            found |= _tensors_in(getattr(obj, attr, None), prefix, depth + 1)
        return found
    if isinstance(obj, Mapping):
        found = {}
        for key, value in obj.items():
            found |= _tensors_in(value, f"{prefix}{key}.", depth + 1)
        return found
    return {}


def read_torch_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], int | None]:
    """The model's tensors, and the depth it was trained at where the file says: a `drrn-stream train` run's
    last.pt records its recipe (read as the paper's 25 units, a model trained at 1 had scored 8.38 dB on Set5)."""
    try:
        with warnings.catch_warnings():  # torch warns that the inert classes have no source to check
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", pickle_module=safe_pickle, weights_only=False)
    except safe_pickle.UnsafePickleError as e:
        raise WeightsError(f"{path}: refused, {e}") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({reason(e)})") from None
    except OSError:  # torch's reader of a zip cut short in its records: "Invalid argument", no file named
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (damaged or cut short)") from None
    recipe = checkpoint.get("recipe") if isinstance(checkpoint, Mapping) else None
    units = recipe.get("units") if isinstance(recipe, Mapping) else None
    if isinstance(checkpoint, Mapping) and "model" in checkpoint:
        checkpoint = checkpoint["model"]  # upstream port: {"epoch": n, "model": DRRN(...)}; ours: its state dict
    return _tensors_in(checkpoint), units if isinstance(units, int) else None


# --- our format -----------------------------------------------------------------------


def save_weights(path: str | Path, weights: Weights) -> None:
    tensors = to_our_names(weights.state_dict, str(path))
    metadata = {"format": "drrn-stream", "architecture": "DRRN"} | weights.metadata
    # written by us, not save_file: its temporary file leaves the weights private (0600) whatever the umask
    Path(path).write_bytes(safetensors.torch.save(tensors, metadata=metadata))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: corrupt safetensors file ({reason(e)})") from None


def read_weights(path: str | Path) -> Weights:
    """Read any supported weights file, telling the format from its first bytes."""
    path = Path(path)
    try:
        head = path.open("rb").read(16)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such weights file") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror})") from None
    trained_units = None  # where a file that is not ours says its depth
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: u64 header length, then JSON
        tensors, metadata = _read_safetensors(path)
        source_format = "safetensors"
    elif len(head) >= 8 and struct.unpack_from("<Q", head)[0] == _MX_LIST_MAGIC:
        tensors, metadata = read_mxnet_params(path.read_bytes(), str(path)), {}
        source_format = "mxnet"
    elif head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):  # torch zip or legacy pickle
        tensors, trained_units = read_torch_checkpoint(path)
        metadata, source_format = {}, "pytorch"
    else:
        raise WeightsError(f"{path}: unknown weights format (expected safetensors, MXNet .params or .pth)")
    if metadata.get("format") != "drrn-stream":
        metadata = {"converted_from": f"{source_format}:{path.name}", "units": str(trained_units or DRRNConfig.units)}
    state_dict = to_our_names(tensors, str(path))
    if not all(bool(t.isfinite().all()) for t in state_dict.values()):  # they restored to NaN: eval's JSON said NaN
        raise WeightsError(f"{path}: its weights hold NaN or infinity (a training run that diverged?)")
    return Weights(state_dict, metadata, source=path.name)


def find_weights(path: str | Path | None = None) -> Weights:
    """The one way to name weights: a weights file, a shipped name, or None for the shipped default."""
    if path is None or (str(path) in PRETRAINED and not Path(path).exists()):
        path = pretrained_path(str(path) if path is not None else DEFAULT_PRETRAINED)
    return read_weights(path)


def build_drrn(weights: Weights, units: int | None = None) -> DRRN:
    """The model holding `weights`, `units` deep (None: the depth they were trained at), for inference."""
    channels = weights.state_dict["conv_a.weight"].shape[0]
    model = DRRN(DRRNConfig(units=units or weights.units, channels=channels))
    model.load_state_dict(weights.state_dict)
    return model.eval().requires_grad_(False)


def load_drrn(path: str | Path | None = None, units: int | None = None) -> tuple[DRRN, Weights]:
    """find_weights, then build_drrn: for commands that need the model itself (export, evaluation)."""
    weights = find_weights(path)
    return build_drrn(weights, units), weights


def describe(weights: Weights) -> str:
    """One line for logs: where the weights came from and what they measured."""
    meta = weights.metadata
    text = f"{meta.get('name') or weights.source} (B1U{weights.units})"
    if meta.get("psnr"):
        psnr = json.loads(meta["psnr"])
        scored_on = meta.get("validation", "Set5").split(",")[0]  # the set it was validated on, not always Set5
        text += f", {scored_on} " + " / ".join(f"x{s} {v:.2f}" for s, v in psnr.items()) + " dB"
    return text
