"""Where a long video is cut: at keyframes, into chunks of at least `seconds`, from its packets
alone (nothing is decoded).

A chunk is decoded from its keyframe and holds the frames shown from that keyframe up to the
next chunk's: by presentation time, not by file order. With B-frames and open GOPs some frames
shown before a keyframe are stored after it and need the pictures before it; they belong to the
chunk before, which decodes on past its end until it has them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from stream.errors import UserError
from stream.video.source import open_input
from stream.video.stitch import Stitcher, may_jump


@dataclass(frozen=True)
class Chunk:
    start: int  # pts of the keyframe its frames start at, in the video stream's time base
    frames: tuple[int, ...]  # pts of its frames, ascending: start <= pts < the next chunk's start
    seek: int | None  # pts of the keyframe before `start` (None: the file's start): where decoding starts,
    # as MPEG-TS seeks by a search on timestamps, with no keyframe index, and may land a little past a target


def video_packets(src: Path, index: int) -> list[tuple[int, bool]]:
    """(pts, keyframe) of each packet of the video stream `index` of `src`, in file order. Timestamps that jump
    (MPEG-TS recordings joined) or wrap (a 26.5-hour clock passed) are refused: chunks are found again by seeking to
    a time, which such a file holds twice or before its start (a whole run stitches them, stream.video.stitch)."""
    packets, stitcher = [], Stitcher()
    with open_input(src) as container:
        jumps = may_jump(container)
        try:
            for packet in container.demux(container.streams[index]):
                if packet.size:
                    if packet.pts is None:
                        raise UserError(f"{src}: its video packets carry no timestamps: it cannot be cut into chunks")
                    pts = packet.pts
                    if jumps and (pts < 0 or stitcher.stitch(packet).pts != pts):
                        raise UserError(f"{src}: its timestamps jump (recordings joined?) or wrap round, so it cannot "
                                        "be cut into chunks; run without --chunk-seconds")  # fmt: skip
                    packets.append((pts, packet.is_keyframe))
        except av.FFmpegError as e:  # a whole run decodes past such damage; a cut needs every packet's place
            raise UserError(f"{src}: damaged where it cannot be cut ({e}); run without --chunk-seconds") from None
    return packets


def cut(packets: list[tuple[int, bool]], time_base: Fraction, seconds: float, name: str) -> list[Chunk]:
    """Chunks starting at keyframes at least `seconds` apart; the first takes every frame before
    the second (also any shown before the first keyframe)."""
    starts: list[int] = []
    for pts, keyframe in packets:
        if keyframe and (not starts or (pts - starts[-1]) * time_base >= seconds):
            starts.append(pts)
    if not starts:
        raise UserError(f"{name}: its video has no keyframe to start decoding from")
    shown = sorted(pts for pts, _ in packets)
    if len(set(shown)) != len(shown):
        raise UserError(f"{name}: two frames share a timestamp, so it cannot be cut into chunks")
    keyframes = sorted(pts for pts, keyframe in packets if keyframe)
    before = [None, *(keyframes[bisect.bisect_left(keyframes, start) - 1] for start in starts[1:])]
    edges = [bisect.bisect_left(shown, start) for start in starts[1:]]
    bounds = zip([0, *edges], [*edges, len(shown)], strict=True)
    return [Chunk(start, tuple(shown[a:b]), seek) for start, (a, b), seek in zip(starts, bounds, before, strict=True)]
