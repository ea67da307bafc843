"""drrn-stream: the video pipeline, the evaluation and training commands, and the CLI."""

# OpenCV must load before PyAV: PyAV's bundled libxcb, loaded first, makes OpenCV's Qt windows
# hang (PyAV-Org/PyAV#978). Every module of this package imports this file first.
import cv2  # noqa: F401
