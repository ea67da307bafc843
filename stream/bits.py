"""An MSB-first bit reader for the headers of codecs whose decoders export no quantiser (stream.hevc, stream.av1):
a field the stream cannot hold is Malformed, and the unit holding it gives no quantiser rather than a wrong one."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class Malformed(Exception):
    """Syntax a header reader cannot follow: the unit holding it gives nothing."""


class Bits:
    """Bits read MSB-first: u(n) (AV1's f(n)), H.265's ue(v) and se(v) (7.2; ue(v) is AV1's uvlc(), 4.10.3), AV1's
    ns(n) (4.10.7)."""

    def __init__(self, data: bytes) -> None:
        self.value, self.size, self.at = int.from_bytes(data, "big"), 8 * len(data), 0

    def u(self, n: int) -> int:
        if self.at + n > self.size:
            raise Malformed("truncated")
        self.at += n
        return (self.value >> (self.size - self.at)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise Malformed("variable-length code over 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def ns(self, n: int) -> int:
        """A value below n, in the fewest bits that tell such values apart."""
        w = n.bit_length()
        m = (1 << w) - n
        v = self.u(w - 1)
        return v if v < m else (v << 1) - m + self.u(1)


def entry(items: list[T], index: int) -> T:
    """items[index], where the stream's index names one: a damaged one gives no quantiser, not another entry."""
    if not 0 <= index < len(items):
        raise Malformed(f"index {index} of {len(items)}")
    return items[index]
