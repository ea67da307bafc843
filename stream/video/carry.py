"""What the output takes over from the input besides the enhanced frames, as `ffmpeg -map 0 -c copy`
would: the other streams (with their tags and dispositions), cover art, the container's tags,
chapters and attachments. Audio and text subtitles the container cannot hold are encoded again where
the caller decodes (video/reencode.py); what else it cannot hold is named in one notice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import av
from av.stream import Disposition

from stream.video.reencode import (
    AUDIO_CODEC_FOR_FORMAT,
    SUBTITLE_CODEC_FOR_FORMAT,
    AudioReencoder,
    Reencoder,
    StartCodes,
    SubtitleReencoder,
    muxer_holds,
    needs_start_codes,
)

# Containers that can hold these (FFmpeg's muxers); elsewhere they are left out with a notice.
CHAPTER_FORMATS = {"matroska", "webm", "mp4", "mov", "ipod", "ogg"}
ATTACHMENT_FORMATS = {"matroska"}
TIMECODE_FORMATS = {"matroska", "webm", "mp4", "mov", "nut", "mxf", "mxf_d10", "mxf_opatom"}  # a video's timecode tag
# Muxers of one stream's bytes that take any other's too, and splice them in (an .yuv file's video and AAC)
ONE_STREAM = {"rawvideo"}
# The audio MPEG-TS has stream types for (FFmpeg's mpegtsenc), which its readers find again
TS_AUDIO = {"mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m"}
TS_SUBTITLES = {"dvb_subtitle", "dvb_teletext", "arib_caption", "hdmv_pgs_subtitle"}  # (PGS: a Blu-ray's .m2ts)
MPEG_PS = ("mpeg", "vob", "dvd", "svcd", "vcd")  # the MPEG program stream's muxers: .mpg, .vob, DVD, SVCD, VCD
TS_VIDEO = {"mpeg1video", "mpeg2video", "mpeg4", "h264", "hevc", "vvc", "cavs", "avs2", "avs3", "dirac", "vc1"}
COVER_FORMATS = {"matroska", "mp4", "ipod"}  # Matroska keeps a cover as an image attachment; MOV none (FFmpeg 8)


@dataclass
class Carried:
    """Read from the input when it is opened; the other streams' packets come through the pipeline."""

    streams: list[av.stream.Stream] = field(default_factory=list)  # copied packet by packet
    covers: list[tuple[av.stream.Stream, bytes]] = field(default_factory=list)  # attached pictures, with the picture
    metadata: dict[str, str] = field(default_factory=dict)  # the container's tags (title, ...)
    video_metadata: dict[str, str] = field(default_factory=dict)  # the enhanced stream's (language, title, ...)
    video_disposition: int = 0
    video_index: int = 0  # the enhanced stream's in the input: the streams before it are added before it, as -map 0
    chapters: list[dict] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # file name, MIME type, contents


def is_cover(stream: av.stream.Stream) -> bool:
    return stream.type == "video" and bool(stream.disposition & Disposition.attached_pic)


def is_remade_track(stream: av.stream.Stream) -> bool:
    """MP4 and MOV keep chapter titles in a text track, and a timecode in a tmcd track, which FFmpeg shows as data
    streams without a codec: the chapters (which FFmpeg marks to be skipped, asked before demuxing, which unmarks
    what it reads) are carried as chapters and the timecode as the video's tag, and the output's muxer makes its own
    tracks of them (a tmcd copied too failed the run). Other data tracks (a GoPro's telemetry, gpmd) are copied:
    every one had been taken for chapters, and dropped without a word."""
    if stream.type != "data" or stream.codec_context is not None or "mp4" not in stream.container.format.name:
        return False
    return stream.discard == av.stream.Discard.all or "timecode" in stream.metadata


Copies = dict[int, av.stream.Stream | Reencoder]  # each copied input stream's output stream, by its input index


def copies_before_video(
    container: av.container.OutputContainer, carried: Carried, notice: Callable[[str], None], reencode: bool = False
) -> tuple[Copies, list[str]]:  # fmt: skip
    """The streams the input has before the enhanced one, added to the output before it is (called first): its
    streams keep their order, as `ffmpeg -map 0` keeps it (the video had been moved to the front, so a second
    pass's --stream N, or a script's stream numbers, met another stream). -> the copies, and what was left out."""
    return add_copies(container, [s for s in carried.streams if s.index < carried.video_index], reencode, notice)


def add_copies(
    container: av.container.OutputContainer, streams: list[av.stream.Stream], reencode: bool,
    notice: Callable[[str], None],
) -> tuple[Copies, list[str]]:  # fmt: skip
    copies, left_out = {}, []
    for s in streams:
        try:  # refused before anything is added
            copies[s.index] = add_carried(container, s, reencode, notice)
        except (av.FFmpegError, ValueError):
            left_out.append(f"{s.type} stream #{s.index} ({codec_name(s)})")
    return copies, left_out


def carry(
    container: av.container.OutputContainer, video: av.stream.Stream, carried: Carried, notice: Callable[[str], None],
    reencode: bool = False, before: tuple[Copies, list[str]] = ({}, []),
) -> Copies:  # fmt: skip
    """Set up everything `carried` holds in the output and write the covers that are streams
    (which writes the header, so it comes last); -> the output stream of each copied input stream,
    and with `reencode` the re-encoder of each audio or text subtitle stream the container cannot hold
    (else left out). `before`: what copies_before_video added and left out."""
    container.metadata.update(carried.metadata)
    video.metadata.update(carried.video_metadata)
    video.metadata["encoder"] = encoder_named(video.codec_context.name)  # the input's named the one it was coded by
    video.disposition = Disposition(carried.video_disposition)  # the input's flags, default or not, as ffmpeg's
    others = [s for s in carried.streams if s.type == "video"] + [s for s, _ in carried.covers]  # as ffmpeg counts
    if others and not any(s.disposition & Disposition.default for s in [*others, video]):
        video.disposition |= Disposition.default  # the main picture, as ffmpeg marks one where several have none
    kind = container.format.name
    after, left_out = add_copies(container, [s for s in carried.streams if s.index >= carried.video_index], reencode,
                                 notice)  # fmt: skip
    copies, left_out = before[0] | after, before[1] + left_out
    mark_a_default(copies)
    if carried.chapters and kind not in CHAPTER_FORMATS:
        left_out.append(f"{len(carried.chapters)} chapters")
    elif carried.chapters:
        container.set_chapters(carried.chapters)
    if (timecode := carried.video_metadata.get("timecode")) and kind not in TIMECODE_FORMATS:  # (it went unsaid)
        left_out.append(f"the timecode ({timecode})")
    if carried.attachments and kind not in ATTACHMENT_FORMATS:
        left_out.append(f"attachments ({', '.join(name for name, _, _ in carried.attachments)})")
    for name, mimetype, data in carried.attachments if kind in ATTACHMENT_FORMATS else []:
        container.add_attachment(name, mimetype, data)
    if carried.covers and kind not in COVER_FORMATS:
        left_out.append("cover art")
    covers = []
    for s, picture in carried.covers if kind in COVER_FORMATS else []:
        try:
            covers.append(add_cover(container, s, picture))
        except (av.FFmpegError, ValueError):  # one the muxer cannot hold (a PNG in MOV, a WebP in MP4): dropped unsaid
            left_out.append(f"cover art ({codec_name(s)})")
    if left_out:
        notice(f"left out, as {kind} cannot hold them: {'; '.join(left_out)}")
    for packet in covers:
        if packet is not None:
            container.mux(packet)
    return copies


def mark_a_default(copies: Copies) -> None:
    """Of several audio (or subtitle) streams none marked default, the first is, as ffmpeg marks them: an MPEG-TS
    has no such flag, and a player of its Matroska copy chose no sound."""
    outs = [c if isinstance(c, av.stream.Stream) else c.stream for _, c in sorted(copies.items())]
    for kind in ("audio", "subtitle"):
        of_kind = [s for s in outs if s.type == kind]
        if len(of_kind) > 1 and not any(s.disposition & Disposition.default for s in of_kind):
            of_kind[0].disposition |= Disposition.default


def encoder_named(codec: str) -> str:
    """The video's encoder as ffmpeg names it in a stream's tags: "Lavc62.28.102 libx264"."""
    return f"Lavc{'.'.join(map(str, av.library_versions['libavcodec']))} {codec}"


def add_carried(
    container: av.container.OutputContainer, s: av.stream.Stream, reencode: bool, notice: Callable[[str], None]
) -> av.stream.Stream | Reencoder:
    """`s` copied; audio or text subtitles the container cannot hold encoded again with `reencode`
    (said in a notice), else refused (ValueError), as a muxer refuses what it cannot hold (a DVD's
    navigation packets, a data stream, in Matroska: refused only when the header is written, so tried first)."""
    kind = container.format.name
    if kind in ONE_STREAM:
        raise ValueError(f"{kind} holds one stream")
    if not unreadable_in(kind, s) and muxer_holds(kind, lambda trial: copy_stream(trial, s)):
        copy = copy_stream(container, s)
        return StartCodes(container, s, copy) if needs_start_codes(kind, s) else copy
    made, codec = reencoder_for(kind, s)
    if not (reencode and made and codec and muxer_holds(kind, lambda trial: made(trial, s, codec).stream)):
        raise ValueError(f"{kind} cannot hold {codec_name(s)}")
    name, new_name = codec_name(s), av.Codec(codec, "w").canonical_name
    remade = made(container, s, codec)
    changes = f" {remade.changes}" if remade.changes else ""
    notice(f"{s.type} stream #{s.index} ({name}) re-encoded to {new_name}{changes}: {kind} cannot hold {name}")
    return remade


def unreadable_in(kind: str, s: av.stream.Stream) -> bool:
    """Whether a `kind` muxer takes `s` but writes it as no reader finds it: MPEG-TS writes audio, video and
    subtitles it has no stream type for (PCM, FLAC, ALAC, Vorbis; VP9, AV1, FFV1; SubRip, ASS, DVD's) as private
    data, which players and ffmpeg read back as a data stream of no codec, language and flags lost: the sound or the
    picture gone, and nothing said. MPEG-PS (.mpg, .vob) writes any subtitle as a DVD's, and one of no DVD's bitmaps
    as a stream of no packet."""
    if s.codec_context is None or kind not in ("mpegts", *MPEG_PS):
        return False
    name = s.codec_context.codec.canonical_name
    if kind in MPEG_PS:
        return s.type == "subtitle" and name != "dvd_subtitle"
    if s.type == "audio":
        return name not in TS_AUDIO  # (the codec's name: mp3float and dca are its decoders')
    if s.type == "video":  # the enhanced video too (VP9, AV1, FFV1, ProRes): gone from the output, and exit 0
        return name not in TS_VIDEO
    return s.type == "subtitle" and name not in TS_SUBTITLES


def reencoder_for(kind: str, s: av.stream.Stream) -> tuple[type[Reencoder] | None, str | None]:
    """How a `kind` container could take `s` encoded again: audio as AAC (Opus where AAC cannot go
    either), text subtitles as the text it holds; bitmap subtitles and data not at all."""
    if s.codec_context is None:
        return None, None
    if s.type == "audio":
        return AudioReencoder, AUDIO_CODEC_FOR_FORMAT.get(kind, "aac")
    if s.type == "subtitle" and s.codec_context.codec.text_sub:
        return SubtitleReencoder, SUBTITLE_CODEC_FOR_FORMAT.get(kind)
    return None, None


def codec_name(s: av.stream.Stream) -> str:
    """What the stream holds, as ffprobe names it: mp3, not its decoder's mp3float; a data stream's too."""
    return s.codec_context.codec.canonical_name if s.codec_context else s.name or "?"


def copy_stream(container: av.container.OutputContainer, s: av.stream.Stream) -> av.stream.Stream:
    out = container.add_stream_from_template(s, opaque=True)  # a copy needs no encoder (MP3's decoder has no twin)
    if s.type == "video" and container.format.name == "avi" and (rate := s.base_rate or s.average_rate):
        out.time_base = 1 / rate  # AVI counts frames at its header's rate: an MP4's 1/600 said 240 fps, most empty
    out.metadata.update(s.metadata)
    out.disposition = s.disposition
    return out


def add_cover(container: av.container.OutputContainer, stream: av.stream.Stream, picture: bytes) -> av.Packet | None:
    """Matroska holds cover art as an image attachment (FFmpeg shows it as an attached picture);
    MP4 and MOV as a stream of one picture: -> the packet to write there (FFmpegError or ValueError: one the
    muxer cannot hold)."""
    if container.format.name == "matroska":
        kind = "png" if stream.codec_context is not None and stream.codec_context.name == "png" else "jpeg"
        mimetype = stream.metadata.get("mimetype") or f"image/{kind}"
        container.add_attachment(stream.metadata.get("filename") or f"cover.{kind[:3]}", mimetype, picture)
        return None
    out = copy_stream(container, stream)
    if not out.disposition & Disposition.attached_pic:  # a picture that came as a track without its flag
        out.disposition = Disposition.attached_pic  # gets it back, without "default" (MP4 then keeps a track)
    packet = av.Packet(picture)
    packet.stream, packet.pts, packet.dts = out, 0, 0
    return packet
