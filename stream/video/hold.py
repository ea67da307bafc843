"""How long the last frame of an APNG or animated WebP shows, written where their muxers cannot be told it.

Other muxers take the last frame's hold (an animation's pause at its end) from its packet's duration. APNG's
gives it the delay of the frame before (or its final_delay option, fixed before the first frame is muxed), and
libwebp_anim the duration of the frame before. Both carry each frame's timing inside the packet's own bytes: an
APNG packet holds its frame's fcTL chunk, whose delay the muxer fills in only where it is 0/0, and libwebp_anim's
one packet, made at the end, is the whole file, its frames ANMF chunks. So the hold is written there, before the
last packet is muxed, in place: both rewrite bytes of the same length.
"""

from __future__ import annotations

import io
import zlib
from fractions import Fraction

from stream.webp import webp_chunks

_SHORT = 0xFFFF  # fcTL's delay: a fraction of two 16-bit numbers, in seconds
_ANMF_MS_MAX = 0xFFFFFF  # ANMF's duration: 24 bits of milliseconds


def apng_with_delay(packet: bytes, seconds: Fraction) -> bytes:
    """An APNG packet with its frame's delay set to `seconds` (the packet as it is where it holds no fcTL)."""
    at = packet.find(b"fcTL")
    if at < 4 or int.from_bytes(packet[at - 4 : at], "big") != 26:
        return packet
    delay = min(seconds, Fraction(_SHORT)).limit_denominator(_SHORT)
    body = bytearray(packet[at : at + 4 + 26])  # the chunk's type and data, what its CRC covers
    body[4 + 20 : 4 + 24] = delay.numerator.to_bytes(2, "big") + delay.denominator.to_bytes(2, "big")
    return packet[:at] + bytes(body) + zlib.crc32(body).to_bytes(4, "big") + packet[at + 4 + 26 + 4 :]


def webp_with_last_duration(packet: bytes, seconds: Fraction) -> bytes:
    """An animated WebP file with its last frame's duration set to `seconds` (a still: as it is)."""
    frames = [at for fourcc, at in webp_chunks(io.BytesIO(packet)) if fourcc == b"ANMF"]
    if not frames:
        return packet
    milliseconds = max(1, min(round(seconds * 1000), _ANMF_MS_MAX))
    data = bytearray(packet)
    data[frames[-1] + 12 : frames[-1] + 15] = milliseconds.to_bytes(3, "little")  # after X, Y, width and height
    return bytes(data)


HELD_IN_PACKET = {"apng": apng_with_delay, "libwebp_anim": webp_with_last_duration}  # by encoder
