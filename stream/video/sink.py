"""The sink stage: reattach chroma, encode, mux with the passthrough streams, write.

The output keeps every frame's timestamp (variable frame rate stays variable), the colour
tags and the display rotation of the input, copies the other streams' packets without
touching them (audio the container cannot hold is encoded again), and takes over tags, chapters,
attachments and cover art (video/carry.py). HDR input goes to libx265 in 10 bits with HDR10's
metadata (video/hdr.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from kernels.choice import as_ints, expect, whole
from kernels.errors import reason
from stream.errors import UserError
from stream.files import JPEG_SUFFIXES
from stream.video.carry import Carried, carry, copies_before_video, unreadable_in
from stream.video.chroma import upscale_plane
from stream.video.frames import Frame, VideoInfo, has_alpha, plane_view
from stream.video.guessed_colour import guessed_tags, shown_as
from stream.video.hdr import PQ, x265_params
from stream.video.hold import HELD_IN_PACKET
from stream.video.palette import PALETTE_INPUT, Palettes
from stream.video.pipe_ends import PipeEnd, for_pyav
from stream.video.reencode import MUXER_OPTIONS, deliver, drain, muxer_holds
from stream.video.source import TAG_ERRORS
from stream.video.targets import FRAGMENTED, MP4_FAMILY
from stream.video.upright import KEEPS_ROTATION, Upright, quarter_turns, upright_size

# Codec per container where libx264 cannot go in, and the encoder options we understand. Ogg holds Theora and VP8,
# and PyAV's wheel has no Theora encoder. A raw bitstream's is its codec's (.hevc, .obu; IVF holds VP8, VP9, AV1).
_CODEC_FOR_FORMAT = {"webm": "libvpx-vp9", "ogg": "libvpx", "ogv": "libvpx", "yuv4mpegpipe": "rawvideo",
                     "rawvideo": "rawvideo", "gif": "gif", "apng": "apng", "webp": "libwebp_anim",
                     "avif": "libsvtav1", "hevc": "libx265", "ivf": "libvpx-vp9", "obu": "libsvtav1"}  # fmt: skip
_CODEC_FOR_PICTURES = {".png": "png", **dict.fromkeys(JPEG_SUFFIXES, "mjpeg"), ".webp": "libwebp", ".tif": "tiff",
                       ".tiff": "tiff", ".bmp": "bmp"}  # fmt: skip  # frames_%05d.png: a picture per frame
HOLDS_A_RATE = {"yuv4mpegpipe": "Y4M", "ogg": "Ogg", "ogv": "Ogg"}  # containers that time frames by counting them
UNTAGGED = {"yuv4mpegpipe": "Y4M", "rawvideo": "raw video"}  # containers of uncoded frames, and no colour tags
_CRF_CODECS = {"libx264", "libx264rgb", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"}
_CRF_MAX = {"libx264": 51, "libx264rgb": 51, "libx265": 51}  # the others take --crf's 0..63 (x264 took more as 51)
# FFmpeg's SVT-AV1 takes a CRF of 0 as none given, and codes at SVT's default, 35 (the opposite of a 0 asked);
# libvpx's VP8 refuses one below 4 ("the encoder does not open")
_CRF_MIN = {"libsvtav1": 1, "libvpx": 4}
# libvpx codes at constant quality where the bit rate is 0 (VP9), or caps it (VP8: else it aims at FFmpeg's 200 kb/s)
_CRF_BIT_RATE = {"libvpx-vp9": "0", "libvpx": "1G"}
# Encoders with no CRF that code at a fixed quantiser (the MPEG family's: DVD, XviD, old players), else they too aim
# at 200 kb/s: --crf is taken to the q that codes alike, as the automatic choice's thresholds pair them (H.264's
# quantiser 21 and 33 restore as MPEG's quantiser scale 4 and 16 do: q 2 and 8, stream.content): q doubles every 6
CAPTIONED = {"libx264", "libx265"}  # encoders that code a frame's closed captions (A53) into their SEI
# x265 (PyAV's 4.2) learns how long its B-frames delay decoding from the third frame's pts (Encoder::encode sets
# m_bframeDelayTime at poc 2, never zeroed before) and times the first packets by it: a clip of 1 or 2 frames ends
# before, and its packets' dts come from whatever the heap held there. After other encoders ran in the process that
# was -3.6e18 (MP4's muxer: "pts/dts pair unsupported", the run failed) or a small number off (dts past pts). A clip
# that short is coded as I and P frames in display order: its dts is its pts.
_X265_DELAY_LEARNT_AT = 3
_QSCALE_CODECS = {"mpeg1video", "mpeg2video", "mpeg4", "msmpeg4v2", "msmpeg4", "wmv1", "wmv2", "h263", "h263p", "flv"}


def loop_options(kind: str, plays: int | None) -> dict[str, str]:
    """The muxer's options for an animation that plays `plays` times (0: forever), as the input animation did
    (stream.loops); one made of a video loops forever, as GIF's muxer has it by default and as the animations people
    make do (APNG's and WebP's muxers play once by default). GIF's muxer counts repeats after the first play."""
    plays = plays or 0
    gif_loop = {0: "0", 1: "-1"}.get(plays, str(plays - 1))
    return {"gif": {"loop": gif_loop}, "apng": {"plays": str(plays)}, "webp": {"loop": str(plays)}}.get(kind, {})


def fixed_quantiser(crf: int) -> int:
    """The MPEG family's q (1-31) that codes as x264's `crf` does: 1 to CRF 18, 2 at 21, 8 at 33."""
    return max(1, min(31, round(2 ** ((crf - 15) / 6))))


DEFAULT_CRF = 18  # visually near-lossless for x264


@dataclass(frozen=True)
class EncodeOptions:
    codec: str | None = None  # None: libx264, or what the container needs
    crf: int | None = None  # None: DEFAULT_CRF (asked, it is said where the encoder takes no such setting)
    preset: str | None = None  # x264/x265's, asked; None: default_preset
    default_preset: str = "medium"  # the preset None runs: medium, or GPU_PRESET where the model runs on a GPU
    upright: bool = False  # turn the frames as they show whatever the container: a chunked run's MP4 segments, for an
    # output that cannot say the turn (video/upright.py)

    def __post_init__(self) -> None:
        """The CLI's types for the API's callers (crf="18" failed deep in, as a TypeError)."""
        as_ints(self, "crf")
        expect(self, "crf", whole(self.crf, 0, none=True), "a whole number from 0, or None")
        for name in ("codec", "preset"):
            expect(self, name, getattr(self, name) is None or isinstance(getattr(self, name), str), "a name, or None")

    def for_model_on(self, device_type: str) -> EncodeOptions:
        """The default preset settled: on a CPU the model is the slow stage and medium costs nothing; on a
        GPU the model outruns libx264 medium (43.9 against 36.6 fps at 720p, H200 with 16 cores,
        docs/PERFORMANCE.md), so the encoder would set the pace: veryfast keeps up, for larger files."""
        return replace(self, default_preset=GPU_PRESET if device_type == "cuda" else "medium")

    @property
    def quality(self) -> int:
        """The CRF coded at (the MPEG family's quantiser follows it)."""
        return DEFAULT_CRF if self.crf is None else self.crf

    def unused_by(self, codec_name: str) -> list[str]:
        """The settings asked that `codec_name` takes none of: said, where they were dropped without a word (--crf
        30 into FFV1, lossless; --preset slow into SVT-AV1, whose presets are numbers), as ffmpeg says them."""
        crf_unused = self.crf is not None and codec_name not in _CRF_CODECS | _QSCALE_CODECS
        preset_unused = self.preset is not None and "x26" not in codec_name
        return [f"--crf {self.crf}"] * crf_unused + [f"--preset {self.preset}"] * preset_unused


GPU_PRESET = "veryfast"


def planes_format(info: VideoInfo, width: int, height: int) -> str:
    """The layout the restored planes are assembled in: the input's, unless 4:2:0 or 4:2:2
    cannot hold the output size (odd), when every pixel is kept in 4:4:4 rather than cropped."""
    shift = info.chroma_shift
    if shift and ((shift[0] and width % 2) or (shift[1] and height % 2)):
        return info.pix_fmt.replace("420", "444").replace("422", "444")
    return info.pix_fmt


# Pictures (frames_%05d.png, APNG) in the formats every viewer reads: (grey, grey 10-bit, colour, colour 10-bit,
# transparent colour, transparent colour 10-bit).
_PICTURE_FORMATS = {
    "png": ("gray", "gray16be", "rgb24", "rgb48be", "rgba", "rgba64be"),
    "apng": ("gray", "gray16be", "rgb24", "rgb48be", "rgba", "rgba64be"),
    "tiff": ("gray", "gray16le", "rgb24", "rgb48le", "rgba", "rgba64le"),
    "bmp": ("gray", "gray", "bgr24", "bgr24", "bgr24", "bgr24"),
    "libwebp": ("bgra",) * 6,  # lossless WebP (below) is RGB
    "libwebp_anim": ("bgra",) * 6,
}


# Pictures as stills.py writes them: WebP lossless (an animated WebP too, as APNG is); JPEG near it (rate control
# gets a budget it never reaches).
_PICTURE_OPTIONS = {"libwebp": {"lossless": "1"}, "libwebp_anim": {"lossless": "1"},
                    "mjpeg": {"b": "1000M", "qmin": "1", "qmax": "2"}}  # fmt: skip
_STUDIO, _FULL = 1, 2  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
_RGB_MATRIX = 0  # AVCOL_SPC_RGB: no matrix
_TRIAL_SIZE = 64  # read_back's frame: a size every encoder takes, macroblocks and chroma halves whole
# Encoders that open at any size and refuse a larger frame only once sent one, after its model time (check_opens
# finds the others' limits before it)
_LONGEST_SIDE = {"libwebp": 16383, "libwebp_anim": 16383}
# Formats an encoder lists but refuses: libvpx codes VP9's alpha only in 4:2:0 (else it asks for -strict experimental)
_LISTED_NOT_TAKEN = {"libvpx-vp9": {"yuva422p", "yuva444p"}}
_VPX = ("libvpx", "libvpx-vp9")
# Outputs with colour rules of their own: pictures in RGB or grey, JPEG in BT.601 full range, GIF a palette
_OWN_COLOUR = {*_PICTURE_FORMATS, "mjpeg", "gif"}


def encoder_format(fmt: str, codec: av.Codec) -> str:
    """`fmt` if the encoder takes it, else its nearest: same layout in studio range; with alpha, the
    alpha kept in 4:2:0 (transparency is seen more than chroma detail), or in 4:4:4 (ProRes 4444: its 4:2:2
    had dropped it), then none; the same layout in 10 bits, then in 8; 4:2:0; at last the encoder's first software
    format (ProRes from 8 bits: 4:2:2 in 10).
    Frames are converted by swscale. Picture encoders get RGB or grey; JPEG its full-range YUV; GIF
    a palette (video/palette.py)."""
    deep = fmt.endswith("10le")
    if codec.name in _PICTURE_FORMATS:
        kind = 0 if fmt.startswith("gray") else 1 + fmt.startswith("yuva")
        return _PICTURE_FORMATS[codec.name][2 * kind + deep]
    if codec.name == "mjpeg":
        return "yuvj444p"  # no chroma subsampling: a still is looked at closely
    if codec.name == "gif":
        return "pal8"
    taken = [f.name for f in codec.video_formats or [] if f.name not in _LISTED_NOT_TAKEN.get(codec.name, ())]
    if not taken:  # rawvideo lists none: it takes any
        return fmt
    studio = fmt.replace("yuvj", "yuv")
    opaque = studio.replace("yuva", "yuv")
    alpha = ["yuva420p" + "10le" * deep, "yuva444p" + "10le" * deep, "yuva444p10le"] if studio != opaque else []
    deeper = opaque if deep else opaque + "10le"
    shallower = opaque.removesuffix("10le")  # 10-bit 4:2:2 into utvideo, MPEG-2: 4:2:2 kept, as ffmpeg keeps it
    for candidate in (studio, *alpha, opaque, deeper, shallower, f"yuv420p{'10le' * deep}", "yuv420p"):
        if candidate in taken:
            return candidate
    software = [f for f in taken if av.VideoFormat(f).components]  # not a device's (qsv, vaapi)
    if not software:
        raise UserError(f"the {codec.name} encoder takes none of the formats the frames can be given in ({fmt})")
    return software[0]


def holds_alpha(codec_name: str, pix_fmt: str, kind: str) -> bool:
    """Whether the output keeps transparency: GIF's palette has an entry for it; libvpx codes VP8's and
    VP9's alpha as a second picture beside the first, which only Matroska (WebM) carries."""
    if codec_name == "gif":
        return True
    return has_alpha(av.VideoFormat(pix_fmt)) and (codec_name not in _VPX or kind in ("matroska", "webm"))


def default_codec(info: VideoInfo) -> str:
    """libx264; for HDR input libx265 where this build has it, which keeps its 10 bits and HDR10's metadata."""
    return "libx265" if info.is_hdr and "libx265" in av.codecs_available else "libx264"


def video_encoder(name: str) -> av.Codec:
    """The video encoder `name` stands for: itself, or the one FFmpeg picks for a format's name ("h264" ->
    libx264, "hevc" -> libx265, "vp9" -> libvpx-vp9); a name of no video encoder is a one-line error."""
    try:
        codec = av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        raise UserError(f"no encoder named {name!r} in this build of PyAV") from None
    if codec.type != "video":
        raise UserError(f"--codec {name}: an encoder of {codec.type}, not of video")
    return codec


HARDWARE = ("_nvenc", "_qsv", "_vaapi", "_amf", "_videotoolbox", "_v4l2m2m")  # encoders that need a device


def check_opens(ctx: av.VideoCodecContext) -> None:
    """Open a copy of the encoder as set up: one this machine lacks (NVENC without NVIDIA's driver,
    QSV without Intel's), or options or a rate it refuses, fail here, in one line saying what the encoder
    logged, before any frame is restored. (The stream's own context opens when the muxer starts, which first
    sets its header flags.)"""
    probe = av.CodecContext.create(ctx.name, "w")
    probe.width, probe.height, probe.pix_fmt, probe.time_base = ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base
    set_like(probe, ctx)
    try:
        probe.open()
    except av.FFmpegError as e:
        hint = "; a hardware encoder: no device or driver for it here" if ctx.name.endswith(HARDWARE) else ""
        said = e.log[2].strip() if getattr(e, "log", None) else ""  # what the encoder logged: why, where it says
        raise UserError(f"--codec {ctx.name}: the encoder does not open ({said or reason(e)}{hint})") from None


def video_like(container: av.container.OutputContainer, stream: av.video.stream.VideoStream) -> av.stream.Stream:
    """A stream with `stream`'s encoder, set up as the run's (picture, time base, quantisers, options), in
    `container`: its encoder opens there as the run's will."""
    ctx = stream.codec_context
    like = container.add_stream(ctx.name, rate=ctx.framerate)
    like.width, like.height, like.pix_fmt = stream.width, stream.height, stream.pix_fmt
    like.time_base = like.codec_context.time_base = ctx.time_base
    set_like(like.codec_context, ctx)
    return like


def at_25(container: av.container.OutputContainer, stream: av.video.stream.VideoStream) -> av.stream.Stream:
    """video_like at 25 fps: where a muxer takes that and not the run's, it refused the rate (MXF takes broadcast
    rates alone: a 12 fps clip was "cannot hold libx264 video", which it holds at 25)."""
    like = video_like(container, stream)
    like.time_base = like.codec_context.time_base = Fraction(1, 25)
    like.codec_context.framerate = Fraction(25)
    return like


def read_back(kind: str, stream: av.video.stream.VideoStream) -> tuple[int, int] | None:
    """The code range and matrix a `kind` file of `stream`'s encoder tells players, its frames being of the stream's
    (full range, a guessed matrix): H.264, HEVC, VP9 and AV1 say both in their coding, Matroska for any codec;
    VP8, MPEG-2 and ProRes code studio range alone (FFmpeg tags them so whatever their codes), MPEG-4 Part 2, FFV1
    or Ut Video in AVI or MP4 say nothing (a player takes studio range, and guesses the matrix). Found as
    muxer_holds finds a header taken: a blank frame coded into such a file in memory and read back; None where the
    encoder takes no such small frame."""
    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format=kind, options=MUXER_OPTIONS.get(kind)) as trial:
            like = video_like(trial, stream)
            like.width = like.height = _TRIAL_SIZE
            frame = av.VideoFrame(_TRIAL_SIZE, _TRIAL_SIZE, stream.pix_fmt)
            frame.pts, frame.color_range = 0, like.codec_context.color_range
            frame.colorspace = like.codec_context.colorspace
            for packet in [*like.encode(frame), *like.encode(None)]:
                trial.mux(packet)
        buffer.seek(0)
        with av.open(buffer) as back:
            said = next(back.decode(video=0))
            return said.color_range, said.colorspace
    except (av.FFmpegError, ValueError, StopIteration):
        return None


def set_like(trial: av.VideoCodecContext, ctx: av.VideoCodecContext) -> None:
    """A trial encoder given the run's quantisers, options, rate and colour: x265 checks its HDR10 options against the
    colour (without it, an HDR run printed x265's "[error] ... Disabling hdr10-opt" from the trial)."""
    trial.qmin, trial.qmax, trial.options = ctx.qmin, ctx.qmax, dict(ctx.options)
    if ctx.framerate:  # SVT-AV1 read a rate of 1 / time base (10240 fps) and refused to open: "bad parameter"
        trial.framerate = ctx.framerate
    trial.color_range, trial.colorspace = ctx.color_range, ctx.colorspace
    trial.color_primaries, trial.color_trc = ctx.color_primaries, ctx.color_trc


def not_held(kind: str, codec_name: str, chosen: bool) -> str:
    """The line for a container that cannot hold the video's encoder, named by --codec (`chosen`) or the default.
    (The sink writes a temporary file: the user's name for it is the caller's.)"""
    advice = "--codec names it: name another" if chosen else "its default here: name another with --codec"
    return f"the output's container, {kind}, cannot hold {codec_name} video ({advice})"


def hdr_lost(info: VideoInfo, codec_name: str, pix_fmt: str, kind: str) -> str:
    """What an HDR input loses in `codec_name` (chosen with --codec, or the container's) in the container `kind`,
    in a line ("": nothing)."""
    if not info.is_hdr:
        return ""
    if kind in UNTAGGED:  # Y4M's header has a range and no more: what reads it took it for SDR, washed out, unsaid
        trc = "smpte2084" if info.color_trc == PQ else "arib-std-b67"
        return (f"warning: {UNTAGGED[kind]} has no colour tags: this HDR video goes untagged; tell what reads it "
                f"(ffmpeg: -color_trc {trc} -color_primaries bt2020 -colorspace bt2020nc)")  # fmt: skip
    metadata = (info.hdr.master_display or info.hdr.max_cll) and codec_name != "libx265"
    no_metadata = "no HDR10 metadata (mastering display, light levels)"
    if av.VideoFormat(pix_fmt).components[0].bits <= 8:  # the metadata's loss was left unsaid beside the depth's
        return (f"warning: {codec_name} encodes this HDR input in 8 bits ({pix_fmt}): expect banding"
                + (f", and writes {no_metadata}" if metadata else "") + " (libx265 keeps 10 bits and it)")  # fmt: skip
    return f"{codec_name} writes {no_metadata}: libx265 does" if metadata else ""


def chroma_size(pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    fmt = av.VideoFormat(pix_fmt, width, height)
    return fmt.components[1].width, fmt.components[1].height


class VideoSink:
    """Encodes restored frames and copies the other streams into one output container."""

    def __init__(
        self,
        dst: str | Path | BinaryIO | PipeEnd,
        info: VideoInfo,
        scale: int,
        carried: Carried,
        options: EncodeOptions,
        format: str | None = None,
        notice: Callable[[str], None] = print,
    ) -> None:
        self.info, self.scale = info, scale
        self.width, self.height = info.width * scale, info.height * scale
        self.pipe = dst if isinstance(dst, PipeEnd) else None
        name = str(getattr(dst, "name", dst))  # a file object's as said: stdout, a pipe by name
        try:
            self.container = av.open(str(dst) if isinstance(dst, Path) else for_pyav(dst), mode="w", format=format,
                                     metadata_errors=TAG_ERRORS)  # fmt: skip
        except ValueError:
            raise UserError(f"{name}: cannot tell the container format from the name") from None
        except (OSError, av.FFmpegError) as e:
            raise UserError(f"{name}: cannot write ({getattr(e, 'strerror', None) or e})") from None
        kind = self.container.format.name
        self.container.options.update(loop_options(kind, info.plays) | MUXER_OPTIONS.get(kind, {}))
        if kind in MP4_FAMILY and self.pipe is not None:  # stdout, a named pipe: no seeking back at the end
            self.container.options.update(FRAGMENTED)
        pictures = _CODEC_FOR_PICTURES.get(Path(name).suffix.lower()) if kind == "image2" else None
        codec_name = options.codec or pictures or _CODEC_FOR_FORMAT.get(kind, default_codec(info))
        codec = video_encoder(codec_name)
        codec_name = codec.name  # "h264" is libx264 (or what else the build has): its options are libx264's
        self.planes_fmt = planes_format(info, self.width, self.height)
        self.pix_fmt, self.codec_name = encoder_format(self.planes_fmt, codec), codec_name
        self.keeps_alpha = info.has_alpha and holds_alpha(codec_name, self.pix_fmt, kind)
        if info.has_alpha and not self.keeps_alpha:  # the source is told (video.enhance.restoring_pipeline)
            notice(f"{codec_name} in {kind} holds no transparency: the input's is dropped (GIF, APNG, WebM, ProRes "
                   "keep it)")  # fmt: skip
            self.planes_fmt = self.planes_fmt.replace("yuva", "yuv")
            self.pix_fmt = encoder_format(self.planes_fmt, codec)  # none coded to be lost
        # (yuvj420p is yuv420p in full range, by its old name: the range is said below where it is not kept)
        if self.pix_fmt not in {f.replace("yuvj", "yuv") for f in (info.pix_fmt, info.pix_fmt.replace("yuva", "yuv"))}:
            notice(
                f"encoding {self.pix_fmt} (input {info.pix_fmt}): {codec_name} at {self.width}x{self.height} needs it"
            )
        if (lost := hdr_lost(info, codec_name, self.pix_fmt, kind)) and not pictures:
            notice(lost)
        if (bits := max(c.bits for c in av.VideoFormat(info.source_pix_fmt).components)) > 10:  # ProRes 4444's 12
            notice(
                f"the input's {bits}-bit samples are restored and written in 10 bits, the deepest this tool works in"
            )
        before = copies_before_video(self.container, carried, notice, reencode=True)
        try:
            self.stream = self.container.add_stream(codec_name, rate=info.rate)
        except ValueError:  # a codec the muxer says it cannot hold (libx264 in WebM)
            raise UserError(not_held(kind, codec_name, options.codec is not None)) from None
        if codec.name in ("hevc", "libx265") and kind.startswith(("mp4", "mov")):
            self.stream.codec_tag = "hvc1"  # what Apple's players take; FFmpeg's default hev1 they refuse
        # The restored frames are made at the stored size; turned upright where the container cannot say the turn
        turned = quarter_turns(info.rotation) and (options.upright or kind not in KEEPS_ROTATION)
        self.upright = Upright(info.rotation) if turned else None
        shown = upright_size(info.rotation, self.width, self.height) if turned else (self.width, self.height)
        if max(shown) > (longest := _LONGEST_SIDE.get(codec_name, max(shown))):
            raise UserError(f"{codec_name} codes at most {longest} pixels a side, and x{scale} makes {shown[0]}x"
                            f"{shown[1]}: name another format (.mkv, .png)")  # fmt: skip
        self.stream.width, self.stream.height, self.stream.pix_fmt = *shown, self.pix_fmt
        # Y4M stores a frame rate, not timestamps, and MPEG-1/2 code only their standard rates, one tick a frame:
        # there frames are numbered at the nominal rate. AVI counts time in frames at its header's rate, a gap a
        # frame left empty: there each frame takes its own tick at the input's tick rate (as FFmpeg times AVI), not
        # its time base (an MP4's 1/12800 made the header say 12800 fps, with 511 empty frames after each). Ogg times
        # VP8 by the tick after each frame: in a time base of 1/12800 its first frame came a tick before the second;
        # and a frame after a gap is read back a tick after the one before it (as FFmpeg's own passthrough writes
        # it): there frames that come unevenly are numbered at the nominal rate too, as in Y4M, not misplaced.
        uneven = bool(info.tick_rate) and abs(info.tick_rate / info.rate - 1) > 0.01  # FFmpeg's rate guess
        self.renumber = kind == "yuv4mpegpipe" or codec_name in ("mpeg1video", "mpeg2video") or (
            uneven and kind in ("ogg", "ogv"))  # fmt: skip
        if self.renumber and uneven:
            notice(
                f"{HOLDS_A_RATE.get(kind, codec_name)} holds a frame rate, not times: this input's frames come "
                f"unevenly, and go in evenly at {float(info.rate):.4g} fps (their timing is lost)"
            )
        self.ticked = self.container.format.name in ("avi", "ogg", "ogv")
        self.time_base = (
            1 / info.rate if self.renumber else 1 / (info.tick_rate or info.rate) if self.ticked else info.time_base
        )
        self.stream.time_base = self.time_base
        if kind in MP4_FAMILY:  # its edit lists' delays are in the movie's time scale, 1/1000 unless said: a chunk's
            # segment starting at 10240/15360 s began at 10230, every frame of it a millisecond early once joined
            self.container.options["movie_timescale"] = str(self.time_base.denominator)
        ctx = self.stream.codec_context
        ctx.time_base = self.time_base
        if self.ticked:
            ctx.framerate = 1 / self.time_base  # what AVI's header counts its length in
        self.color_range = _FULL if info.coding.full_range else info.color_range  # (yuvj420p untagged is full)
        self.matrix, self.primaries = info.colorspace, info.color_primaries
        if info.chroma_shift is not None and codec_name not in _OWN_COLOUR and not self._rgb:  # grey has no matrix
            self.matrix, self.primaries = shown_as(info, shown)  # (as coded: turned upright where it is)
        ctx.color_range, ctx.colorspace = self._range_and_matrix()
        ctx.color_primaries, ctx.color_trc = self.primaries, info.color_trc
        if info.sample_aspect_ratio:  # a pixel turned a quarter is as wide as it was high
            quarter = turned and quarter_turns(info.rotation) != 180
            ctx.sample_aspect_ratio = 1 / info.sample_aspect_ratio if quarter else info.sample_aspect_ratio
        ctx.options |= _PICTURE_OPTIONS.get(codec_name, {})
        if codec_name in _CRF_CODECS:
            low, high = _CRF_MIN.get(codec_name, 0), _CRF_MAX.get(codec_name, 63)
            if not low <= options.quality <= high:  # (x265 said why twice, then "does not open")
                raise UserError(f"--crf {options.quality}: {codec_name} takes {low} to {high}")
            preset = options.preset or options.default_preset
            ctx.options = {"crf": str(options.quality)} | ({"preset": preset} if "x26" in codec_name else {})
            if codec_name in _CRF_BIT_RATE:
                ctx.options |= {"b": _CRF_BIT_RATE[codec_name]}
        if codec_name == "libvpx" and has_alpha(av.VideoFormat(self.pix_fmt)):
            ctx.options |= {"auto-alt-ref": "0"}  # libvpx's VP8 codes no alpha with alternate references
        if codec_name in _QSCALE_CODECS:
            ctx.qmin = ctx.qmax = fixed_quantiser(options.quality)
        if codec_name == "libx265":
            ctx.options |= {"x265-params": x265_params(info.color_trc, info.hdr), "a53cc": "1"}  # libx264's is on
        if unused := options.unused_by(codec_name):
            notice(f"{' and '.join(unused)}: {codec_name} takes no such setting (x264 and x265 take both); left out")
        if info.captions and codec_name not in CAPTIONED:
            notice(f"the input's closed captions (in its video's coding) are left out: {codec_name} codes none "
                   "(libx264 and libx265 do)")  # fmt: skip
        if info.rotation and not turned:
            self.stream.set_display_rotation(info.rotation)
        self._chroma_size = chroma_size(self.planes_fmt, self.width, self.height) if info.chroma_shift else None
        self._palettes = Palettes(*shown, self.time_base) if codec_name == "gif" else None
        self.frames_written = 0
        self._last_pts, self._shows = 0, None  # the latest frame's pts (the sink's), how long it shows where timed
        self._held: av.Packet | None = None  # the latest packet, muxed once the next one comes (or at the end)
        # The encoder opened as set up in a header written in memory, before any frame is restored: it fails where
        # the encoder does not open (this machine lacks it, or it refuses an option or a rate: MPEG-2 at 600/31 fps)
        # or the muxer refuses its video at its header (H.264 in Ogg); check_opens then tells which
        unreadable = unreadable_in(kind, self.stream)
        if unreadable or not muxer_holds(kind, lambda trial: video_like(trial, self.stream)):
            check_opens(self.stream.codec_context)
            if not unreadable and muxer_holds(kind, lambda trial: at_25(trial, self.stream)):
                rates = " (MXF: broadcast rates alone, 23.98 to 60)" if kind.startswith("mxf") else ""
                raise UserError(f"the output's container, {kind}, takes no video at {float(info.rate):.4g} fps{rates}; "
                                "name another container, e.g. .mov")  # fmt: skip
            raise UserError(not_held(kind, codec_name, options.codec is not None))
        if codec_name not in _OWN_COLOUR and not self._rgb and not self.pix_fmt.startswith("gray"):  # (no matrix)
            self._colour_as_said(kind, shown, notice)
        self.copies = carry(self.container, self.stream, carried, notice, reencode=True, before=before)
        self._muxed: dict[int, Fraction] = {}  # the last decode time muxed of each copied stream (reencode.deliver)

    def _chroma(self, plane: np.ndarray) -> np.ndarray:
        assert self._chroma_size is not None and self.info.chroma_shift is not None
        promoted = "444" in self.planes_fmt and "444" not in self.info.pix_fmt  # odd output sizes: see planes_format
        fx, fy = (self.scale << s if promoted else self.scale for s in self.info.chroma_shift)
        return upscale_plane(plane, (fx, fy), self._chroma_size, self.info.coding.max_code)

    def _blank(self, frame: Frame) -> av.VideoFrame:
        """A frame of the output's size and layout for the planes: made from the input frame's closed captions'
        holder where it has one, so that they come with it for the encoder to code (libx264's and libx265's a53cc):
        PyAV adds side data to no frame, and its reformat copies a frame's, as FFmpeg's av_frame_copy_props does."""
        if frame.captions is None:
            return av.VideoFrame(self.width, self.height, self.planes_fmt)
        return frame.captions.reformat(width=self.width, height=self.height, format=self.planes_fmt)

    def _av_frame(self, frame: Frame, pts: int) -> av.VideoFrame:
        assert frame.restored is not None
        out = self._blank(frame)
        planes = [frame.restored.y] + [self._chroma(c) for c in frame.chroma]
        if frame.alpha is not None:
            size, max_code = (self.width, self.height), self.info.coding.max_code
            planes.append(upscale_plane(frame.alpha, (self.scale, self.scale), size, max_code))
        for plane, data in zip(out.planes, planes, strict=True):
            plane_view(plane, self.info.sample_dtype)[:] = data
        out.pts, out.time_base = pts, self.time_base
        out.color_range, out.colorspace = self.info.color_range, self.matrix
        out.color_primaries, out.color_trc = self.primaries, self.info.color_trc
        if self.codec_name == "mjpeg":  # JPEG readers assume BT.601 in full range; swscale changes matrix only via RGB
            rgb = out.reformat(format="rgb24")  # by the frame's own matrix and range
            return rgb.reformat(format=self.pix_fmt, dst_colorspace="itu601", dst_color_range=_FULL)
        if self._palettes is not None:
            return out.reformat(format=PALETTE_INPUT)
        if self.color_range != out.color_range and not self._rgb:  # full range coded in studio range
            coded = out.reformat(format=self.pix_fmt, dst_color_range=self.color_range)
        elif self.pix_fmt == self.planes_fmt:
            return out
        else:
            coded = out.reformat(format=self.pix_fmt)
        coded.color_range, coded.colorspace = self._range_and_matrix()  # (swscale's RGB kept the YUV frame's tags)
        return coded

    @property
    def _rgb(self) -> bool:
        return av.VideoFormat(self.pix_fmt).is_rgb

    def _colour_as_said(self, kind: str, shown: tuple[int, int], notice: Callable[[str], None]) -> None:
        """Full-range input coded in studio range where the output cannot say full range: a player reads codes as
        studio range unless told, and the full range's blacks and whites came out crushed and clipped (.ogv's VP8,
        ProRes, MPEG-4 Part 2 in AVI); swscale converts them in _av_frame, as FFmpeg's format negotiation does. A
        guessed SD matrix (guessed_colour.py) is said where the output keeps it, and where it cannot, that players
        will take BT.709."""
        guessed = guessed_tags(self.info, self.matrix, self.primaries)
        if self.color_range != _FULL and not guessed:
            return
        said = read_back(kind, self.stream)
        if self.color_range == _FULL and (said is None or said[0] != _FULL):
            self.color_range = self.stream.codec_context.color_range = _STUDIO
            notice(f"the input's full-range codes are coded in studio range: {self.codec_name} in {kind} cannot say "
                   "full range (libx264, libx265, VP9 and AV1 can)")  # fmt: skip
        size = f"{self.info.width}x{self.info.height}"
        if guessed and said is not None and said[1] == self.matrix:
            notice(f"the input's untagged {guessed}, as players show it at {size} (at {shown[0]}x{shown[1]} they "
                   "would take BT.709)")  # fmt: skip
        elif guessed:
            notice(f"warning: players show this untagged input through BT.601 at {size} and through BT.709 at "
                   f"{shown[0]}x{shown[1]}, and {self.codec_name} in {kind} cannot say which: expect shifted "
                   "greens and reds (libx264 in .mp4 or .mkv keeps it)")  # fmt: skip

    def _range_and_matrix(self) -> tuple[int, int]:
        """The output's code range and matrix: the input's, but RGB's where the encoder takes RGB (libx264rgb, or one
        that takes RGB alone: QuickTime Animation), which swscale makes full range (tagged as the YUV input's studio
        range, a player that heeds the tag stretched the contrast)."""
        if self._rgb:
            return _FULL, _RGB_MATRIX
        return self.color_range, self.matrix

    def _pts(self, frame: Frame) -> int:
        """The frame's pts in the sink's time base: its number, its tick (the next free one where two frames round
        to one), or its own."""
        if self.renumber:
            return frame.index
        if self.ticked:
            tick = round(frame.pts * self.info.time_base / self.time_base)
            return tick if self.frames_written == 0 else max(tick, self._last_pts + 1)
        return frame.pts

    def _encode(self, frame: av.VideoFrame | None) -> None:
        """Encode and mux `frame` (None: drain the encoder), mapped onto its palette first for GIF."""
        frames = [frame] if self._palettes is None else self._palettes.push(frame)
        if frame is None and self._palettes is not None:
            frames.append(None)  # the encoder's own drain, after the palettes'
        for each in frames:
            for packet in self.stream.encode(each):
                self._mux(packet)

    def _mux(self, packet: av.Packet | None) -> None:
        """Mux the packet before `packet`; None: the last one, lasting to the last frame's end. Muxers time a
        frame by the next one's pts, the last one (an animation's pause at its end, a video's last frame) by its
        packet's duration, else by a guess (the rate's, the frame before's); with reordered frames the last
        packet muxed (decode order) is not the last frame's, so its duration reaches to the end from its own pts.
        (Packets come out in the encoder's time base, the sink's.)"""
        held, self._held = self._held, packet
        if held is None:
            return
        if packet is None and self._shows is not None and held.pts is not None:
            held.duration = max(held.duration or 0, self._last_pts + self._shows - held.pts)
            if write_hold := HELD_IN_PACKET.get(self.codec_name):  # muxers that take no duration (video/hold.py)
                # in place, the bytes' length unchanged: a new packet lost the encoder's side data (its
                # extradata), and APNG's muxer crashed on a one-frame animation without it
                memoryview(held)[:] = write_hold(bytes(held), self._shows * self.time_base)
        if self.codec_name == "libx265" and self.frames_written < _X265_DELAY_LEARNT_AT:
            held.dts = held.pts
        self.container.mux(held)

    def write_frame(self, frame: Frame) -> None:
        pts = self._pts(frame)
        timed = frame.duration and not (self.renumber or self.ticked)  # else frames keep the encoder's one tick
        self._last_pts, self._shows = pts, frame.duration if timed else None
        out = self._av_frame(frame, pts)
        self._encode(self.upright.turn(out) if self.upright else out)
        self.frames_written += 1

    def write_packet(self, packet: av.Packet) -> None:
        deliver(self.container, self.copies.get(packet.stream.index), packet, self._muxed)

    def stop_waiting(self) -> None:
        """A second stop signal: a reader of the output's pipe (stdout, a pipe by name) that takes nothing is not
        waited on (video/pipe_ends.py)."""
        if self.pipe is not None:
            self.pipe.stop()

    def close(self) -> None:
        """Drain the encoders and finish the container (an mp4 is unplayable without this). A write that
        fails in the trailer raises what failed it (BrokenPipeError: stdout's reader went away), as a
        write by mux does, not PyAV's wrapper of it."""
        try:
            self._encode(None)
            self._mux(None)
            drain(self.copies)
        finally:
            try:
                self.container.close()
            except av.error.PyAVCallbackError as e:
                if isinstance(e.__context__, OSError):
                    raise e.__context__ from None
                raise
