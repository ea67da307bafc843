"""Timestamps that jump where the format allows it (MPEG-TS and MPEG-PS: recordings joined by `cat`, a broadcast's
clock reset), stitched as ffmpeg stitches them (fftools' ts_discontinuity_detect): a stream's packet that comes more
than 10 s from where that stream was heading, or more than 0.1 s before its last, moves every stream's timestamps
from there on by the jump, so the second part goes on where the first ended. Left as they were, the frames of a
part that starts again from 0 were squeezed into one instant, and one that jumps 100 s ahead froze the picture."""

from __future__ import annotations

from fractions import Fraction

import av

TS_DISCONTINUOUS = 0x0200  # AVFMT_TS_DISCONT: a format whose timestamps may jump
JUMP_S = Fraction(10)  # ffmpeg's -dts_delta_threshold
BACK_S = Fraction(1, 10)


def may_jump(container: av.container.InputContainer) -> bool:
    return bool(container.format.flags & TS_DISCONTINUOUS)


class Stitcher:
    """Packets in file order in, their timestamps moved by the jumps met so far (`jumps` counts them)."""

    def __init__(self) -> None:
        self.offset = Fraction(0)  # seconds added to every timestamp from here on
        self.jumps = 0
        self._last: dict[int, Fraction] = {}  # each stream's last decode time (s), moved
        self._next: dict[int, Fraction] = {}  # where each stream was heading: its last decode time and duration
        self._last_any: Fraction | None = None

    def stitch(self, packet: av.Packet) -> av.Packet:
        if packet.dts is None or packet.time_base is None:
            return packet
        tick, index = packet.time_base, packet.stream.index
        dts = packet.dts * tick + self.offset
        if index in self._next:
            delta = dts - self._next[index]
            jumped = abs(delta) > JUMP_S or dts + BACK_S < self._last[index]
        else:  # a stream's first packet: only a jump from the others' is one
            delta = dts - self._last_any if self._last_any is not None else Fraction(0)
            jumped = abs(delta) > JUMP_S
        if jumped:
            self.offset, self.jumps, dts = self.offset - delta, self.jumps + 1, dts - delta
        if shift := round(self.offset / tick):
            packet.dts += shift
            packet.pts = None if packet.pts is None else packet.pts + shift
        self._last[index], self._last_any = dts, dts
        self._next[index] = dts + duration(packet)
        return packet


def duration(packet: av.Packet) -> Fraction:
    """How long a packet lasts, in seconds: its own duration, else (MPEG-TS's video has none) a frame at the
    stream's rate."""
    if packet.duration:
        return packet.duration * packet.time_base
    rate = (packet.stream.average_rate or packet.stream.guessed_rate) if packet.stream.type == "video" else None
    return 1 / Fraction(rate) if rate else Fraction(0)
