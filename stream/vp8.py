"""VP8's frame quantisers, read from the bitstream: FFmpeg's VP8 decoder exports none (its VP9 decoder does), yet VP8
is what browsers record (MediaRecorder's WebM), what WebRTC calls send and what older WebM downloads hold.

A frame's quantiser is its y_ac_qi (0-127, the index of its luma AC quantiser, 0 the finest; RFC 6386 9.6), read
from the frame header that opens its first partition, boolean-coded as RFC 6386 7 and 19.2 lay it out. Every
frame counts, hidden alternative references (coded finer) too; segments' own quantisers are left aside, as VP9's
are (its decoder exports a frame's base q index). A frame this reader cannot follow gives no quantiser.
"""

from __future__ import annotations

from stream.bits import Malformed

START_CODE = b"\x9d\x01\x2a"  # after a key frame's tag, before its size


class BoolDecoder:
    """RFC 6386 7.3's boolean decoder, reading bools at probability 1/2 as the frame header's L(n) and its signs."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 2:
            raise Malformed("a partition under 2 bytes")
        self.data, self.at = data, 2
        self.value, self.range, self.count = int.from_bytes(data[:2], "big"), 255, 0

    def bool(self) -> int:
        split = 1 + ((self.range - 1) * 128 >> 8)
        bit = int(self.value >= split << 8)
        if bit:
            self.range -= split
            self.value -= split << 8
        else:
            self.range = split
        while self.range < 128:
            self.value, self.range, self.count = self.value << 1, self.range << 1, self.count + 1
            if self.count == 8:
                if self.at >= len(self.data):
                    raise Malformed("truncated")
                self.value, self.at, self.count = self.value | self.data[self.at], self.at + 1, 0
        return bit

    def literal(self, n: int) -> int:
        """L(n): an n-bit unsigned value, most significant bit first."""
        value = 0
        for _ in range(n):
            value = value << 1 | self.bool()
        return value

    def skip_updates(self, count: int, bits: int, signed: bool = True) -> None:
        """`count` optional fields: a flag, and where set an L(bits) value (and its sign)."""
        for _ in range(count):
            if self.bool():
                self.literal(bits + signed)


def frame_quantiser(data: bytes) -> int:
    """A frame's y_ac_qi, from its frame tag and the header of its first partition (RFC 6386 9.1-9.6, 19.2)."""
    if len(data) < 3:
        raise Malformed("no frame tag")
    tag = int.from_bytes(data[:3], "little")
    key_frame, first_partition = not tag & 1, tag >> 5
    start = 10 if key_frame else 3
    if key_frame and data[3:6] != START_CODE:
        raise Malformed("a key frame without its start code")
    d = BoolDecoder(data[start : start + first_partition])
    if key_frame:
        d.literal(2)  # color_space, clamping_type
    if d.bool():  # segmentation_enabled
        update_map, update_data = d.bool(), d.bool()
        if update_data:
            d.bool()  # segment_feature_mode
            d.skip_updates(4, 7)  # quantizer_update_value, sign
            d.skip_updates(4, 6)  # lf_update_value, sign
        if update_map:
            d.skip_updates(3, 8, signed=False)  # segment_prob
    d.literal(10)  # filter_type, loop_filter_level, sharpness_level
    if d.bool() and d.bool():  # loop_filter_adj_enable, mode_ref_lf_delta_update
        d.skip_updates(8, 6)  # ref_frame and mb_mode deltas
    d.literal(2)  # log2_nbr_of_dct_partitions
    return d.literal(7)


class Vp8Quantisers:
    """The y_ac_qi of each frame a VP8 stream's packets code (one frame a packet, as WebM, IVF and AVI carry it)."""

    def __init__(self, extradata: bytes | None) -> None:
        """VP8 has no extradata: every frame's header stands alone."""

    def packet(self, data: bytes) -> list[int]:
        try:
            return [frame_quantiser(data)]
        except Malformed:
            return []
