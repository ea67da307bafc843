"""Realistic low-resolution luma from high-resolution luma: a downscale, then a codec round trip.

Evaluation and training-data generation both degrade through here, so a model is scored on the
degradation it was trained on. Downscaling is MATLAB's bicubic (the SR papers' protocol) or one of
FFmpeg's swscale kernels, as `ffmpeg -vf scale=W:H:flags=K` applies them (bit-exact: the same
library through PyAV). The codec step runs the real encoders (libx264, libx265, FFmpeg's MPEG-2,
libvpx's VP9 and VP8, SVT-AV1, libjpeg) and decoders, since their artefacts (blocking, ringing, P/B-frame drift) are
what real video carries.
PyAV is imported where a codec or FFmpeg's scaler runs: the specs alone (and MATLAB's kernel)
need none, so training, which reads coded data made elsewhere, runs where PyAV is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from kernels.errors import reason
from kernels.resize import imresize
from stream.content import frame_quantiser, header_quantisers
from stream.errors import UserError

if TYPE_CHECKING:
    import av


def need_av() -> ModuleType:
    """PyAV, which FFmpeg's scaler and the codecs need; one line where it is missing (the GPU machine)."""
    try:
        import av
    except ImportError:
        raise UserError("FFmpeg's kernels and codecs need PyAV (pip install av)") from None
    return av


DOWNSCALE_KERNELS = ("matlab", "bicubic", "bilinear", "area", "lanczos")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
# ours -> (PyAV encoder, decoder); MPEG-2 is the DVD's and broadcast's, MPEG-4 Part 2 the XviD and DivX AVI's
# (FFmpeg's encoder: the same 8x8 blocks, neither has a deblocking filter); VP9 is what YouTube serves most
# (WebM and MP4), coded by libvpx as `ffmpeg -c:v libvpx-vp9 -crf N -b:v 0` does; AV1 what it serves more and
# more, coded by SVT-AV1 (the AV1 encoder of PyAV's wheel) at its default preset, as `ffmpeg -c:v libsvtav1 -crf N`;
# VP8 what browsers record and older WebM holds, coded by libvpx at a fixed quantiser, as `ffmpeg -c:v libvpx
# -qmin N -qmax N -b:v 100M` (its CRF gives key frames the finest quantiser whatever it is, so the quantiser is fixed)
_CODECS = {
    "x264": ("libx264", "h264"), "x265": ("libx265", "hevc"), "mpeg2": ("mpeg2video", "mpeg2video"),
    "mpeg4": ("mpeg4", "mpeg4"), "vp9": ("libvpx-vp9", "vp9"), "av1": ("libsvtav1", "av1"), "vp8": ("libvpx", "vp8"),
}  # fmt: skip
_SOFTWARE_DECODERS = {"av1": "libdav1d"}  # FFmpeg's own AV1 decoder decodes only on hardware
_Q_INDEX_CODECS = ("vp9", "av1")  # CRF 0..63, aimed at a q index (q_index)
_FIXED_QUANTISER = {"mpeg2": (1, 31), "mpeg4": (1, 31), "vp8": (0, 63)}  # coded at a fixed quantiser q (no CRF)
_CRF_CODECS = ("x264", "x265")
DVD_GOP, DVD_B_FRAMES = 12, 2  # MPEG-2 as a PAL DVD codes it: IBBP... in groups of 12
AVI_GOP, AVI_B_FRAMES = 250, 2  # MPEG-4 Part 2 as XviD codes it by default: 2 B-frames, a keyframe at most 10 s apart
_GOPS = {"mpeg2": (DVD_GOP, DVD_B_FRAMES), "mpeg4": (AVI_GOP, AVI_B_FRAMES)}  # (keyframe interval, B-frames)
# x265 4.2 (in PyAV 18's wheels) writes past a buffer in its lookahead's cuTree on frames 48 px wide
# or less (valgrind: 34, 40, 48 do, 50 and up do not); the heap corruption aborts the process later.
# At 64 px wide (one CTU) it codes the same frames otherwise from run to run, as if it read memory it
# never wrote (66 px and up, and 32-1080 px high, do not: tests/test_degrade.py). It also refuses frames
# under 16 px high. Both sides are edge-padded to this for it.
_X265_MIN_SIDE = 80
# x264's AVX-512 routines, its choice where the CPU has AVX-512, make the macroblock-tree lookahead code
# the same frames otherwise from run to run (as if they read memory never written: without the tree, or
# with its AVX2 or SSE4.2 routines, it does not). Where the CPU has AVX2, x264 stops there: its AVX2 and
# SSE4.2 routines code alike, so a coded set made again elsewhere is the same set.
_X264_ASM = (
    {"x264-params": "asm=AVX2"} if torch.backends.cpu.get_cpu_capability().startswith(("AVX2", "AVX512")) else {}
)
# encoder -> options beside CRF and preset: x265 would print its log to stderr and size its threads by the cores;
# libvpx codes at constant quality where the bit rate is 0, at its "good" deadline and speed 4 (of 0-8)
_ENCODER_OPTIONS = {
    "libx264": _X264_ASM, "libx265": {"x265-params": "log-level=none:pools=1:frame-threads=1"},
    "libvpx-vp9": {"b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "0"},
    "libvpx": {"b": "100M", "deadline": "good", "cpu-used": "4"},
}  # fmt: skip
_USAGE = {
    "clean": "clean takes no options",
    "jpeg": "jpeg takes q=1..100; e.g. jpeg:q=40",
    **{
        c: f"{c} takes q={low}..{high}, the quantiser (and intra); e.g. {c}:q=8"
        for c, (low, high) in _FIXED_QUANTISER.items()
    },
    "vp9": "vp9 takes crf=0..63 (and intra); e.g. vp9:crf=40",
    "av1": "av1 takes crf=1..63 (and intra); e.g. av1:crf=40",
    **{c: f"{c} takes crf=0..51 (and preset=, intra); e.g. {c}:crf=23" for c in _CRF_CODECS},
}


@dataclass(frozen=True)
class Degradation:
    """A codec round trip of LR luma: what `--degrade SPEC` asks for."""

    codec: str  # "clean" | "x264" | "x265" | "mpeg2" | "mpeg4" | "vp9" | "av1" | "vp8" | "jpeg"
    quality: int | None  # CRF: x264/x265 0..51, VP9 0..63, AV1 1..63; quantiser: MPEG 1..31, VP8 0..63; JPEG's 1..100
    preset: str | None  # x264/x265 preset; None for the others
    intra: bool = False  # video codecs: every frame a keyframe; else inter-coded (P/B frames)

    def __str__(self) -> str:
        """The canonical spec, every default spelled out, so that logs and result files say
        exactly what was run and `parse_degradation` reads it back to an equal Degradation."""
        if self.clean:
            return "clean"
        if self.codec == "jpeg":
            return f"jpeg:q={self.quality}"
        if self.codec in _FIXED_QUANTISER:
            return f"{self.codec}:q={self.quality}" + (":intra" if self.intra else "")
        if self.codec in _Q_INDEX_CODECS:
            return f"{self.codec}:crf={self.quality}" + (":intra" if self.intra else "")
        return f"{self.codec}:crf={self.quality}:preset={self.preset}" + (":intra" if self.intra else "")

    @property
    def clean(self) -> bool:
        return self.codec == "clean"

    @property
    def label(self) -> str:
        """How tables and headers name it: "lossless", "x264 CRF 23", "MPEG-2 q 8", "VP9 CRF 40", "JPEG q 40"."""
        if self.clean:
            return "lossless"
        named = {"jpeg": "JPEG q", "mpeg2": "MPEG-2 q", "mpeg4": "MPEG-4 q", "vp9": "VP9 CRF", "av1": "AV1 CRF",
                 "vp8": "VP8 q"}  # fmt: skip
        return f"{named.get(self.codec, f'{self.codec} CRF')} {self.quality}"

    @property
    def asked_quantiser(self) -> int:
        """The quantiser the spec asks for, on its decoder's scale (stream.content.QUANTISER_SCALES), for where
        none was read: x264's and x265's CRF for their quantiser, twice MPEG's q (its quantiser_scale on the linear
        scale), the q index libvpx and SVT-AV1 aim at for a CRF."""
        level = int(self.quality or 0)
        if self.codec == "vp8":
            return VP8_Q_INDEX[level]
        if self.codec in _FIXED_QUANTISER:
            return 2 * level
        return q_index(level) if self.codec in _Q_INDEX_CODECS else level

    @property
    def decoder(self) -> str | None:
        """FFmpeg's name of the video codec, its decoder's (h264, hevc, mpeg2video, mpeg4, vp9, vp8; av1, which
        dav1d decodes); None for clean and JPEG."""
        return _CODECS[self.codec][1] if self.codec in _CODECS else None


CLEAN = Degradation("clean", None, None)


# libvpx's VP8 q_trans: the y_ac_qi (0-127) its quantiser N (0-63, FFmpeg's qmin and qmax) codes at
VP8_Q_INDEX = (
    0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 15, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33, 35, 37, 39,
    41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 64, 67, 70, 73, 76, 79, 82, 85, 88, 91, 94, 97, 100, 103, 106, 109,
    112, 115, 118, 121, 124, 127,
)  # fmt: skip


def q_index(crf: int) -> int:
    """The q index libvpx's VP9 and SVT-AV1 aim their frames at for a CRF (their quantizer_to_qindex table)."""
    return (*range(0, 248, 4), 249, 255)[crf]


def parse_degradation(text: str) -> Degradation:
    """`--degrade SPEC` -> Degradation; a bad spec is a one-line UserError saying what is accepted."""
    codec, *fields = text.split(":")
    if codec not in _USAGE:
        raise UserError(
            f"--degrade {text!r}: unknown codec; use clean, x264:crf=N, x265:crf=N, mpeg2:q=N, mpeg4:q=N, vp9:crf=N, "
            "av1:crf=N, vp8:q=N or jpeg:q=N"
        )
    options = _options(text, codec, fields)
    if codec == "clean":
        return Degradation("clean", None, None)
    if codec == "jpeg":
        return Degradation("jpeg", _level(text, codec, options, "q", 1, 100), None)
    if codec in _FIXED_QUANTISER:
        level = _level(text, codec, options, "q", *_FIXED_QUANTISER[codec])
        return Degradation(codec, level, None, intra="intra" in options)
    if codec in _Q_INDEX_CODECS:  # SVT-AV1 codes nothing losslessly at CRF 0, as libvpx's VP9 does
        level = _level(text, codec, options, "crf", int(codec == "av1"), 63)
        return Degradation(codec, level, None, intra="intra" in options)
    preset = options.get("preset", "medium")
    if preset not in PRESETS:
        raise UserError(f"--degrade {text!r}: preset is one of {', '.join(PRESETS)}")
    return Degradation(codec, _level(text, codec, options, "crf", 0, 51), preset, intra="intra" in options)


def coded_at(codec: str, level: int) -> Degradation:
    """`codec` at `level`: its fixed quantiser q (MPEG-2, MPEG-4, VP8) or its CRF (the others)."""
    return parse_degradation(f"{codec}:{'q' if codec in _FIXED_QUANTISER else 'crf'}={level}")


def _options(text: str, codec: str, fields: list[str]) -> dict[str, str]:
    """`key=value` and bare-flag fields as a dict, each key one the codec takes, none twice."""
    if codec in ("clean", "jpeg"):
        allowed = {"q"} if codec == "jpeg" else set()
    elif codec in _FIXED_QUANTISER:
        allowed = {"q", "intra"}
    else:
        allowed = {"crf", "intra"} if codec in _Q_INDEX_CODECS else {"crf", "preset", "intra"}
    options: dict[str, str] = {}
    for field in fields:
        key, eq, value = field.partition("=")
        if key not in allowed or key in options or (key == "intra") == bool(eq):
            raise UserError(f"--degrade {text!r}: {_USAGE[codec]}")
        options[key] = value
    return options


def _level(text: str, codec: str, options: dict[str, str], key: str, low: int, high: int) -> int:
    value = options.get(key, "")
    if not value.isdecimal() or not low <= int(value) <= high:
        raise UserError(f"--degrade {text!r}: {_USAGE[codec]}")
    return int(value)


def downscale(hr: np.ndarray, scale: int, kernel: str = "matlab") -> np.ndarray:
    """H x W uint8 luma (H, W multiples of scale) -> (H/scale) x (W/scale) uint8 LR luma.

    "matlab" is MATLAB's antialiased bicubic `imresize`, rounded to levels like a saved image; the
    others are swscale's kernels, bit-exact to `ffmpeg -vf scale=W:H:flags=<kernel>` (measured)."""
    if kernel not in DOWNSCALE_KERNELS:
        raise ValueError(f"downscale kernel {kernel!r}: use one of {', '.join(DOWNSCALE_KERNELS)}")
    h, w = hr.shape
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} luma is not a multiple of the scale {scale}; mod-crop it first")
    if kernel == "matlab":
        lr = imresize(torch.from_numpy(hr).to(torch.float64) / 255, 1 / scale)
        return (lr * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    frame = need_av().VideoFrame.from_ndarray(np.ascontiguousarray(hr), format="gray")
    return frame.reformat(width=w // scale, height=h // scale, interpolation=kernel.upper()).to_ndarray()


class CodecRoundTrip:
    """LR luma frames through a real encoder and decoder, streaming: frames pushed in order come
    back decoded, in order, as the codec gives them up (bounded memory for a video of any length).

    Video codecs code 4:2:0 with neutral chroma, so the luma's artefacts are the codec's own; odd
    sizes (and x265's narrow ones) are edge-padded for the encoder and cropped back. `keyframes`
    counts the keyframe packets, the evidence that inter (P/B) or all-intra coding really ran;
    `quantisers` holds the mean quantiser of each decoded frame where the decoder exports it (H.264,
    MPEG-2 and MPEG-4, VP9: each on its own scale), and HEVC's pictures' and AV1's and VP8's frames' from their
    headers (stream.hevc, stream.av1, stream.vp8), what the product judges a file by (stream.content: x264, x265,
    libvpx and SVT-AV1 code at their CRF only on average)."""

    def __init__(self, degradation: Degradation, width: int, height: int, rate: Fraction = Fraction(25)) -> None:
        self.degradation, self.width, self.height = degradation, width, height
        self.keyframes = self._pushed = self._decoded = 0
        self.quantisers: list[float] = []
        if degradation.codec in _CODECS:
            least = _X265_MIN_SIDE if degradation.codec == "x265" else 0
            self._coded = (max(height + height % 2, least), max(width + width % 2, least))
            self._encoder = _open_encoder(degradation, self._coded[1], self._coded[0], rate)
            decoder = degradation.decoder or ""
            self._decoder = need_av().CodecContext.create(_SOFTWARE_DECODERS.get(decoder, decoder), "r")
            # one thread: frame threads hand frames over with their quantisers half exported
            self._decoder.options, self._decoder.thread_type = {"export_side_data": "venc_params"}, "NONE"
            self._headers = header_quantisers(decoder, None)  # HEVC's, AV1's, VP8's: what they need comes in-band

    def push(self, y: np.ndarray) -> list[np.ndarray]:
        """One H x W uint8 frame in; the decoded frames ready so far out."""
        if y.shape != (self.height, self.width):
            raise ValueError(f"a {y.shape[1]}x{y.shape[0]} frame pushed into a {self.width}x{self.height} round trip")
        if self.degradation.clean:
            return [y]
        if self.degradation.codec == "jpeg":
            return [_jpeg(y, self.degradation.quality)]
        self._pushed += 1
        return self._decode(self._encoder.encode(_yuv420(y, self._coded, self._pushed - 1)))

    def flush(self) -> list[np.ndarray]:
        """The frames the encoder and decoder still hold; checks that every frame came back."""
        if self.degradation.codec not in _CODECS:
            return []
        rest = self._decode([*self._encoder.encode(None), None])  # None: drain the decoder
        if self._decoded != self._pushed:
            raise RuntimeError(f"{self.degradation}: {self._pushed} frames encoded, {self._decoded} decoded")
        return rest

    def _decode(self, packets: list[av.Packet | None]) -> list[np.ndarray]:
        self.keyframes += sum(p.is_keyframe for p in packets if p is not None)
        if self._headers is not None:
            self.quantisers += [q for p in packets if p is not None for q in self._headers.packet(bytes(p))]
        frames = [frame for p in packets for frame in self._decoder.decode(p)]
        self.quantisers += [q for frame in frames if (q := frame_quantiser(frame)) is not None]
        self._decoded += len(frames)
        return [_luma(frame, self.width, self.height) for frame in frames]


def round_trip(frames: list[np.ndarray], degradation: Degradation) -> list[np.ndarray]:
    """Frames of one size through one CodecRoundTrip (clean: the same arrays back)."""
    if degradation.clean or not frames:
        return list(frames)
    height, width = frames[0].shape
    codec = CodecRoundTrip(degradation, width, height)
    return [out for y in frames for out in codec.push(y)] + codec.flush()


def _open_encoder(degradation: Degradation, width: int, height: int, rate: Fraction) -> av.VideoCodecContext:
    """libx264/libx265 at the asked CRF and preset, libvpx's VP9 at the asked CRF, MPEG-2 and MPEG-4 at the
    asked quantiser in a DVD's and an XviD AVI's GOP, tagged studio range; all-intra is a GOP of one frame,
    else the encoder's default GOP, B-frames (VP9: hidden alt-ref frames) included.
    One thread: x264 cuts a frame into as many slices as it has threads and x265 sizes its frame threads
    by the cores, so the same LR would code differently on another machine (a training set made again
    elsewhere must be the same set). x265 would print its log to stderr."""
    av = need_av()
    from av.video.reformatter import ColorRange

    name = _CODECS[degradation.codec][0]
    options = {} if degradation.codec in _FIXED_QUANTISER else {"crf": str(degradation.quality)}
    options |= {"preset": degradation.preset} if degradation.preset else {}
    try:
        encoder = av.CodecContext.create(name, "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base, encoder.framerate = 1 / rate, rate
        encoder.color_range = ColorRange.MPEG
        encoder.thread_count, encoder.thread_type = 1, "NONE"
        if degradation.codec in _FIXED_QUANTISER:  # no CRF
            encoder.qmin = encoder.qmax = int(degradation.quality or 0)
            # MPEG-2 takes only its standard frame rates; at a fixed quantiser the rate changes nothing
            encoder.time_base, encoder.framerate = Fraction(1, 25), Fraction(25)
            gop = _GOPS.get(degradation.codec)
            if degradation.intra or gop:
                encoder.gop_size, encoder.max_b_frames = (1, 0) if degradation.intra else gop
        elif degradation.intra:
            encoder.gop_size = 1
        encoder.options = options | _ENCODER_OPTIONS.get(name, {})
        encoder.open()
    except (av.FFmpegError, ValueError) as e:  # ValueError: an FFmpeg build without the encoder
        raise UserError(f"--degrade {degradation}: cannot open {name} at {width}x{height} ({reason(e)})") from None
    return encoder


def _yuv420(y: np.ndarray, size: tuple[int, int], pts: int) -> av.VideoFrame:
    """The luma, edge-padded to the coded (even) size, as the Y plane of an I420 frame; chroma neutral."""
    av = need_av()
    y = np.pad(y, ((0, size[0] - y.shape[0]), (0, size[1] - y.shape[1])), mode="edge")
    chroma = np.full(y.size // 2, 128, np.uint8)
    frame = av.VideoFrame.from_ndarray(np.concatenate([y.reshape(-1), chroma]).reshape(-1, y.shape[1]), "yuv420p")
    frame.pts = pts
    return frame


def _luma(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """The decoded Y plane, as coded (no range conversion), rows unpadded, cropped to the asked size."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:height, :width].copy()


def _jpeg(y: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", y, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("libjpeg could not encode a frame")
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
