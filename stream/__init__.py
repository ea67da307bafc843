"""drrn-stream: the video pipeline, the apps built on it, evaluation, training, the benchmark and the CLI.

    from stream import EncodeOptions, EnhanceOptions, FrameEnhancer, ModelChoice, enhance

Importing this package has two side effects, and this is the only place that has them: OpenCV is
loaded before PyAV, because PyAV's bundled libxcb, loaded first, makes OpenCV's Qt windows hang
(PyAV-Org/PyAV#978); and SVT-AV1 (the AV1 encoder of PyAV's wheel, for `--codec libsvtav1` and AV1-coded
evaluation) is told to log errors only: it reads its log level from the environment alone, and would print
a 20-line banner at each encoder it opens. Elsewhere only three imports do more than define things: kernels/__init__.py
sets one environment variable for torch's allocator, stream.cli.options reads the shipped
weights' depth table from their file header for the --units help, and stream.video.source gives libav's
logger a NullHandler (a library's part: what PyAV logs is counted there, never printed). The API's names are imported on
first use, so the CLI starts without torch or PyAV.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import cv2  # noqa: F401

os.environ.setdefault("SVT_LOG", "1")  # SVT_LOG_ERROR; a user's own setting wins

_API = {
    "Chunking": "stream.chunked.run",  # --chunk-seconds, --workers, --ray, --resume of a chunked run
    "EncodeOptions": "stream.video.sink",  # --codec, --crf, --preset
    "EnhanceOptions": "stream.video.enhance",
    "FrameEnhancer": "stream.apps.api",
    "ModelChoice": "kernels.choice",
    "UserError": "stream.errors",  # what the CLI says in one line: a missing file, a container that cannot hold...
    "FilesFailed": "stream.errors",  # a UserError: files of a folder's run failed, the others written (.failed)
    "enhance": "stream.apps.enhance",
}
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'stream' has no attribute {name!r}")
