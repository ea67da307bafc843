"""Clean or compressed: which shipped weights suit an input, judged from how it was coded.

DRRN trained on clean bicubic LR takes a codec's blocking and ringing for detail and sharpens it;
the sets fine-tuned on coded LR restore such input better (one on mostly coded LR, one on heavily
coded LR alone), and the set fine-tuned on coded LR as well restores real lossless input better too,
whose scaler is unknown: the clean set scores best only on the papers' MATLAB-bicubic LR
(docs/QUALITY.md). kernels.pretrained.JUDGED_WEIGHTS says which set each judgement runs; the
judgement is said in the header. Which an input is, is read from what the stream says of its coding,
the surest evidence first: a lossless codec; the quantiser of the opening frames, as the decoder exports it
(H.264, the MPEG family, VP9) or HEVC's slice headers and AV1's and VP8's frame headers say it (stream.hevc,
stream.av1, stream.vp8), each on its codec's scale (H.264's 0 is lossless, x264's CRF 23 codes at about 20-30);
a GIF's palette and dither, read from its first frame (stream.gif); the bits per pixel of its bit rate; else a
lossy codec is taken for what it usually is, compressed.
"""

from __future__ import annotations

import statistics
import struct
from contextlib import suppress
from dataclasses import dataclass, replace
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kernels.choice import ModelChoice
from stream.av1 import Av1Quantisers
from stream.errors import UserError
from stream.files import HEIF_SUFFIXES, JPEG_SUFFIXES
from stream.hevc import HevcQuantisers
from stream.jpeg_extras import segments
from stream.vp8 import Vp8Quantisers
from stream.webp import is_animated_webp, webp_layout

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import av

    from kernels.choice import Loaded
    from stream.degrade import Degradation
    from stream.video.source import VideoSource

LOSSLESS_CODECS = frozenset({
    "rawvideo", "ffv1", "huffyuv", "ffvhuff", "utvideo", "magicyuv", "png", "apng", "bmp", "tiff", "qoi", "qtrle",
    "jpegls", "v210", "v410", "r210", "yuv4", "ayuv", "targa", "ppm", "pgm", "pam", "sgi",
})  # fmt: skip
LOSSY_STILL_CODECS = {"mjpeg": "JPEG", "webp": "WebP"}  # intra only: many bits per pixel, still compressed
OPENING_FRAMES = 48  # the frames whose quantisers judge a file: two seconds at 24 fps, a few GOPs
# The most packets read for them: a file cut after a keyframe (ffmpeg -ss ... -c copy) opens with frames
# decoded only to be discarded (its edit list's preroll; sintel cut at 30 s: 60 of them), which give none
OPENING_PACKETS = 8 * OPENING_FRAMES
# H.264's quantiser up to which input is lightly coded, and runs the set for clean input at its depth for such
# input (kernels.pretrained.JUDGED_WEIGHTS; docs/QUALITY.md, "Lightly coded input"), measured on B100 pans coded
# by x264 (benchmarks.heavy_threshold) and on the clips' coded LR: that set (11 units) leads the one for
# compressed input to 21 on both (B100 +0.26 dB below 18, +0.20 at 18-21; the clips +0.21); at 22-25 B100 has it
# lead (+0.09) and the clips trail (-0.09), so 21, where they agree. (0 codes losslessly: clean input.)
LIGHT_QP = 21
# H.264's quantiser from which input is heavily compressed, and runs the set trained for it
# (kernels.pretrained.JUDGED_WEIGHTS) at its depth for it: measured on B100 pans coded by x264, which chose
# nothing else (benchmarks.heavy_threshold; docs/QUALITY.md, "Judged as the product judges"): from 33 the
# set for compressed input keeps CRF 23's busy content (+0.18 dB there against 27, the CRF-based first
# guess), and the heavy set still takes what it serves better (CRF 28-33 within 0.02 dB of 27)
HEAVY_QP = 33
# The MPEG family's quantiser_scale up to which input is lightly coded, and from which it is heavily compressed
# (QuantiserScale), measured on B100 pans coded by FFmpeg's MPEG-2 (benchmarks.heavy_threshold): the set for
# clean input leads the one for compressed input at 2 and 4 (+0.27, +0.14 dB), ties at 6; that one leads
# the heavy set at 12 (+0.11), the heavy set leads from 16 (+0.03, +0.11 at 20)
MPEG_LIGHT, MPEG_HEAVY = 4, 16
# VP9's q index, alike, on B100 pans coded by libvpx: the set for clean input (trained on coded LR too) leads
# the one for compressed input up to 156 (CRF 40, +0.08 dB; +0.34 at 18), ties at 176 and trails from 196 (-0.10);
# that one leads the heavy set to 196, they tie at 220, the heavy set leads from 236 (+0.08 dB, +0.13 at 252)
VP9_LIGHT, VP9_HEAVY = 164, 228
# AV1's base_q_idx (the same q index scale as VP9's, read from its frame headers: stream.av1), alike
# (docs/QUALITY.md, "AV1 by its quantiser"): on B100 pans coded by SVT-AV1 the set for clean input leads the one for
# compressed input to about 175 (+0.13 dB at 140-149, +0.05 at 165-169), the clips' LR to 159 (+0.05 dB at 140-159)
# and trails from 174 (-0.07), so 164 (VP9's, on the same scale); that one leads the heavy set to 239 (+0.04 dB at
# 230-239), the heavy set leads from 240 (+0.06, +0.08 from 250)
AV1_LIGHT, AV1_HEAVY = 164, 240
# VP8's y_ac_qi (its q index, 0-127: a scale of its own, read from its frame headers: stream.vp8), alike
# (docs/QUALITY.md, "VP8 by its quantiser"), coded by libvpx at fixed quantisers: the set for clean input leads the one
# for compressed input on B100 pans to 20 (+0.10 dB at 15, +0.04 at 20), on the clips' LR to 15 (+0.12 dB at 12, +0.03
# at 15) and trails there from 18 (-0.04; -0.07 at 19), so 15; that one leads the heavy set to 39 (+0.18 dB on B100,
# +0.05 on the clips), the heavy set leads from 59 (even on B100, +0.04 at 64; +0.16 dB on the clips, 10 of 11)
VP8_LIGHT, VP8_HEAVY = 15, 59
# HEVC's quantiser (H.264's scale, read from its slice headers: stream.hevc), alike (docs/QUALITY.md, "HEVC by its
# quantiser"): on B100 pans coded by x265 the set for clean input leads the one for compressed input to 30 (+0.12 to
# +0.25 dB below 27, +0.04 at 29-30) and trails from 33; on the clips' LR it leads to 26.5 and is even at 28-30, so
# 27, where both agree; that one leads the heavy set to 38 (+0.02 there), the heavy set leads from 41 (+0.07)
HEVC_LIGHT, HEVC_HEAVY = 27, 40


@dataclass(frozen=True)
class QuantiserScale:
    """How coarsely a codec's frames were coded, as its decoder exports it (`export_side_data=venc_params`) or its
    headers say: the quantiser on the codec's own scale, up to where the set for clean input still restores it best
    (lightly coded input), and where heavily compressed input starts; both measured. 0 is lossless (H.264, VP9,
    AV1)."""

    name: str  # what the header calls it
    light: float  # at or below: lightly coded, the set for clean input at its depth for such input
    heavy: float  # from here: the set for heavily compressed input

    def content(self, quantiser: float) -> str:
        """The content a stream coded at this (median) quantiser is: clean, lightly coded, compressed or heavily
        compressed."""
        if quantiser <= 0:
            return "clean"
        if quantiser <= self.light:
            return "light"
        return "heavy" if quantiser >= self.heavy else "compressed"


# By codec (FFmpeg's name): those whose decoders export their quantisers, or whose headers this package reads
# (HEVC's, AV1's, VP8's: header_quantisers). The thresholds beside H.264's are
# measured as its were, on B100 pans (benchmarks.heavy_threshold; docs/QUALITY.md, "MPEG and VP9 by their
# quantisers"). The MPEG family's (MPEG-1 and -2 of VCDs, DVDs and broadcasts; MPEG-4 Part 2 of XviD and DivX
# AVIs; H.263, FLV's Sorenson, the MS-MPEG-4s and WMV 7/8 of old web video) is its macroblocks' quantiser_scale:
# 2-62 (twice MPEG-1's and MPEG-4's q), or 1-112 on the non-linear scale some DVD encoders use: the step its
# 8x8 blocks were quantised with, either way. VP9's is its frames' base q index (0-255, 0 lossless; libvpx's
# CRF N aims at about 4 N, its hidden alt-ref frames finer); AV1's is its frames' base_q_idx, on the same scale
# (SVT-AV1's and libaom's CRF N aim at 4 N too; key frames and hidden ones much finer); VP8's is its frames' y_ac_qi
# (0-127; libvpx's quantiser 20 of 0-63 codes at 25, 40 at 59).
MPEG_FAMILY = QuantiserScale("quantiser scale", MPEG_LIGHT, MPEG_HEAVY)
QUANTISER_SCALES = {
    "h264": QuantiserScale("quantiser", LIGHT_QP, HEAVY_QP),
    "hevc": QuantiserScale("quantiser", HEVC_LIGHT, HEVC_HEAVY),
    "vp9": QuantiserScale("q index", VP9_LIGHT, VP9_HEAVY),
    "av1": QuantiserScale("q index", AV1_LIGHT, AV1_HEAVY),
    "vp8": QuantiserScale("q index", VP8_LIGHT, VP8_HEAVY),
    **dict.fromkeys(
        ("mpeg1video", "mpeg2video", "mpeg4", "h263", "flv1", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2"), MPEG_FAMILY
    ),
}


# JPEG's quality (libjpeg's 1-100 scale, as read from its luminance table) below which input runs the heavy set:
# measured on Set14 (x2 LR coded by libjpeg; docs/QUALITY.md, "JPEG by its quality"): the heavy set gains more
# up to quality 75 (+0.06 dB there, +0.30 at 50), the set for compressed input from 80 (+0.05, +0.39 at 90)
JPEG_HEAVY_QUALITY = 78
# and from which it is lightly coded, and runs the set for clean input at its depth for such input (docs/QUALITY.md,
# "The finest JPEGs"): that set gains more on Set14 from 95 (+0.10 dB; +0.24 at 97), on the clips' LR from 97
# (+0.25 dB at x2, +0.10 at x4; even at 95). Both on libjpeg's scale: a quality read (to within 0.5) is rounded to it
JPEG_LIGHT_QUALITY = 97
# JPEG's example luminance table (ITU T.81 Annex K), which libjpeg scales by quality: in the zigzag order of a DQT
# fmt: off
_ANNEX_K_LUMA = (
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51,
    61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87, 95, 98, 103, 104, 103, 62, 77,
    113, 121, 112, 100, 120, 92, 101, 103, 99,
)
# fmt: on
NEAR_LOSSLESS_BPP = 1.0  # inter-coded video this rich is an intermediate (ProRes, DNxHD) or nearly lossless
# A GIF by its palette (stream.gif.gif_palette), measured on B100's x2 LR made GIFs (benchmarks.gif_input;
# docs/QUALITY.md, "GIFs"): its own colours, error-diffused or undithered, restore best with the set for lightly
# coded input; a faint ordered dither's with the set for compressed input, a strong one's with the heavy set (the
# light set sharpens its crosshatch); FFmpeg's fixed 3-3-2 palette with the heavy set too, once the source has
# smoothed its dither (stream.gif.smooth_dither)
GIF_CONTENT = {"own": "light", "faint ordered": "compressed", "ordered": "heavy", "fixed": "heavy"}
GIF_EVIDENCE = {"own": "its own palette", "faint ordered": "a faint ordered dither", "ordered": "an ordered dither",
                "fixed": "FFmpeg's fixed 3-3-2 palette, its dither smoothed"}  # fmt: skip
_PARAMS_TYPES = (0, 1, 2)  # AVVideoEncParamsType: VP9's, H.264's, MPEG-2's (the whole MPEG family's)
Judged = tuple[str, str]  # ("clean" | "light" | "compressed" | "heavy", the evidence in words)


def judge(
    codec: str, quantiser: tuple[float, int] | None = None, bits_per_pixel: float | None = None,
    quality: float | None = None, palette: str | None = None,
) -> Judged:  # fmt: skip
    """The content of a stream coded by `codec` (FFmpeg's codec name), from the best evidence given:
    `quantiser` is the median quantiser of its opening frames, and how many frames that is; `quality`, a
    JPEG's (jpeg_quality); `palette`, a GIF's (stream.gif.gif_palette)."""
    if codec in LOSSLESS_CODECS:
        return "clean", f"{codec}, lossless"
    if codec == "gif" and palette is not None:
        return GIF_CONTENT[palette], f"GIF, {GIF_EVIDENCE[palette]}"
    if codec in LOSSY_STILL_CODECS:
        if codec != "mjpeg" or quality is None:
            return "compressed", LOSSY_STILL_CODECS[codec]
        level = round(quality)
        kind = "light" if level >= JPEG_LIGHT_QUALITY else "heavy" if level < JPEG_HEAVY_QUALITY else "compressed"
        return kind, f"JPEG quality {level}"
    if quantiser is not None and codec in QUANTISER_SCALES:
        median, over = quantiser[0], f" over its first {quantiser[1]} frames" if quantiser[1] > 1 else ""
        scale = QUANTISER_SCALES[codec]
        return scale.content(median), f"{codec}, {scale.name} {said(median)}{over}"
    if bits_per_pixel is not None:
        kind = "clean" if bits_per_pixel >= NEAR_LOSSLESS_BPP else "compressed"
        return kind, f"{codec}, {bits_per_pixel:.2f} bits per pixel"
    return "compressed", f"{codec}, a lossy codec"


class HeaderQuantisers(Protocol):
    """What reads a stream's quantisers from its headers (stream.hevc, stream.av1, stream.vp8), made from its
    extradata: the quantisers of the pictures each packet codes, in decode order."""

    def packet(self, data: bytes) -> list[int]: ...


_HEADER_READERS: dict[str, Callable[[bytes | None], HeaderQuantisers]] = {
    "hevc": HevcQuantisers, "av1": Av1Quantisers, "vp8": Vp8Quantisers,
}  # fmt: skip


def header_quantisers(codec: str, extradata: bytes | None) -> HeaderQuantisers | None:
    """A reader of the quantisers a codec's headers say (HEVC's slice headers, AV1's and VP8's frame headers), for
    the codecs (FFmpeg's names) whose decoders export none; None for the others."""
    return _HEADER_READERS[codec](extradata) if codec in _HEADER_READERS else None


def opening_quantiser(decoder: av.VideoCodecContext, packets: Iterable[av.Packet]) -> tuple[float, int] | None:
    """The median of the quantisers of the first OPENING_FRAMES frames `packets` code (-> it, how many frames).
    None for codecs without a QuantiserScale, or where no frame gives one."""
    import av

    codec = decoder.codec.canonical_name  # vp9 also where libvpx decodes it: FFmpeg's own decoder exports
    if (reader := header_quantisers(codec, decoder.extradata)) is not None:
        quantisers: list[float] = []
        # Damage in the opening packets (a demuxer's error, read again here) ends the reading: the main reader's
        # to count and decode past, as decoded_quantisers leaves it (it had failed the run, an AV1 or VP8's)
        with av.logging.Capture(), suppress(av.FFmpegError):
            for q in (float(q) for p in packets for q in reader.packet(bytes(p))):
                quantisers.append(q)
                if len(quantisers) >= OPENING_FRAMES:
                    break
    elif codec in QUANTISER_SCALES:
        quantisers = decoded_quantisers(decoder, codec, packets)
    else:
        return None
    return (statistics.median(quantisers), len(quantisers)) if quantisers else None


def decoded_quantisers(decoder: av.VideoCodecContext, codec: str, packets: Iterable[av.Packet]) -> list[float]:
    """The mean quantisers of the first OPENING_FRAMES frames `packets` code, decoded again by a one-thread
    decoder that exports them: a frame-threaded decoder hands frames over with their quantisers half written
    (a clip read 2.8, 9.7 and 22.6 in three runs)."""
    import av

    probe = av.CodecContext.create(codec, "r")
    probe.extradata, probe.thread_type = decoder.extradata, "NONE"
    probe.width, probe.height = decoder.width, decoder.height  # WMV's and MS-MPEG-4's come from the container
    probe.options = {"export_side_data": "venc_params"}
    quantisers: list[float] = []
    # Damage (demuxed or decoded) is the main reader's to count and report: what libav logs of it here is
    # kept from the log the source counts errors in (this thread's only), and what came before it counts
    with av.logging.Capture(), suppress(av.FFmpegError):
        for packet in chain(packets, [None]):
            quantisers += [q for frame in probe.decode(packet) if (q := frame_quantiser(frame)) is not None]
            if len(quantisers) >= OPENING_FRAMES:
                break
    return quantisers[:OPENING_FRAMES]


def jpeg_quality(data: bytes) -> float | None:
    """The libjpeg quality (1-100) a JPEG's luminance table was scaled from: libjpeg scales Annex K's table
    by 5000 / quality below 50 and by 200 - 2 x quality from 50, so the table's sum against Annex K's
    inverts it (other encoders' tables, FFmpeg's MJPEG among them, read as the libjpeg quality as coarse).
    None where `data` holds no luminance table before its first scan."""
    table = _luma_table(data)
    if table is None:
        return None
    scale = 100 * sum(table) / sum(_ANNEX_K_LUMA)
    return max(1.0, min(100.0, 5000 / scale if scale > 100 else (200 - scale) / 2))


def _luma_table(data: bytes) -> list[int] | None:
    """Quantisation table 0 (luminance, by convention) of the DQT segments that precede a JPEG's first scan."""
    for start, end in segments(data):
        segment, i = data[start + 4 : end] if data[start + 1] == 0xDB else b"", 0
        while i < len(segment):  # DQT: tables of 64 values, each 8 or 16 bits as the table's first nibble says
            wide, size = segment[i] >> 4, 64 << (segment[i] >> 4)
            values = segment[i + 1 : i + 1 + size]
            if segment[i] & 15 == 0 and len(values) == size:
                return [int.from_bytes(values[k : k + 1 + wide], "big") for k in range(0, size, 1 + wide)]
            i += 1 + size
    return None


def frame_quantiser(frame: av.VideoFrame) -> float | None:
    """The mean quantiser of a frame's blocks (VP9: the frame's), on its codec's scale (QuantiserScale),
    where the decoder exported it (`export_side_data=venc_params`); None where it did not."""
    from stream.video.hdr import side_data  # PyAV: loaded when frames are, not with the CLI

    data = side_data(frame).get("VIDEO_ENC_PARAMS", b"")
    if len(data) < 32:
        return None
    blocks, offset, size, kind, qp = struct.unpack_from("<I4xQQii", data)  # AVVideoEncParams' head
    if kind not in _PARAMS_TYPES:
        return None
    deltas = [struct.unpack_from("<i", data, offset + i * size + 16)[0] for i in range(blocks)]  # AVVideoBlockParams
    return qp + sum(deltas) / blocks if blocks else float(qp)


def source_quantiser(source: VideoSource) -> tuple[float, int] | None:
    """How coarsely an opened video was coded, where its codec says (QUANTISER_SCALES): the median quantiser of
    its opening frames (a file's first OPENING_FRAMES, read again from its start; a pipe's, read ahead of its
    decoder: VideoSource.read_ahead).
    The first frame alone misleads: an intra frame is coded finer than the frames that follow, and a
    fade from black finer still (sintel.mp4's dark opening reads 9.8, its first 2 s 17)."""
    decoder, opened = source.video.codec_context, None
    if source.reopen is not None:
        with suppress(UserError):
            opened = source.reopen()
    if opened is None:
        return opening_quantiser(decoder, source.first_packets)
    with opened:
        packets = (p for p in opened.demux(opened.streams[source.video.index]) if p.size)
        return opening_quantiser(decoder, islice(packets, OPENING_PACKETS))


def judge_source(source: VideoSource) -> Judged:
    """An opened video's content: its codec, its opening frames' quantiser, its bit rate per pixel; an animated
    WebP's by its own bitstreams (the source reads its frames unpacked into FFV1: stream.webp)."""
    if source.path is not None and is_animated_webp(source.path):
        return judge_webp(source.path)
    info, stream = source.info, source.video
    bit_rate = stream.bit_rate or source.container.bit_rate
    per_pixel = bit_rate / (info.width * info.height * float(info.rate)) if bit_rate else None
    codec = stream.codec_context.codec.canonical_name  # av1, not its decoder's libdav1d
    quality = jpeg_quality(bytes(source.first_packets[0])) if codec == "mjpeg" and source.first_packets else None
    return judge(codec, source_quantiser(source), per_pixel, quality, source.gif_palette)


def judge_picture(path: Path) -> Judged:
    """A picture file's content, from its format: JPEG by its quality, lossy WebP compressed, HEIC and AVIF by their
    quantisers, the rest lossless."""
    suffix = path.suffix.lower()
    if suffix in JPEG_SUFFIXES:
        with path.open("rb") as f:
            return judge("mjpeg", quality=jpeg_quality(f.read(1 << 20)))  # its tables: after metadata, before data
    if suffix == ".webp":
        return judge_webp(path)
    if suffix in HEIF_SUFFIXES:
        return judge_heif(path)
    return "clean", f"{suffix[1:].upper()}, lossless"


def judge_heif(path: Path) -> Judged:
    """A HEIC or AVIF photo by the quantiser of its first tile's header (a grid's tiles are coded alike)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = [packet for packet in container.demux(stream) if packet.size]
            return judge(stream.codec_context.codec.canonical_name, opening_quantiser(stream.codec_context, packets))
    except (av.FFmpegError, IndexError):  # libheif read it: a lossy photo all the same
        return judge("av1" if path.suffix.lower() == ".avif" else "hevc")


def judge_webp(path: Path) -> Judged:
    """A WebP still or animation: lossless where every picture in it is coded so (VP8L), else compressed."""
    return ("clean", "WebP, lossless") if webp_layout(path).lossless else judge("webp")


def said(quantiser: float) -> str:
    """A median quantiser as the header says it, to a hundredth where it is no whole number: 21.22 is past H.264's
    light 21, and was said as "21", which reads as within it."""
    return f"{quantiser:.2f}".rstrip("0").rstrip(".")


def judge_degradation(degradation: Degradation, kernel: str, quantiser: float | None = None) -> Judged | None:
    """What the product would judge LR made by `kernel` and coded so (evaluation scores the weights a
    user would get): clean LR as a lossless file; coded LR by the median `quantiser` of its frames where it
    was read (stream.eval.video.coded_quantisers), as the product reads a file's, else by what the spec
    asked (x264, x265 and libvpx code at their CRF only on average: the clips' 4 frames at x264 CRF 23 read 19
    to 32). None for the papers' protocol, clean LR by MATLAB's bicubic: no input's, nothing to judge."""
    if degradation.clean:
        return None if kernel == "matlab" else ("clean", f"lossless LR by {kernel}")
    if degradation.codec == "jpeg":  # its q is libjpeg's quality, which the product reads of a JPEG's tables
        return judge("mjpeg", quality=float(degradation.quality or 0))
    named, scale = degradation.label, QUANTISER_SCALES[degradation.decoder or ""]
    if quantiser is not None:
        return scale.content(quantiser), f"{named}, {scale.name} {said(quantiser)}"
    return scale.content(degradation.asked_quantiser), named


def for_content(choice: ModelChoice, judged: Judged) -> ModelChoice:
    """`choice` with the content judged, where it names no weights and leaves the content to auto."""
    if not choice.judged:
        return choice
    return replace(choice, content=judged[0], evidence=judged[1])  # type: ignore[arg-type]


def loaded_for(
    choice: ModelChoice, degradations: Iterable[Degradation], kernel: str,
    quantisers: Mapping[Degradation, float] | None = None,
) -> dict[Degradation, Loaded]:  # fmt: skip
    """The model LR made by `kernel` and coded by each degradation gets, as a user's run on such LR would
    (judged by its frames' `quantisers` where read): one load per set of weights, its header naming the
    degradations it serves ("x264 CRF 18, x264 CRF 23")."""
    groups: dict[str | None, list[tuple[Degradation, str]]] = {}  # by the kind judged; None: nothing judged
    for d in degradations:
        kind, evidence = judge_degradation(d, kernel, (quantisers or {}).get(d)) or (None, "")
        groups.setdefault(kind, []).append((d, evidence))
    loaded: dict[ModelChoice, Loaded] = {}  # named weights: the one choice, loaded once
    models = {}
    for kind, group in groups.items():
        settled = for_content(choice, (kind, ", ".join(e for _, e in group))) if kind else choice
        if settled not in loaded:
            loaded[settled] = settled.load()
        models |= dict.fromkeys((d for d, _ in group), loaded[settled])
    return models
