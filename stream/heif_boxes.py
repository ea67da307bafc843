"""Boxes of a HEIF-family file (ISO BMFF: AVIF, HEIC) read here, where the picture's reader does not say them:
an AVIF's colour description (its nclx colr box), which Pillow's reading leaves out, so that a 10-bit HLG or PQ
photo is not written as if it were sRGB without a word."""

from __future__ import annotations

from collections.abc import Iterator

FULL_BOXES = {b"meta"}  # boxes whose contents start with a version and flags


def boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """The boxes from `start` to `end`: each one's type, where its contents start and where it ends."""
    at = start
    while at + 8 <= end:
        size, kind, head = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8], 8
        if size == 1:  # a 64-bit size follows
            size, head = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:  # to the end
            size = end - at
        if size < head or at + size > end:
            return
        yield kind, at + head + 4 * (kind in FULL_BOXES), at + size
        at += size


def contents(data: bytes, *path: bytes) -> list[tuple[int, int]]:
    """Where the contents of every box at this path of box types start and end."""
    spans = [(0, len(data))]
    for wanted in path:
        spans = [(s, e) for start, end in spans for kind, s, e in boxes(data, start, end) if kind == wanted]
    return spans


def nclx(data: bytes) -> bytes | None:
    """The first nclx colour description among an image file's item properties: its primaries, transfer, matrix
    and full-range flag, a byte each (as stream.picture_io keeps a HEIC's); None without one."""
    for start, end in contents(data, b"meta", b"iprp", b"ipco", b"colr"):
        if end - start >= 11 and data[start : start + 4] == b"nclx":
            codes = [int.from_bytes(data[start + at : start + at + 2], "big") for at in (4, 6, 8)]
            if max(codes) < 256:
                return bytes([*codes, data[start + 10] >> 7])
    return None
