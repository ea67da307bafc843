"""The source stage: demux and decode one input with PyAV.

Video packets are decoded into `Frame` records whose planes are copied straight out of the
decoded frame (no RGB round trip). Packets of the other streams (audio, subtitles, data, other
video) are yielded untouched, in demux order, for the sink to copy. Damage is decoded past.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.logging
from av.sidedata.sidedata import Type

from kernels.colour import LumaCoding
from kernels.errors import reason
from stream.content import OPENING_FRAMES, OPENING_PACKETS
from stream.errors import UserError
from stream.files import check_input, is_numbered, numbered_files, sequence_gap
from stream.gif import OPENING, opening_palette, smooth_dither
from stream.loops import animation_plays
from stream.video.carry import Carried, is_cover, is_remade_track
from stream.video.chroma import fill_transparent
from stream.video.deinterlace import FRAMES_FLAGGED, PARITIES, Deinterlace, Deinterlacer, field_order
from stream.video.frames import Frame, VideoInfo, is_full_range, is_rgb, is_transparent, plane_view, working_format
from stream.video.hdr import hdr_metadata
from stream.video.pipe_ends import PipeEnd, for_pyav, named_pipe, signals_passed_on
from stream.video.stitch import Stitcher, may_jump
from stream.webp import is_animated_webp, unpack_animation

PASSTHROUGH_TYPES = ("video", "audio", "subtitle", "data")  # copied: every stream but the enhanced one
# Tags as their bytes are, UTF-8 or not (an old AVI's Latin-1 title; a damaged MP4's): PyAV's strict decoding refused
# such a file as "cannot open ('utf-8' codec can't decode ...)", which ffmpeg copies as it is; written back the same
TAG_ERRORS = "surrogateescape"
MAX_DEMUX_ERRORS = 16  # in a row, with no packet between: the rest of the input is beyond reading
_BT601, _MPEG_RANGE = 6, 1  # AVCOL_SPC_SMPTE170M, AVCOL_RANGE_MPEG
STILL_CODECS = {"png", "mjpeg", "bmp", "webp", "tiff", "jpegls", "jpeg2000", "qoi"}  # a picture, where no length says
# Seconds read before a part asked for: demuxers that seek by time alone (MPEG-TS) can land past the keyframe
# before it, and the frames up to the next one do not decode. Those before the part are decoded and dropped.
PREROLL = Fraction(10)
_DURATION = re.compile(r"\d+:\d\d:\d\d(\.\d+)?")  # Matroska's DURATION tag: H:MM:SS.fraction
# FFmpeg's own VP8 and VP9 decoders leave out a WebM's alpha (Matroska's BlockAdditional); libvpx's decode it
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
HEIF_BRANDS = {"avif", "avis", "heic", "heix", "mif1", "msf1"}  # ISO BMFF brands of AVIF and HEIF images
A53_CC = Type.A53_CC  # closed captions (CEA-608/708) a decoder found in the coding (H.264's and MPEG-2's SEI)
# How FFmpeg's Matroska demuxer gives a track's AlphaMode; a tag copied by an earlier run may say it in capitals
ALPHA_MODE = "alpha_mode"
# libav's messages go to Python logging once a source has set its level (VideoSource._start), each source's
# DecodeErrors counting them; where none listens (between a batch's files) none is printed by logging's last
# resort: a folder's next file said "moov atom not found" bare, above its own one-line failure
LIBAV_LOG = logging.getLogger("libav")
LIBAV_LOG.addHandler(logging.NullHandler())


def has_captions(frame: av.VideoFrame) -> bool:
    """Whether the frame holds closed captions (A53). PyAV's look-up fails on a kind of side data its list lacks
    (FFmpeg 8's EXIF, kind 31, on a JPEG's frames): such a frame is taken as holding none."""
    try:
        return bool(frame.side_data.get(A53_CC))
    except ValueError:
        return False


def open_input(
    src: str | Path | BinaryIO | PipeEnd, format: str | None = None, demuxer: dict[str, str] | None = None
) -> av.container.InputContainer:
    """The input opened; `demuxer`: its demuxer's options (image2's framerate for numbered pictures). An
    animated WebP, which FFmpeg does not decode, is opened as its frames unpacked (stream.webp)."""
    name = src if isinstance(src, str | Path) else getattr(src, "name", src)  # a Path's .name is its last part
    if isinstance(src, str | Path):
        check_input(src)
        if format in (None, "image2") and is_numbered(src) and (found := numbered_files(Path(src))):
            demuxer = {"start_number": str(found[0][0])} | (demuxer or {})  # image2 looks for one from 0 to 4 alone
        elif is_animated_webp(src):
            src = unpack_animation(src)
    if isinstance(src, PipeEnd) and not src.peek(1):  # FFmpeg said "Invalid data found when processing input"
        raise UserError(f"{name}: nothing came through it (empty)")
    try:
        return av.open(str(src) if isinstance(src, Path) else for_pyav(src), mode="r", format=format, options=demuxer,
                       metadata_errors=TAG_ERRORS)  # fmt: skip
    except av.FFmpegError as e:
        if format == "rawvideo":  # its frames' size, pixel format and rate are given to ffmpeg, and here nowhere
            raise UserError(f"{name}: raw video says nothing of its frames' size and pixel format, which cannot be "
                            "given here; send Y4M or NUT instead (ffmpeg ... -f yuv4mpegpipe -)") from None  # fmt: skip
        raise UserError(f"{name}: not a readable media file ({e.strerror or type(e).__name__})") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{name}: cannot open ({e})") from None


def decoder_for(stream: av.video.stream.VideoStream) -> av.CodecContext:
    """The stream's own decoder, or libvpx's where a WebM says its VP8/VP9 carries alpha (Matroska's
    alpha_mode 1: stickers, overlays), so that the transparency reaches the output as a PNG's does."""
    libvpx = ALPHA_DECODERS.get(stream.codec_context.name)
    says_alpha = any(key.lower() == ALPHA_MODE and value == "1" for key, value in stream.metadata.items())
    if libvpx is None or not says_alpha or libvpx not in av.codecs_available:
        return stream.codec_context
    return av.CodecContext.create(libvpx, "r")  # VP8/VP9 in WebM need no extradata; threads: one per core


class DecodeErrors(logging.Handler):
    """The damage met in one input. libav conceals what it can and logs an error for it; what it
    cannot use (a packet the decoder refuses, a demuxer error) it raises, and that is counted and
    skipped, as ffmpeg does. Video packets that gave no frame are the frames lost."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(logging.ERROR)
        self.names, self.count, self.first = names, 0, ""
        self.packets = self.frames = 0  # video packets demuxed, frames decoded
        self.heeding = True  # False once a stop has cut the input short: what that cut breaks is not damage
        self.gap = ""  # a numbered sequence's first missing picture: image2's failure to open it is its end

    def emit(self, record: logging.LogRecord) -> None:
        if self.gap and self.gap in record.getMessage():
            return
        if self.heeding and record.name.removeprefix("libav.") in self.names:
            self.count += 1
            self.first = self.first or record.getMessage().strip()

    def add(self, e: BaseException) -> None:
        if self.heeding:
            self.count += 1
            self.first = self.first or reason(e)

    def reset(self) -> None:
        """From a new start (a chunk): what it meets is counted alone."""
        self.count, self.first, self.packets, self.frames = 0, "", 0, 0

    def forget(self) -> None:
        """The errors met so far are no damage of the input's: a chunk's warm-up, the frames decoded from the
        keyframe before its own first, which open GOPs and B-frames make refer past it (a whole run has decoded
        what they refer to; a clean file's chunks said it was damaged, and failed --strict)."""
        self.count, self.first = 0, ""

    @property
    def frames_lost(self) -> int:
        return max(self.packets - self.frames, 0)


def _tag(stream: av.stream.Stream, name: str) -> str:
    """A Matroska statistics tag, with or without its language ("DURATION-eng")."""
    return next((value for key, value in stream.metadata.items() if key.split("-")[0] == name), "")


def said_frames(stream: av.stream.Stream) -> int | None:
    """The frames the container says the stream has (None: it does not say): MP4's count, mkvmerge's
    NUMBER_OF_FRAMES, or the span of FFmpeg's Matroska DURATION tag (the end time) at the stream's rate."""
    tag = _tag(stream, "NUMBER_OF_FRAMES")
    if stream.frames or tag.isdigit():
        return stream.frames or int(tag)
    end, rate = _tag(stream, "DURATION"), stream.average_rate or stream.guessed_rate
    if not (_DURATION.fullmatch(end) and rate):
        return None
    hours, minutes, seconds = end.split(":")
    start = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds) - start) * rate)


def picture_rank(stream: av.stream.Stream) -> int:
    """How likely a video stream is a picture rather than the film: 2, one frame said (cover art
    written as a track, without its flag); 1, a still-image codec of no said length; 0, the film."""
    frames = said_frames(stream)
    if frames == 1:
        return 2
    codec = stream.codec_context.name if stream.codec_context else ""
    return int(codec in STILL_CODECS and frames is None)


def nominal_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The frames a second the stream says, or FFmpeg guesses; 25 where neither does (FFmpeg's own default)."""
    return Fraction(stream.average_rate or stream.guessed_rate or 25)


def is_still_item(stream: av.stream.Stream) -> bool:
    """An animated AVIF's (HEIF's) still image beside its animation: the first frame again, what viewers show where
    they show no motion. Not carried: MP4 refuses it as a track, and it is no cover."""
    brand = stream.container.metadata.get("major_brand", "")
    return brand in HEIF_BRANDS and stream.type == "video" and picture_rank(stream) == 2


def pick_video(container: av.container.InputContainer, index: int | None, name: str) -> av.stream.Stream:
    """The stream to enhance: `index` (as ffprobe numbers the streams), else the first video
    stream that is not cover art (an attached picture, or a picture by `picture_rank`)."""
    videos = sorted((s for s in container.streams.video if not is_cover(s)), key=picture_rank)  # stable: file order
    if index is not None:
        if not 0 <= index < len(container.streams) or container.streams[index].type != "video":
            listed = ", ".join(str(s.index) for s in container.streams.video) or "none"
            raise UserError(f"{name}: stream {index} is not a video stream (video streams: {listed})")
        videos = [container.streams[index]]
    if not videos:
        raise UserError(f"{name}: no video stream" + (" (only cover art)" if container.streams.video else ""))
    if videos[0].codec_context is None:
        raise UserError(f"{name}: no decoder for its video codec")
    return videos[0]


def holds_one_frame(
    src: str, format: str | None = None, stream: int | None = None, demuxer: dict[str, str] | None = None
) -> bool:
    """Whether a file's video is one picture (a one-frame GIF or APNG, a video of a still): its packets
    counted, up to two, without decoding; a pipe or an unreadable file is not (it is read as a video), nor an
    animated WebP (told by its chunks, not unpacked)."""
    if not Path(src).is_file() or is_animated_webp(src):
        return False
    try:
        with open_input(src, format, demuxer) as container:
            video = pick_video(container, stream, src)
            return sum(1 for _ in itertools.islice((p for p in container.demux(video) if p.size), 2)) == 1
    except (UserError, av.FFmpegError, OSError, ValueError):
        return False


def ends_stream(packet: av.Packet) -> bool:
    """The empty packet PyAV's demuxer gives each stream at its end, without a time or a place in the input:
    it drains the decoder. An empty packet read from the input has them (and is no frame's)."""
    return not packet.size and packet.pts is None and packet.pos is None


class VideoSource:
    """One input's video stream (the first that is not cover art, or the one asked for), decoded
    in order, with its other streams' packets and what else the output takes over. `deinterlace`
    (stream.video.deinterlace): off, the frames as decoded; auto, those flagged interlaced made
    progressive; on, every frame; field, every field a frame of its own. `start` and `duration`
    (seconds from the input's start): the part of it decoded, as `ffmpeg -ss -t` takes it."""

    def __init__(
        self, src: str | Path | BinaryIO | PipeEnd, format: str | None = None, stream: int | None = None,
        demuxer: dict[str, str] | None = None, deinterlace: Deinterlace = "off", start: Fraction = Fraction(0),
        duration: Fraction | None = None,
    ) -> None:  # fmt: skip
        self.name = str(getattr(src, "name", src))
        self.deinterlace, self.part = deinterlace, (start, duration)
        if isinstance(src, str | Path) and Path(src).is_fifo():
            src = named_pipe(Path(src))
        self.pipe = src if isinstance(src, PipeEnd) else None  # a pipe, read in slices (video/pipe_ends.py)
        self.fields: str | None = None  # the input's field order as its first frame says ("": progressive)
        self.unflagged = False  # whether the container says interlaced and the first frame does not
        self.too_small = False  # interlaced, and too small for bwdif (auto leaves it so)
        self._deinterlacer: Deinterlacer | None = None
        self.interlaced_from: int | None = None  # the first frame flagged interlaced after a progressive start
        with signals_passed_on():  # a stop signal met as PyAV reads a pipe here, and in _start
            self.container = open_input(src, format, demuxer)
        # The file read, and a second, independent reading of it from its start (stream.content samples its
        # opening frames); None for a stream (stdin, a named pipe, a URL), which is read once
        self.path = Path(src) if isinstance(src, str | Path) and Path(src).is_file() else None
        self.reopen = (lambda: open_input(src, format, demuxer)) if self.path else None
        self.reader: threading.Thread | None = None  # the thread that iterates this source, if any
        try:
            self.video = pick_video(self.container, stream, self.name)
        except UserError:
            self.container.close()
            raise
        self.decoder = decoder_for(self.video)
        self.errors = DecodeErrors({self.container.format.name, self.decoder.name})
        LIBAV_LOG.addHandler(self.errors)
        numbered = isinstance(src, str | Path) and is_numbered(src) and self.container.format.name == "image2"
        self.gap = sequence_gap(Path(src)) if numbered else None  # type: ignore[arg-type]
        self.errors.gap = str(self.gap[0]) if self.gap else ""
        self.ended_at_gap = False  # whether decoding met the gap (a shorter run's part stops before it)
        try:
            with signals_passed_on():
                self._start()
        except BaseException:  # an input it cannot use: closed now, not by the GC at exit, where PyAV's
            self.close()  # deallocation of a threaded decoder can wait for its threads forever
            raise

    @property
    def smooths_dither(self) -> bool:
        """A GIF on FFmpeg's fixed palette is more dither than picture: smoothed (stream.gif.smooth_dither)."""
        return self.gif_palette == "fixed"

    @property
    def which(self) -> str:
        """The stream enhanced, for the header where the input has other video: "video stream 1 (h264), "."""
        if len(self.container.streams.video) < 2:
            return ""
        return f"video stream {self.video.index} ({self.video.codec_context.name}), "

    def _start(self) -> None:
        """The decoder started and the first frame read: what the stream is, and what else is kept."""
        # Slice threads, not frame threads: a frame-threaded decoder that meets damage among the frames in
        # flight at the end gives up the rest (PyAV stops draining at the error; a drain cannot be asked again),
        # where FFmpeg decodes them. One core decodes H.264 1080p at ~250 fps, HEVC 4K at ~43 fps (2-core Xeon):
        # well ahead of the model, which also waits one frame less per thread in a live preview.
        self.decoder.thread_type = "SLICE"
        av.logging.set_level(av.logging.ERROR)  # libav's own log goes to Python logging, not the terminal
        # and each error counts: PyAV drops a message repeating the one before, where the content judge or an
        # earlier pass had met the same damage first (a cut-short MKV's "File ended prematurely" went unsaid)
        av.logging.set_skip_repeated(False)
        others = [s for s in self.container.streams if s is not self.video and not is_still_item(s)]
        self.passthrough = [s for s in others if s.type in PASSTHROUGH_TYPES and not is_remade_track(s)]
        self._set_part(*self.part)
        self._ahead: deque[av.Packet | None] = deque()  # packets read ahead of the decoder (read_ahead)
        self._packet_source = self._packets()
        self._raw = self._demux()
        self._pending: list[av.VideoFrame | av.Packet] = []
        self.first_packets: list[av.Packet] = []  # the video packets to the first frame; a pipe's on (read_ahead)
        self._collecting = True
        first = self._peek_first_frame()
        # How a GIF's colours were made (stream.gif), read once from its opening frames as decoded: stream.content
        # judges it by this, and one on FFmpeg's fixed palette has its planes smoothed before restoring
        gif = self.video.codec_context.name == "gif"
        opening = (f.to_ndarray(format="rgb24") for f in self._peek_frames(OPENING)) if gif else None
        self.gif_palette = opening_palette(opening) if opening is not None else None
        self._collecting = False
        if self.reopen is None:
            self.read_ahead()
        self._size, self._source_pix_fmt = (first.width, first.height), first.format.name
        self.info = self._describe(first)
        self._synthetic_pts = first.pts is None  # raw Annex-B H.264 and the like carry no timing
        self._last_pts: int | None = None
        self._alpha_kept = True  # until the output is found to hold none (drop_alpha)
        self._video_shift = 0 if self._synthetic_pts else self.start_in(self.info.time_base)
        self.carried = self._carried()

    def _set_part(self, start: Fraction, duration: Fraction | None) -> None:
        """Where the output's time 0 is in the input's (its start, or --start after it), and where the part
        decoded ends; the input read from a keyframe before the part (where it can seek: else from its start)."""
        file_start = Fraction(self.container.start_time or 0, 1_000_000)  # FFmpeg gives microseconds
        self.start = file_start + start
        self.end = None if duration is None else self.start + duration
        self.partial = bool(start) or duration is not None
        self._untimed = 0  # frames without a time met so far (_in_part)
        self._keyed: set[int] = set()  # the other video streams whose first keyframe in the part has come
        if start > PREROLL and self.video.start_time is not None:  # (untimed, a raw stream is read through)
            try:
                self.container.seek(int((self.start - PREROLL) * 1_000_000))
            except av.FFmpegError:  # a pipe: read through
                pass

    def _in_part(self, frames: list[av.VideoFrame]) -> tuple[list[av.VideoFrame], bool]:
        """The frames inside the part asked for, and whether the part has ended (frames come in
        presentation order); frames without a time (a raw H.264 stream's) timed by their count at the nominal
        rate, as ffmpeg times them (they were all kept: --start and --duration did nothing there)."""
        if not self.partial:
            return frames, False
        kept = []
        for frame in frames:
            timed = frame.pts is not None and frame.time_base is not None
            time = frame.pts * frame.time_base if timed else self._untimed / nominal_rate(self.video)
            self._untimed += not timed
            if self.end is not None and time >= self.end:
                return kept, True
            if time >= self.start:
                kept.append(frame)
        return kept, False

    def _packet_in_part(self, packet: av.Packet) -> bool:
        """A carried packet that plays inside the part (the one under its start too, as ffmpeg's -ss keeps it);
        another video's from its first keyframe there on, as ffmpeg's copy keeps them (those before it decode to
        nothing: the output had a stream no player could show)."""
        if not self.partial or packet.pts is None or packet.time_base is None:
            return True
        time = packet.pts * packet.time_base
        inside = (self.end is None or time < self.end) and time + (packet.duration or 0) * packet.time_base > self.start
        if not inside or packet.stream.type != "video" or packet.stream.index in self._keyed:
            return inside
        if packet.is_keyframe:
            self._keyed.add(packet.stream.index)
        return packet.is_keyframe

    def start_in(self, time_base: Fraction) -> int:
        """The output's time 0 (the input's start, or --start after it) in `time_base`. Every timestamp
        the output gets has it taken off, so the output starts at 0 as `ffmpeg -map 0 -c copy`'s does,
        each stream as far from the others as it was: a broadcast recording's clock, hours in, would
        else put hours of nothing before the first frame of an MP4 or Matroska file."""
        return round(self.start / time_base)

    def shifted(self, packet: av.Packet) -> av.Packet:
        """A packet of a carried stream, its timestamps counted from the output's time 0 (start_in). A subtitle
        showing at --start begins at 0 and shows what it had left: it began seconds before the part, and muxers
        moved every stream that far later to start it (Matroska), or showed it whole from 0 (MP4)."""
        if self.start and packet.time_base:
            shift = self.start_in(packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
            if self.partial and packet.stream.type == "subtitle" and packet.pts is not None and packet.pts < 0:
                packet.duration = max(packet.duration + packet.pts, 1) if packet.duration else packet.duration
                packet.pts = packet.dts = 0
        return packet

    def _carried(self) -> Carried:
        """What the output takes over. Cover art's one packet comes first in demux order, so it is
        among the packets read before the first frame: it is taken out of them here. So is that of a
        picture written as a track without its flag, where it came first too: it is carried as the
        cover it is (Matroska cannot hold a PNG track); else it is copied as a track."""
        packets = [p for p in self._pending if isinstance(p, av.Packet)]
        pictures = [p for p in packets if p.stream.type == "video" and picture_rank(p.stream) == 2]
        cover_streams = [s for s in self.passthrough if is_cover(s)] + [p.stream for p in pictures]
        covers = [p for p in packets if p.stream in cover_streams]
        self._pending = [item for item in self._pending if not any(item is p for p in covers)]
        return Carried(
            streams=[s for s in self.passthrough if s not in cover_streams],
            covers=[(p.stream, bytes(p)) for p in covers],
            metadata=dict(self.container.metadata),
            # not alpha_mode: whether the output has alpha is its encoder's format (Matroska marks yuva420p itself);
            # not the encoder: another made the output's (stream.video.carry names it)
            video_metadata={k: v for k, v in self.video.metadata.items() if k.lower() not in (ALPHA_MODE, "encoder")},
            video_disposition=int(self.video.disposition),
            video_index=self.video.index,
            chapters=[self._shifted_chapter(c) for c in self.container.chapters() if not self.partial or self._in(c)],
            attachments=[(a.name, a.mimetype, bytes(a.data)) for a in self.container.streams.attachments],
        )

    def _in(self, chapter: dict) -> bool:
        """A chapter that overlaps the part decoded."""
        start, end = (chapter[key] * chapter["time_base"] for key in ("start", "end"))
        return end > self.start and (self.end is None or start < self.end)

    def _shifted_chapter(self, chapter: dict) -> dict:
        """Counted from the output's start; one that began before a part asked for begins with it."""
        shift = self.start_in(chapter["time_base"])
        start, end = chapter["start"] - shift, chapter["end"] - shift
        if self.end is not None:
            end = min(end, round((self.end - self.start) / chapter["time_base"]))
        return chapter | {"start": max(start, 0) if self.partial else start, "end": end}

    def read_ahead(self) -> None:
        """A stream read once (a pipe) is read on, undecoded, until its first OPENING_FRAMES video packets are in
        `first_packets`, so that stream.content judges it by as many frames as a file (not by the few before the
        decoder's first frame: a fade's, or a key frame's coded finer). Packets, not frames, are held: a few MB."""
        while len(self.first_packets) < OPENING_FRAMES and len(self._ahead) < OPENING_PACKETS:  # (or little video)
            try:
                packet = next(self._packet_source)
            except StopIteration:  # the end, which _read meets again
                return
            self._ahead.append(packet)
            if packet is None:  # demuxing gave up: the decoder is drained next
                return
            if packet.stream is self.video and packet.size:
                self.first_packets.append(packet)

    def _read(self) -> Iterator[av.Packet | None]:
        """Demuxed packets, those read ahead first (read_ahead may add some while this waits)."""
        while True:
            while self._ahead:
                yield self._ahead.popleft()
            try:
                yield next(self._packet_source)
            except StopIteration:
                return

    def _demux(self) -> Iterator[av.VideoFrame | av.Packet]:
        for packet in self._read():
            if packet is not None and packet.stream is self.video and not packet.size and not ends_stream(packet):
                continue  # read from the input but empty (Theora's "the frame before, again"): the decoder refused it
            if packet is None or packet.stream is self.video:
                if packet is not None:  # else demuxing gave up early: the decoder still holds frames
                    self.errors.packets += bool(packet.size)
                    if self._collecting:
                        self.first_packets.append(packet)
                frames, ended = self._in_part(self._decode(packet))
                yield from frames
                if ended:
                    return
            elif packet.size and self._packet_in_part(packet):  # not the empty packets that end a stream
                yield packet

    def _packets(self) -> Iterator[av.Packet | None]:
        """Demuxed packets, in file order, their timestamps stitched where the format lets them jump (MPEG-TS
        recordings joined: stream.video.stitch). After a demuxer error demuxing goes on from where it
        stopped; after MAX_DEMUX_ERRORS in a row the input is taken to end there (then None)."""
        errors_in_a_row = 0
        stitcher = Stitcher() if may_jump(self.container) else None
        while errors_in_a_row < MAX_DEMUX_ERRORS:
            try:
                for packet in self.container.demux(self.video, *self.passthrough):
                    errors_in_a_row = 0
                    yield stitcher.stitch(packet) if stitcher else packet
                return
            except av.FFmpegError as e:
                if self.gap:  # image2 could not open the missing picture: the sequence ends there, as in ffmpeg
                    self.ended_at_gap = True
                    break
                self.errors.add(e)
                errors_in_a_row += 1
        yield None

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """The frames a packet completes (None: flush the decoder); a packet it refuses gives none."""
        try:
            frames = self.decoder.decode(packet)  # None: drained
        except av.FFmpegError as e:
            self.errors.add(e)
            return []
        self.errors.frames += len(frames)
        if self.fields is None and frames:
            self._decide_scan(frames[0])
        before: list[av.VideoFrame] = []
        if self._deinterlacer is None and self.deinterlace == "auto" and not self.too_small:
            before, frames = self._interlaced_later(frames)
        if self._deinterlacer is None:
            return before + frames
        done = [out for frame in frames for out in self._deinterlacer.push(frame)]
        drained = packet is None or not packet.size  # the decoder's last frames: bwdif's lookahead ends too
        return before + done + (self._deinterlacer.push(None) if drained else [])

    def _interlaced_later(self, frames: list[av.VideoFrame]) -> tuple[list[av.VideoFrame], list[av.VideoFrame]]:
        """`frames` split at the first flagged interlaced where the input began progressive (a broadcast's
        programme after a progressive advert): bwdif from there on, as ffmpeg's deint=interlaced takes each frame
        by its flag (only the first frame's decided, and the rest went through combed)."""
        at = next((i for i, frame in enumerate(frames) if frame.interlaced_frame), None)
        if at is None:
            return frames, []
        self._start_bwdif(frames[at])
        if self._deinterlacer is not None:
            self.interlaced_from = self.errors.frames - len(frames) + at
        return frames[:at], frames[at:]

    def _decide_scan(self, first: av.VideoFrame) -> None:
        """Whether the frames go through bwdif, from the first one and the stream's field order. Where the container
        says interlaced and the first frame does not, auto believes the frames of a codec that flags them, else
        the container (a tape's capture in Ut Video was said "deinterlaced by bwdif", and bwdif, taking unflagged
        frames for progressive, left every one combed)."""
        self.fields = field_order(self.video, first)
        self.unflagged = bool(self.fields) and not first.interlaced_frame
        flagged_by_codec = self.video.codec_context.codec.canonical_name in FRAMES_FLAGGED
        if self.deinterlace in ("on", "field"):
            self._start_bwdif(first)
        elif self.deinterlace == "auto" and self.fields and not (self.unflagged and flagged_by_codec):
            self._start_bwdif(first, every_frame=self.unflagged)

    def _start_bwdif(self, first: av.VideoFrame, every_frame: bool = False) -> None:
        """bwdif from `first` on, as --deinterlace asks: auto the frames flagged interlaced (`every_frame`: all, the
        container's word for them), on and field every one."""
        time_base = self.video.time_base or Fraction(1, 1000)
        parity = PARITIES.get(self.video.codec_context.field_order, "auto") if self.unflagged else "auto"
        try:
            self._deinterlacer = Deinterlacer(first, time_base, every_frame=every_frame or self.deinterlace != "auto",
                                              per_field=self.deinterlace == "field", parity=parity)  # fmt: skip
        except av.FFmpegError:  # bwdif takes no plane under 3 columns or 4 lines (it was "unexpected ArgumentError")
            if self.deinterlace != "auto":
                raise UserError(f"{self.name}: {first.width}x{first.height} {first.format.name} is too small for "
                                "bwdif to deinterlace (--deinterlace off)") from None  # fmt: skip
            self.too_small = True  # left so, and said

    @property
    def scan(self) -> str:
        """What the header says of interlacing: nothing for progressive input left as it is."""
        if self.interlaced_from is not None:  # (known once read that far)
            return f" interlaced from frame {self.interlaced_from} on, deinterlaced by bwdif"
        whose = " by its container, not by its frames" if self.unflagged else ""
        if self._deinterlacer is not None:
            each = ", a frame per field" if self._deinterlacer.per_field else ""
            return f" {self.fields or 'flagged progressive'}{whose}, deinterlaced by bwdif{each}"
        if self.too_small:
            return f" {self.fields or 'interlaced'}, too small for bwdif: left so"
        if self.unflagged and self.deinterlace == "auto":  # frames of a codec that flags them: believed
            return f" {self.fields}{whose}: left so (--deinterlace on deinterlaces it)"
        return f" {self.fields}, left so (--deinterlace off)" if self.fields else ""

    def _peek_first_frame(self) -> av.VideoFrame:
        for item in self._raw:
            self._pending.append(item)
            if isinstance(item, av.VideoFrame):
                return item
        self.container.close()
        said = "its video stream has no decodable frames"
        said = f"no frame from {float(self.part[0]):g} s on" if self.partial else said
        raise UserError(f"{self.name}: {said}{self._unread_from_a_pipe()}")

    def _unread_from_a_pipe(self) -> str:
        """Why a pipe gave no frame where the file would: an animated WebP, which only a named file unpacks; an MP4
        or MOV whose index follows its media (as cameras and ffmpeg write them), which a pipe cannot go back to."""
        if self.path is not None:
            return ""
        if self.decoder.name == "webp":
            return " (an animated WebP? name the file: a pipe's is not read)"
        if self.container.format.name.startswith("mov") and not self.errors.packets:  # (damaged media: packets)
            return (" (an MP4 or MOV whose index follows its media cannot be read from a pipe: name the file, or pipe "
                    "one remuxed with ffmpeg -movflags +faststart, or as Matroska)")  # fmt: skip
        return ""

    def _peek_frames(self, count: int) -> list[av.VideoFrame]:
        """The first `count` frames (fewer in a shorter video), decoded ahead of the run, which takes them first."""
        frames = [item for item in self._pending if isinstance(item, av.VideoFrame)]
        while len(frames) < count and (item := next(self._raw, None)) is not None:
            self._pending.append(item)
            if isinstance(item, av.VideoFrame):
                frames.append(item)
        return frames

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        pix_fmt = working_format(first.format, alpha=is_transparent(first))
        rotation, hdr = round(first.rotation or 0), hdr_metadata(first)  # read before a conversion drops the side data
        captions = has_captions(first)
        if is_rgb(first.format):  # converted by swscale's BT.601 matrix into studio range
            first = self._convert(first, pix_fmt)
        bits = 10 if pix_fmt.endswith("10le") else 8
        rate = nominal_rate(self.video)
        fields, time_base = 1, Fraction(self.video.time_base)
        if self._deinterlacer is not None:  # a frame per field: twice the frames, timed in half periods
            fields, time_base = 1 + self._deinterlacer.per_field, self._deinterlacer.time_base_out
        sar = self.video.sample_aspect_ratio
        return VideoInfo(
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            source_pix_fmt=self._source_pix_fmt,
            coding=LumaCoding(bits, is_full_range(pix_fmt, first.color_range)),
            time_base=1 / Fraction(rate * fields) if first.pts is None else time_base,
            rate=Fraction(rate * fields),
            frames=self._frames_in_part(self.video.frames * fields, rate * fields),
            rotation=rotation,
            captions=captions,
            color_range=first.color_range,
            colorspace=first.colorspace,
            color_primaries=first.color_primaries,
            color_trc=first.color_trc,
            sample_aspect_ratio=Fraction(sar) if sar and sar != 1 else None,
            hdr=hdr,
            plays=animation_plays(self.path) if self.path else None,
            tick_rate=Fraction(self.video.guessed_rate or rate) * fields,
        )

    def _frames_in_part(self, frames: int, rate: Fraction) -> int | None:
        """About how many frames the part holds, for the progress bar (None: not said): those timed at or after its
        start and before its end, at the nominal rate (rounded, 0.1 s at 12.5 fps was 1 of the 2 it holds: "2/1")."""
        start, duration = self.part
        first = math.ceil(start * rate)
        said = [n for n in (frames and frames - first, duration and math.ceil((start + duration) * rate) - first) if n]
        return max(1, min(said)) if said else None

    def _convert(self, frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
        """To the working format (and the first frame's size, should the stream change it)."""
        rgb = is_rgb(frame.format)
        try:
            out = frame.reformat(
                width=self._size[0], height=self._size[1], format=pix_fmt,
                **({"dst_colorspace": "itu601", "dst_color_range": _MPEG_RANGE} if rgb else {}),
            )  # fmt: skip
        except (av.FFmpegError, ValueError) as e:
            raise UserError(f"{self.name}: cannot convert {frame.format.name} to {pix_fmt} ({e})") from None
        if rgb:
            out.colorspace, out.color_range = _BT601, _MPEG_RANGE  # what swscale just applied
        return out

    def _pts(self, frame: av.VideoFrame, index: int) -> int:
        """The frame's pts; made up from the nominal rate where the stream has none, and kept
        strictly increasing, as encoders and muxers require."""
        if self._synthetic_pts:
            return index
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            step = max(1, round(1 / (self.info.rate * self.info.time_base)))
            pts = (self._last_pts or 0) + step
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def _record(self, index: int, frame: av.VideoFrame) -> Frame:
        # How long it shows, where the input says and its timing is kept as it is (not made up, not split in fields)
        kept = frame.duration and not self._synthetic_pts and self._deinterlacer is None
        duration = frame.duration if kept else None
        # (see Frame.captions) once for each frame decoded: bwdif gives a frame per field the decoded frame's twice
        once = self._deinterlacer is None or not self._deinterlacer.second_field(frame)
        captions = frame.reformat(width=2, height=2) if once and has_captions(frame) else None
        if frame.format.name != self.info.pix_fmt or (frame.width, frame.height) != self._size:
            frame = self._convert(frame, self.info.pix_fmt)
        dtype = self.info.sample_dtype
        planes = [plane_view(p, dtype).copy() for p in frame.planes]  # owned: the frame's buffer is reused
        pts = self._pts(frame, index) - self._video_shift
        alpha = planes[3] if self.info.has_alpha and self._alpha_kept else None
        if alpha is not None:  # what transparent pixels hold would fringe the edges once upscaled
            planes[:3] = [fill_transparent(plane, alpha) for plane in planes[:3]]
        if self.smooths_dither:
            planes[:3] = [smooth_dither(plane) for plane in planes[:3]]
        return Frame(index, pts, planes[0], planes[1:3], decode_errors=self.errors.count, stored_pts=frame.pts,
                     alpha=alpha, duration=duration, captions=captions)  # fmt: skip

    def __iter__(self) -> Iterator[Frame | av.Packet]:
        index = 0
        pending, self._pending = self._pending, []
        for item in itertools.chain(pending, self._raw):
            if isinstance(item, av.VideoFrame):
                yield self._record(index, item)
                index += 1
            else:
                yield self.shifted(item)

    def restart_at(self, pts: int | None) -> None:
        """Decode the video alone from the keyframe at or before `pts` (None: the start) on (a chunked
        run's chunk), the errors met counted from there. bwdif reads the frame before `pts` too: then
        from the keyframe before that one, so a chunk's first frame is deinterlaced as a whole run's is."""
        if pts is None:
            self.container.seek(0)  # in AV_TIME_BASE: before any stream's first packet
        else:
            self.container.seek(pts - (self._deinterlacer is not None), stream=self.video, backward=True)
        self.decoder.flush_buffers()
        if self._deinterlacer is not None:
            self._deinterlacer.reset()
        self.passthrough, self._pending, self._last_pts = [], [], None
        self.errors.reset()
        self._ahead, self._packet_source = deque(), self._packets()
        self._raw = self._demux()

    def drop_alpha(self) -> None:
        self._alpha_kept = False

    def stop_reading(self) -> None:
        """A pipe read from ends here, as if it had (a file is read on to the end of the packet being decoded)."""
        if self.pipe is not None:
            self.pipe.stop()
            self.errors.heeding = False  # the demuxer's "File ended prematurely" is the stop's own doing

    def close(self) -> None:
        """Close the input, unless a thread still reads it (a decoder still at a packet after a second
        stop signal): closing under it could crash, and the process's exit ends both.
        The decoder's threads are parked first, with the GIL released: PyAV frees a decoder when
        the GC collects it, holding the GIL while it waits for those threads, and one still decoding a
        damaged packet waits for the GIL to log its error: a deadlock in any process that stops reading
        mid-stream, and most likely what hung a whole CI run at a random later (parsing) test."""
        LIBAV_LOG.removeHandler(self.errors)
        if self.reader is None or not self.reader.is_alive():
            self.decoder.flush_buffers()
            self.container.close()
            if self.pipe is not None and self.pipe.owned:  # a pipe by name it opened; stdin's end stays usable
                self.pipe.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
