"""The end of a chunked run: the segments' video packets, in order and untouched, muxed with the
input's other streams (audio the container cannot hold encoded again, as the single-process sink
does) and everything else the sink takes over (video/carry.py)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from stream.errors import UserError
from stream.video.carry import carry, copies_before_video
from stream.video.reencode import annex_b_filter, deliver, drain, needs_start_codes
from stream.video.source import TAG_ERRORS, VideoSource


def segment_packets(segments: list[Path]) -> Iterator[av.Packet]:
    """The segments' video packets, one after another; where a segment's first decode times
    (which run ahead of its first frame by the encoder's reordering) reach back past the previous
    segment's last, they are moved just after it, which changes no frame's presentation time."""
    last_dts: int | None = None
    for path in segments:
        with av.open(str(path)) as segment:
            for packet in segment.demux(segment.streams.video[0]):
                if not packet.size:
                    continue
                if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1
                last_dts = packet.dts if packet.dts is not None else last_dts
                yield packet


def start_codes(packets: Iterator[av.Packet], segment: av.stream.Stream, video: av.stream.Stream,
                kind: str) -> Iterator[av.Packet]:  # fmt: skip
    """The packets as the output's muxer `kind` takes them: H.264 and HEVC as MP4 holds them (each NAL unit after
    its length, the parameter sets in the header) where it takes them so, else in start codes with the parameter
    sets before each keyframe (FFmpeg's *_mp4toannexb, which also rewrites `video`'s header), as the single-process
    sink's encoder writes them for such a muxer. MPEG-PS and AVI copied them as they were: an MPEG-PS no player
    found video in, an AVI its muxer refused."""
    if not needs_start_codes(kind, segment):
        yield from packets
        return
    bsf = annex_b_filter(segment, video)
    for packet in packets:
        time_base = packet.time_base  # the filter takes the packet's data and leaves it empty
        for out in bsf.filter(packet):
            out.time_base = time_base
            yield out


def other_packets(source: VideoSource) -> Iterator[av.Packet]:
    """The input's other streams' packets, from its start, in a reading of their own (the video is not decoded): a
    seek to 0 landed on the video's first keyframe, past what comes before it (sound or a subtitle before the first
    picture, an MP4's AAC priming packet)."""
    indices = [stream.index for stream in source.carried.streams]
    if not indices:
        return
    assert source.reopen is not None  # (chunks are cut from files)
    with source.reopen() as container:
        for packet in container.demux(*(container.streams[i] for i in indices)):
            if packet.size:
                yield source.shifted(packet)


def _time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)


def a_tick_each(packet: av.Packet, tick: Fraction) -> av.Packet:
    """An AVI frame lasts its tick, as the sink writes it: a segment's last packet, timed to its segment's end,
    made the header count a frame more than it holds."""
    packet.duration = round(tick / packet.time_base)
    return packet


def join(
    source: VideoSource, segments: list[Path], dst: Path, format: str | None, notice: Callable[[str], None]
) -> int:
    """Mux `segments` (the restored video) with what `source` carries into `dst`; -> video packets written."""
    try:
        output = av.open(str(dst), mode="w", format=format, metadata_errors=TAG_ERRORS)
    except (OSError, ValueError, av.FFmpegError) as e:
        raise UserError(f"{dst}: cannot write ({getattr(e, 'strerror', None) or e})") from None
    written = 0
    with output, av.open(str(segments[0])) as first:  # (a segment holds no tags of the input's)
        segment = first.streams.video[0]
        before = copies_before_video(output, source.carried, notice, reencode=True)
        video = output.add_stream_from_template(segment, opaque=True)
        video.codec_context.framerate = source.info.rate  # the nominal rate, as the single-process sink's encoder
        avi = output.format.name == "avi"  # a frame a tick, as the sink times AVI: in the segments' 1/600 its header
        if avi:  # said 600 fps, with 39 empty frames after each
            video.time_base = 1 / (source.info.tick_rate or source.info.rate)
        if source.info.rotation:
            video.set_display_rotation(source.info.rotation)
        copies = carry(output, video, source.carried, notice, reencode=True, before=before)
        packets = start_codes(segment_packets(segments), segment, video, output.format.name)
        restored = ((a_tick_each(packet, video.time_base) if avi else packet, video) for packet in packets)
        others = ((packet, copies.get(packet.stream.index)) for packet in other_packets(source))
        muxed: dict[int, Fraction] = {}
        for packet, out in heapq.merge(restored, others, key=lambda item: _time(item[0])):
            written += out is video
            deliver(output, out, packet, muxed)
        drain(copies)
    return written
