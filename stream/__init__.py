"""drrn-stream: the video pipeline, the apps built on it, evaluation, training, the benchmark and the CLI.

    from stream import EnhanceOptions, FrameEnhancer, ModelChoice, enhance

Importing this package has one side effect, and this is the only place that has one: OpenCV is
loaded before PyAV, because PyAV's bundled libxcb, loaded first, makes OpenCV's Qt windows hang
(PyAV-Org/PyAV#978). Elsewhere only two imports do more than define things: kernels/__init__.py
sets one environment variable for torch's allocator, and stream.cli.options reads the shipped
weights' depth table from their file header for the --units help. The API's names are imported on
first use, so the CLI starts without torch or PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

import cv2  # noqa: F401

_API = {
    "EnhanceOptions": "stream.video.enhance",
    "FrameEnhancer": "stream.apps.api",
    "ModelChoice": "kernels.choice",
    "enhance": "stream.apps.enhance",
}
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'stream' has no attribute {name!r}")
