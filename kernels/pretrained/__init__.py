"""The weights shipped inside the package, as data: name -> file, and what each file's metadata says.

Reading the metadata needs only the file's JSON header, not torch, so the CLI's help can quote it.
"""

from __future__ import annotations

import json
import struct
from importlib import resources
from pathlib import Path

from kernels.errors import WeightsError

# Name -> file in this folder. Each file's metadata says how it was trained and what it measured;
# docs/QUALITY.md has the full table.
PRETRAINED: dict[str, str] = {
    "drrn-b1u25-x234": "drrn-b1u25-x234.safetensors",  # B1U25, x2/x3/x4, any depth 1..25, clean bicubic LR
    "drrn-b1u25-x234-coded": "drrn-b1u25-x234-coded.safetensors",  # the same fine-tuned on codec-coded LR too
    "drrn-b1u7-x234-compressed": "drrn-b1u7-x234-compressed.safetensors",  # that at 7 units on mostly coded LR
    "drrn-b1u5-x234-heavy": "drrn-b1u5-x234-heavy.safetensors",  # that at 5 units on LR coded at CRF 27-40 alone
}
DEFAULT_PRETRAINED = "drrn-b1u25-x234"  # the papers' protocol: what a choice without an input runs
CODED = "drrn-b1u25-x234-coded"  # the set trained on coded LR from five scalers too: for real input
COMPRESSED = "drrn-b1u7-x234-compressed"  # for compressed input: 70% coded LR; trained 7 units deep, runs 9
HEAVY = "drrn-b1u5-x234-heavy"  # the set for heavily compressed input: trained 5 units deep, runs 7 (its curves)
# --content asked -> the shipped weights for it: clean, the set for the papers' bicubic LR; light (lightly coded),
# CODED; compressed, COMPRESSED; heavy (heavily compressed), HEAVY; light and heavy at the depth their sets'
# metadata curves for such LR say (ModelChoice.content_units).
CONTENT_WEIGHTS: dict[str, str] = {
    "clean": DEFAULT_PRETRAINED, "light": CODED, "compressed": COMPRESSED, "heavy": HEAVY,
}  # fmt: skip
# --content auto, judged from a real input (a video, a picture, a camera) -> the weights it runs. Clean (lossless)
# input runs CODED: which scaler made a real input nobody knows; on the clips' lossless LR CODED equals the clean
# set where FFmpeg's bicubic or bilinear made it and gains 0.25-0.47 dB more where lanczos or area did, leaving no
# clip below bicubic where the clean set leaves one 1 dB below (docs/QUALITY.md, "Other codecs and other downscale
# kernels"). Lightly coded input (H.264 to quantiser 21, HEVC to 27, the MPEG family to quantiser scale 4, VP9 to q
# index 164, JPEG from quality 97; stream.content) runs CODED too, at fewer units: on B100 pans and the clips' LR
# coded by x264 to quantiser 21 it gains 0.2-0.26 dB more than COMPRESSED, at 11 units within 0.02 of 17
# (docs/QUALITY.md, "Lightly coded input"; "HEVC by its quantiser", "The finest JPEGs are lightly coded").
# Compressed input runs COMPRESSED: on the clips' coded LR (x264, x265, JPEG, MPEG-2) it gains more than CODED for
# 0.53x its work (x2 x264 CRF 23 +1.33 dB over bicubic against +1.15), and loses 0.8 dB on lossless LR
# (docs/QUALITY.md, "The set for compressed input"). Heavily compressed input (H.264 from quantiser 33, HEVC from 40,
# JPEG below quality 78; stream.content) runs HEAVY: on the clips' LR from CRF 28 it gains the most in the mean
# (docs/QUALITY.md, "The set for heavy compression"), and on their JPEG LR to quality 75 (+0.93 dB at 40 against
# +0.38; "JPEG by its quality").
JUDGED_WEIGHTS: dict[str, str] = {"clean": CODED, "light": CODED, "compressed": COMPRESSED, "heavy": HEAVY}
# Name -> (its int8 ONNX export in this folder, the depth it runs): int8 where torch lacks oneDNN's int8
# convolutions (by default on a VNNI CPU; kernels.resolve), and for ONNX runtimes. Exported by
# `drrn-stream export --dynamic --int8` from those very weights (tests/kernels/test_int8_default.py holds them to it).
INT8: dict[str, tuple[str, int]] = {
    "drrn-b1u25-x234": ("drrn-b1u25-x234.int8.onnx", 17),
    "drrn-b1u25-x234-coded": ("drrn-b1u25-x234-coded.int8.onnx", 17),
    "drrn-b1u7-x234-compressed": ("drrn-b1u7-x234-compressed.int8.onnx", 9),
    "drrn-b1u5-x234-heavy": ("drrn-b1u5-x234-heavy.int8.onnx", 7),
}


def pretrained_path(name: str = DEFAULT_PRETRAINED) -> Path:
    if name not in PRETRAINED:
        raise WeightsError(f"no shipped weights named {name!r} in this build; pass --weights FILE")
    return Path(str(resources.files(__name__) / PRETRAINED[name]))


def int8_path(name: str) -> Path | None:
    """The shipped int8 export of shipped weights `name`, if there is one."""
    if name not in INT8:
        return None
    return Path(str(resources.files(__name__) / INT8[name][0]))


def metadata(name: str = DEFAULT_PRETRAINED) -> dict[str, str]:
    """The metadata of shipped weights, from the safetensors header (u64 length, then JSON)."""
    with pretrained_path(name).open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length)).get("__metadata__", {})


def depth_table(name: str = DEFAULT_PRETRAINED) -> dict[int, float]:
    """Set5 x2 PSNR by --units of shipped weights."""
    table = json.loads(metadata(name).get("psnr_by_units_Set5_x2", "{}"))
    return {int(units): psnr for units, psnr in table.items()}
