"""Audio and text subtitles the output's container cannot hold as they are, encoded again as they
are muxed (AAC in WebM becomes Opus, SubRip in MP4 becomes MP4's timed text), where `ffmpeg -c copy`
would fail and leaving them out would lose the sound or the words."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from fractions import Fraction

import av

from stream.video.channels import encoder_layout, encoder_rate, read_layout, reorder
from stream.video.targets import MP4_FAMILY

# The encoder for audio a container cannot hold, where AAC cannot go in either (MPEG-PS: MP2, as ffmpeg codes it).
AUDIO_CODEC_FOR_FORMAT = {
    "webm": "libopus",
    "ogg": "libopus",
    "ogv": "libopus",
    "mpeg": "mp2",
    "svcd": "mp2",
    "vcd": "mp2",
    "vob": "mp2",
    "dvd": "ac3",
}  # (FFmpeg names .vob svcd)
# The text subtitles each container holds, for text in another (bitmap subtitles cannot become text)
SUBTITLE_CODEC_FOR_FORMAT = {"mp4": "mov_text", "mov": "mov_text", "ipod": "mov_text", "matroska": "subrip",
                             "webm": "webvtt"}  # fmt: skip
# Muxers' options for every output of theirs: Y4M's 10-, 12- and 16-bit layouts are FFmpeg's own extension of the
# format, which its muxer writes only where told that standards may be bent (ffmpeg's -strict -1); image2 writes
# each picture as NAME.tmp and renames it, so that one cut short (a full disk) is never left under a picture's name
# (video/targets.py's PicturesTarget removes the .tmp)
MUXER_OPTIONS = {"yuv4mpegpipe": {"strict": "unofficial"}, "image2": {"atomic_writing": "1"}}
_TS_NONSTRICT = 0x20000  # AVFMT_TS_NONSTRICT: a muxer that takes equal decode times (Matroska, Ogg)
# Muxers that take H.264 and HEVC as MP4 holds them (MPEG-TS converts them itself), and the filters that put the
# others' start codes back
LENGTH_PREFIXED = {*MP4_FAMILY, "matroska", "webm", "flv", "mpegts"}
ANNEX_B_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}


def muxer_holds(kind: str, add: Callable[[av.container.OutputContainer], av.stream.Stream]) -> bool:
    """Whether a `kind` container takes the stream `add` puts in it. FFmpeg's codec query lets
    through codecs that muxers refuse only when they write the header (Opus or FLAC in MOV, AAC in
    Ogg), so a header is written in memory to find out; PCM in MP4 is refused only at a trailer
    with samples (for its channel layout), so it is taken as not held. (The trailer of no frame
    is not asked: GIF's muxer refuses it whatever the stream.) PCM in FLV is taken as not held too: FFmpeg 8's
    muxer aborts the process at its header (an assertion in flvenc.c) for most kinds of it."""
    trial = av.open(io.BytesIO(), "w", format=kind, options=MUXER_OPTIONS.get(kind))
    try:
        stream = add(trial)
        if kind in ("mp4", "flv") and (stream.name or "").startswith("pcm_"):
            return False
        trial.start_encoding()
    except (av.FFmpegError, ValueError):
        return False
    finally:
        with contextlib.suppress(av.FFmpegError):
            trial.close()
    return True


class Reencoder:
    """A carried stream encoded again: `write` takes its input packets, `close` flushes what is held."""

    stream: av.stream.Stream
    changes = ""  # what it changes beside the codec, in words ("in 5.1, at 96000 Hz (the input's 192000)")

    def write(self, packet: av.Packet) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """The last of what is held (the output is still open)."""

    def _tagged_as(self, source: av.stream.Stream) -> None:
        """The new stream keeps what the input's said of it (language, title; default, forced), but the encoder
        that made it (Matroska's ENCODER: "Lavc59.37.100 pcm_s16le" on an Opus track)."""
        self.stream.metadata.update({k: v for k, v in source.metadata.items() if k.lower() != "encoder"})
        self.stream.disposition = source.disposition


class StartCodes(Reencoder):
    """An H.264 or HEVC stream from an MP4 or Matroska input copied into a muxer that takes it in start codes (AVI,
    MPEG-PS), through FFmpeg's *_mp4toannexb: AVI's muxer refused its first packet, failing the run at its end."""

    def __init__(self, container: av.container.OutputContainer, source: av.stream.Stream, copy: av.stream.Stream):
        self.container, self.stream = container, copy
        self._muxed: dict[int, Fraction] = {}
        self._filter = annex_b_filter(source, copy)

    def write(self, packet: av.Packet) -> None:
        self._deliver(self._filter.filter(packet))

    def close(self) -> None:
        self._deliver(self._filter.filter(None))

    def _deliver(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            deliver(self.container, self.stream, packet, self._muxed)


def annex_b_filter(source: av.stream.Stream, copy: av.stream.Stream) -> av.BitStreamFilterContext:
    """FFmpeg's *_mp4toannexb from `source` into `copy`: start codes, the parameter sets before each keyframe
    (it rewrites `copy`'s header too)."""
    return av.BitStreamFilterContext(ANNEX_B_FILTERS[source.codec_context.name], source, copy)


def needs_start_codes(kind: str, s: av.stream.Stream) -> bool:
    """Whether `s` is H.264 or HEVC as MP4 holds it (its header an avcC or hvcC, version 1) going where it is not."""
    if s.type != "video" or s.codec_context.name not in ANNEX_B_FILTERS or kind in LENGTH_PREFIXED:
        return False
    return (s.codec_context.extradata or b"")[:1] == b"\1"  # a header of start codes begins 0 0 (0) 1


class SubtitleReencoder(Reencoder):
    """One input text subtitle stream decoded and encoded into the output, cue by cue, each at its
    time (FFmpeg times a decoded cue in microseconds, its end in milliseconds after its start)."""

    def __init__(self, container: av.container.OutputContainer, source: av.stream.Stream, codec: str) -> None:
        self.container, self.decoder = container, source.codec_context
        self.decoder.open(strict=False)  # its styles (an ASS header), which the encoder must have before it opens
        self.stream = container.add_stream(codec)
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header
        # In microseconds, as ffmpeg times them: MP4's muxer ends a cue with an empty sample wherever a packet of any
        # stream, in its own time base, comes after the cue's end in this one's (in 1/1000 a video packet did at
        # once, and cues back to back got an empty sample of no length between them)
        self.stream.time_base = Fraction(1, 1_000_000)
        self._tagged_as(source)

    def write(self, packet: av.Packet) -> None:
        """A cue the decoder refuses (damage) is left out, as in ffmpeg, not the run's end."""
        try:
            cue = self.decoder.decode2(packet)
        except av.FFmpegError:
            return
        if cue is None or not len(cue) or cue.pts is None:
            return
        out = self.stream.codec_context.encode_subtitle(cue)
        time_base = self.stream.time_base  # ours, or the muxer's once it has written its header (WebM's 1/1000)
        out.pts = out.dts = round(Fraction(cue.pts, 1_000_000) / time_base)
        out.duration = round(Fraction(cue.end_display_time - cue.start_display_time, 1000) / time_base)
        out.time_base = time_base  # said, so that a cue timed in ours is rescaled to the muxer's
        out.stream = self.stream
        self.container.mux(out)


class AudioReencoder(Reencoder):
    """One input audio stream decoded and encoded into the output. The encoder's own resampler
    gives it the rate, sample format and frame size it takes (Opus: 48 kHz, 960 samples) and
    carries the timestamps over, so the sound stays in sync; nothing is held beyond a frame."""

    def __init__(self, container: av.container.OutputContainer, source: av.audio.AudioStream, codec: str) -> None:
        self.container, self.decoder = container, source.codec_context
        layout = read_layout(source)
        pcm = source.codec_context.name
        self.order = layout.order if pcm.startswith("pcm_") and not pcm.endswith("planar") else None  # interleaved
        self.native = layout.native
        rate = encoder_rate(codec, source.rate)
        channels = encoder_layout(codec, rate, layout)
        self.stream = container.add_stream(codec, rate=rate, layout=channels)
        self._tagged_as(source)
        lowered = [f"at {rate} Hz (the input's {source.rate})"] * (rate < source.rate)  # (Opus's 48 kHz from 44.1:
        self.changes = ", ".join([f"in {channels}"] * (channels != layout.own) + lowered)  # unsaid) for the notice

    def write(self, packet: av.Packet) -> None:
        """A packet the decoder refuses (damage) is a gap in the sound, as in ffmpeg, not the run's end."""
        if self.order is not None and not self.decoder.is_open:  # here, not made: a trial's re-encoder read the same
            self.decoder.layout = self.native  # decoded in FFmpeg's order, the samples put in it as they come (reorder)
        try:
            frames = self.decoder.decode(packet)
        except av.FFmpegError:
            return
        for frame in frames:
            self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        """`frame`'s time counted in samples first: the encoder's resampler cuts frames of its own size
        and times them by rescaling, and in a time base of one tick per input frame (MP3 in AVI:
        1152 samples) two of its frames fell on one tick, which a muxer refuses."""
        if frame is not None and self.order is not None:
            frame = reorder(frame, self.order, self.native)
        if frame is not None and frame.pts is not None and frame.time_base:
            frame.pts = round(frame.pts * frame.time_base * frame.sample_rate)
            frame.time_base = Fraction(1, frame.sample_rate)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """The decoder's and the encoder's last frames (the output is still open)."""
        for frame in self.decoder.decode(None):
            self._encode(frame)
        self._encode(None)


def deliver(container: av.container.OutputContainer, out: av.stream.Stream | Reencoder | None, packet: av.Packet,
            muxed: dict[int, Fraction]) -> None:  # fmt: skip
    """A carried packet into the output: muxed as it is (its decode time after the last one `muxed` there, by
    output stream, in seconds), or through its stream's re-encoder (None: left out)."""
    if isinstance(out, Reencoder):
        out.write(packet)
    elif out is not None:
        if packet.dts is not None and packet.time_base is not None:
            strict = not container.format.flags & _TS_NONSTRICT
            after_last(packet, out.time_base, muxed.get(out.index), strict)
            # In seconds: the first packet muxed writes the header, where the muxer sets the stream's own time base
            # (Matroska's 1/1000 for audio's 1/48000): its ticks, read in the new one, moved every packet after it
            # to its time (an audio 28 ms late stamped 1.344 s, for 1.3 s)
            muxed[out.index] = packet.dts * out.time_base
        packet.stream = out
        container.mux(packet)


def after_last(packet: av.Packet, time_base: Fraction, last: Fraction | None, strict: bool) -> None:
    """The packet put in `time_base` (as the muxer would, rounding as av_rescale_q), its decode time moved after
    `last` (seconds; or to it, where the muxer takes equal times) as ffmpeg's muxing moves it, its presentation
    time with it where that came before: a damaged file's went back (an MKV's audio, bytes flipped) and the muxer
    refused it, ending the run ("non monotonically increasing dts") where ffmpeg keeps going."""
    pts = None if packet.pts is None else ticks(packet.pts * packet.time_base, time_base)
    dts = ticks(packet.dts * packet.time_base, time_base)
    if last is not None and dts < (first := ticks(last, time_base) + strict):
        pts = pts if pts is None or pts < dts else max(pts, first)  # as ffmpeg: one shown before, left
        dts = first
    packet.duration = ticks(packet.duration * packet.time_base, time_base) if packet.duration else packet.duration
    packet.pts, packet.dts, packet.time_base = pts, dts, time_base


def ticks(seconds: Fraction, time_base: Fraction) -> int:
    """`seconds` in `time_base`'s ticks, halves away from zero, as av_rescale_q rounds."""
    exact = seconds / time_base
    return int(exact + (Fraction(1, 2) if exact >= 0 else Fraction(-1, 2)))


def drain(copies: dict[int, av.stream.Stream | Reencoder]) -> None:
    """The re-encoders' last frames, before the output is closed."""
    for out in copies.values():
        if isinstance(out, Reencoder):
            out.close()
