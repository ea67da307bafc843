"""Which model runs, and how: what was asked (`ModelChoice`) and what it becomes here (`Resolved`).

A ModelChoice is plain data with no torch in it: the CLI builds one without importing torch, a
chunked run's manifest records it, and worker processes and Ray tasks receive it and resolve it
where they run (machines differ: a GPU, bf16 instructions). `resolve()` settles every default
once (device, precision, backend, depth, tiling) into one value, which the header, logs, chunk
manifests, reports and the bench all print; `load()` also builds what runs it.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from kernels.inference import Restores
    from kernels.tiling import Tiling
    from kernels.weights import Weights

Precision = Literal["auto", "fp32", "fp16", "bf16", "int8"]
# What the input is: which shipped weights run, how deep
Content = Literal["auto", "clean", "light", "compressed", "heavy"]
CONTENT_WORDS = {  # as headers say it
    "clean": "clean", "light": "lightly coded", "compressed": "compressed", "heavy": "heavily compressed",
}  # fmt: skip
HALO = 16  # context past each tile: of the receptive radius (52) this much leaves < 0.01 dB (docs/QUALITY.md)
# The smallest tile core: below it a window recomputes mostly halo (a core of 1 ran 48-px aligned windows for each
# output pixel, 2300x a whole frame's work); 16 is already 9x, and no machine needs less to fit its memory.
MIN_TILE = 16


@dataclass(frozen=True)
class ModelChoice:
    """What the user asked for; None and "auto" mean "what suits this machine", settled by resolve()."""

    weights: str | None = None  # a weights file (any format convert reads), an .onnx file, or a shipped name
    units: int | None = None  # recursive units; None: the depth the weights were trained at
    device: str = "auto"  # auto: the first GPU where CUDA is available, else the CPU
    precision: Precision = "auto"  # auto: fp16 on CUDA; on a CPU int8 where it pays, bf16 where native, else fp32
    tile: int | None = None  # core of a tile in output pixels; None: the device's default; 0: whole frames
    halo: int = HALO
    batch: int | None = None  # tiles per forward pass; None: the device's default
    # Where no weights are named: the shipped set for clean, lightly coded, compressed or heavily compressed
    # input (kernels.pretrained.CONTENT_WEIGHTS), or, judged from the input where there is one (stream.content),
    # the set for such real input (JUDGED_WEIGHTS); auto with nothing judged runs the clean set (the papers'
    # protocol). Lightly coded and heavily compressed input also run at their own default depth (content_units).
    content: Content = "auto"
    evidence: str = ""  # what the content was judged from ("h264, quantiser 31"), said in the header; "": asked

    def __post_init__(self) -> None:
        if isinstance(self.weights, Path):  # the CLI's and many callers' type; kept as text (JSON, Ray)
            object.__setattr__(self, "weights", str(self.weights))
        # The CLI's options check their ranges; the API's callers get the same bounds, before any model loads
        # (units=-1 ran a model of its own, precision="fp64" failed as a KeyError once built)
        as_ints(self, "units", "tile", "halo", "batch")
        expect(self, "weights", self.weights is None or isinstance(self.weights, str), "a path or a name, or None")
        expect(self, "device", isinstance(self.device, str), 'a device\'s name ("auto", "cpu", "cuda:1")')
        expect(self, "units", whole(self.units, 1, none=True), "a whole number from 1, or None")
        expect(self, "precision", self.precision in get_args(Precision), f"one of {', '.join(get_args(Precision))}")
        expect(self, "content", self.content in get_args(Content), f"one of {', '.join(get_args(Content))}")
        expect(self, "tile", tile_ok(self.tile), f"output pixels from {MIN_TILE} (0: whole frames), or None")
        expect(self, "halo", whole(self.halo, 0), "a whole number of pixels from 0")
        expect(self, "batch", whole(self.batch, 1, none=True), "a whole number from 1, or None")

    @property
    def weights_name(self) -> str:
        """The weights file or shipped name that runs: as named, else the shipped set for the content."""
        from kernels.pretrained import CONTENT_WEIGHTS, JUDGED_WEIGHTS

        table = JUDGED_WEIGHTS if self.evidence else CONTENT_WEIGHTS  # judged from an input, or asked
        return self.weights or table["clean" if self.content == "auto" else self.content]

    @property
    def judged(self) -> bool:
        """No weights named and no content asked: the input's coding picks the set (stream.content)."""
        return self.weights is None and self.content == "auto"

    @property
    def content_units(self) -> int | None:
        """The depth a shipped set runs at for this content unless --units asks; None: the weights' default
        (Weights.run_units). Lightly coded and heavily compressed input have their own where the file records
        their curves: the depth clean input wants restores detail coding kept (lossless LR: 17 units of the coded
        set +0.2 dB over 7), and coding leaves less of it (lightly coded LR: 11 units within 0.02 dB of 17; from CRF
        28 a deep DRRN sharpens coarse coding's artefacts, 3 units beat 17; docs/QUALITY.md)."""
        from kernels.pretrained import metadata
        from kernels.weights import DEPTH_CURVES, curve_depth

        if self.weights is not None or self.content not in DEPTH_CURVES:  # the contents with curves of their own
            return None
        return curve_depth(metadata(self.weights_name), self.content)

    @property
    def onnx(self) -> bool:
        """An exported file: ONNX Runtime runs it, at its own depth and precision."""
        return self.weights is not None and is_onnx(self.weights)

    def resolve(self) -> Resolved:
        """What runs on this machine, without building it; a one-line error where it cannot run."""
        from kernels.resolve import resolve

        return resolve(self)

    def load(self) -> Loaded:
        """What runs, built: the restorer, the weights it holds, and the resolved value."""
        from kernels.resolve import load

        return load(self)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def is_onnx(name: str | Path) -> bool:
    """Whether a file is named as ONNX: its suffix in any case, as ONNX Runtime takes it (M.ONNX was refused)."""
    return str(name).lower().endswith(".onnx")


def as_int(value: object) -> object:
    """`value` made a Python int where it is another kind of integer (numpy's: from np.arange, a config numpy
    loaded), which the checks take and JSON and Ray write; else as it is (a bool too: refused as no number)."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool | int) else value


def as_ints(holder: object, *names: str) -> None:
    """as_int for fields (ModelChoice(units=np.int64(3)) was "expected a whole number from 1")."""
    for name in names:
        object.__setattr__(holder, name, as_int(getattr(holder, name)))


def whole(value: object, least: int, none: bool = False) -> bool:
    """Whether `value` is an int (not a bool) of at least `least`, or None where `none` allows it."""
    return (none and value is None) or (isinstance(value, int) and not isinstance(value, bool) and value >= least)


def tile_ok(tile: object) -> bool:
    """A tile core a run takes: None (the device's default), 0 (whole frames) or from MIN_TILE."""
    return tile is None or (whole(tile, 0) and (tile == 0 or tile >= MIN_TILE))


def expect(holder: object, name: str, ok: bool, expected: str) -> None:
    """A field of `holder` as its type says, else a ValueError naming the field, its value and what it takes."""
    if not ok:
        raise ValueError(f"{type(holder).__name__}.{name}={getattr(holder, name)!r}: expected {expected}")


@dataclass(frozen=True)
class Resolved:
    """What runs: every default settled. Two runs with equal records make the same pixels."""

    weights: str  # where the weights came from and what they measured (kernels.weights.describe)
    units: int  # the depth that runs
    trained_units: int  # the depth the weights were trained at
    device: str  # "cpu", "cuda:0"
    precision: str  # fp32, bf16, fp16; an ONNX file's own (int8 too)
    backend: str  # "PyTorch", "PyTorch (oneDNN, AMX)" (int8), "ONNX Runtime (CPUExecutionProvider, AVX512-VNNI)"
    tiling: Tiling
    notices: tuple[str, ...] = ()  # what the user should hear about the choice (bf16 emulated, ...)
    content: str = ""  # why these weights: "compressed input (h264, quantiser 31)"; "" where named or by default

    @property
    def model(self) -> str:
        """The weights, the depth that runs and why these: "drrn-b1u25-x234-coded (B1U25), Set5 ... dB, run at
        11 units, for lightly coded input (h264, quantiser 19 over its first 48 frames)"."""
        depth = f", run at {self.units} unit{'s' * (self.units != 1)}" if self.units != self.trained_units else ""
        return self.weights + depth + (f", for {self.content}" if self.content else "")

    @property
    def how(self) -> str:
        """The precision and what runs it: "int8 with PyTorch (oneDNN, AMX)", "fp32"."""
        return self.precision + ("" if self.backend == "PyTorch" else f" with {self.backend}")

    def __str__(self) -> str:
        """The header's words: "DRRN <model> on cpu in int8, tiles 768 + halo 16, batch 1"."""
        return f"DRRN {self.model} on {self.device} in {self.how}, {self.tiling}"

    def record(self) -> dict[str, str | int]:
        """For manifests and reports: what decides the pixels, as JSON-able values."""
        return {
            "weights": self.weights, "units": self.units, "backend": self.backend, "precision": self.precision,
            "device": self.device.split(":")[0], "tiling": str(self.tiling),
        }  # fmt: skip


@dataclass(frozen=True)
class Loaded:
    """A choice, built: what runs DRRN, the weights it holds, and what was settled."""

    restorer: Restores
    weights: Weights
    ran: Resolved
