"""What travels between the pipeline's stages: frame records and the facts of the stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import av
import numpy as np

from kernels.colour import LumaCoding
from stream.video.hdr import HLG, PQ, HdrMetadata

# Pixel formats handled as they are; anything else is converted to the nearest of these.
NATIVE_FORMATS = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray10le",
    "yuva420p", "yuva422p", "yuva444p", "yuva420p10le", "yuva422p10le", "yuva444p10le",
}  # fmt: skip
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: full-range samples


def working_format(fmt: av.VideoFormat, alpha: bool) -> str:
    """The native format closest to a decoded one (nv12 -> yuv420p, rgb24 -> yuv444p, bgra -> yuva444p, ...);
    without its alpha channel unless `alpha` (grey keeps none).

    `fmt` must carry the frame's size (a decoded frame's `.format`): subsampling is read
    from the planes' sizes.
    """
    yuv = "yuva" if alpha and has_alpha(fmt) else "yuv"
    if fmt.name in NATIVE_FORMATS:
        return fmt.name.replace("yuva", yuv)
    suffix = "10le" if max(c.bits for c in fmt.components) > 8 else ""
    if fmt.is_rgb or fmt.name == "pal8":
        return f"{yuv}444p{suffix}"
    if len(fmt.components) <= 2:  # grey, grey + alpha
        return "gray" + suffix
    luma, chroma = fmt.components[0], fmt.components[1]
    if chroma.height < luma.height:
        return f"{yuv}420p{suffix}"
    return f"{yuv}{'422' if chroma.width < luma.width else '444'}p{suffix}"


def has_alpha(fmt: av.VideoFormat) -> bool:
    return any(c.is_alpha for c in fmt.components)


def is_transparent(frame: av.VideoFrame) -> bool:
    """Whether any pixel of the frame is less than opaque (False where it has no alpha channel). An alpha
    channel that is opaque everywhere (every GIF decodes to BGRA) is not worth carrying. Read in 8 bits: swscale
    takes an opaque 8-bit alpha to 0xFFFC in 16."""
    return has_alpha(frame.format) and int(frame.to_ndarray(format="rgba")[..., 3].min()) < 0xFF


def plane_view(plane: av.video.plane.VideoPlane, dtype: type) -> np.ndarray:
    """A plane's visible samples as an H x W view into the frame's buffer (line padding skipped)."""
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype).reshape(-1, plane.line_size // itemsize)[: plane.height, : plane.width]


def is_rgb(fmt: av.VideoFormat) -> bool:
    return fmt.is_rgb or fmt.name == "pal8"


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the input video stream that the model worker and the sink need."""

    width: int
    height: int
    pix_fmt: str  # the working format, one of NATIVE_FORMATS
    source_pix_fmt: str  # as decoded
    coding: LumaCoding
    time_base: Fraction  # of the frames' pts
    rate: Fraction  # average frame rate (for the encoder's nominal rate only)
    frames: int | None  # None when the container does not say
    rotation: int  # display rotation in degrees, counter-clockwise
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    sample_aspect_ratio: Fraction | None  # non-square pixels (anamorphic DV, HDV), or None
    hdr: HdrMetadata = field(default_factory=HdrMetadata)  # HDR10 mastering display and light levels, if any
    plays: int | None = None  # an animation's (GIF, APNG, WebP) plays as its file says, 0 forever; None: a video
    tick_rate: Fraction | None = None  # the rate whose ticks every frame falls on (FFmpeg's guess: r_frame_rate), AVI's
    captions: bool = False  # its first frame carries closed captions (CEA-608/708 in the coding: A53 side data)

    @property
    def is_hdr(self) -> bool:
        return self.color_trc in (PQ, HLG)

    @property
    def has_alpha(self) -> bool:
        return self.pix_fmt.startswith("yuva")

    @property
    def chroma_shift(self) -> tuple[int, int] | None:
        """log2 of chroma subsampling (w, h), or None for grey."""
        if self.pix_fmt.startswith("gray"):
            return None
        if "420" in self.pix_fmt:
            return 1, 1
        return (1, 0) if "422" in self.pix_fmt else (0, 0)

    @property
    def sample_dtype(self) -> type:
        return np.uint16 if self.coding.bits > 8 else np.uint8


@dataclass
class Restored:
    """The model worker's result for one frame."""

    y: np.ndarray  # H*s x W*s, the input's dtype
    model_ms: float  # this frame's share of the batch's model time
    psnr_vs_bicubic: float  # of the output against its bicubic input, on the 0..255 scale
    bicubic_levels: np.ndarray | None = None  # uint8 0..255, kept only when asked (for --reference)


@dataclass
class Frame:
    """One decoded frame: its time and its planes, on the host.

    The model worker fills `restored`; the chroma planes stay at the input's size for the
    sink to upscale.
    """

    index: int
    pts: int
    y: np.ndarray  # H x W, uint8 or uint16
    chroma: list[np.ndarray]  # [Cb, Cr] at the chroma size, or [] for grey
    restored: Restored | None = None
    alpha: np.ndarray | None = None  # H x W, where the input is transparent (its working format is yuva...)
    decode_errors: int = 0  # errors the input had shown when this frame was decoded
    stored_pts: int | None = None  # as the file gives it (`pts` is made strictly increasing): what chunks list
    duration: int | None = None  # in the time base of `pts`, where the input says (an animation's last frame's hold)
    captions: av.VideoFrame | None = None  # a 2x2 frame holding the decoded one's closed captions (VideoSink._blank)


def is_full_range(pix_fmt: str, color_range: int) -> bool:
    return pix_fmt.startswith("yuvj") or color_range == _JPEG_RANGE


class FrameSource(Protocol):
    """What the pipeline decodes from: a whole input (video/source.py's VideoSource) or one chunk of
    it (stream/chunked). It yields frames and the packets of the streams carried alongside, in order."""

    info: VideoInfo
    reader: threading.Thread | None  # the thread that iterates it: closing waits for it to stop

    def __iter__(self) -> Iterator[Frame | av.Packet]: ...

    def stop_reading(self) -> None:
        """A stop signal: a pipe read from is not waited on (what it has not sent is taken as never coming)."""

    def drop_alpha(self) -> None:
        """The output holds no transparency: frames come without their alpha and with the colours it hid, as
        players show them once it is dropped (not those filled in so that kept edges upscale clean)."""
