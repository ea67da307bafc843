"""Boxes of a HEIF-family file (ISO BMFF: AVIF, HEIC) read here, where the picture's reader does not say them:
whether it holds a track (an animation, stream.files.is_image_sequence), and an AVIF's colour description (its nclx
colr box), which Pillow's reading leaves out, so that a 10-bit HLG or PQ photo is not written as if it were sRGB
without a word. Read from the file by seeking, so an animation's media is not read to find its boxes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

FULL_BOXES = {b"meta"}  # boxes whose contents start with a version and flags


def boxes(f: IO[bytes], start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """The boxes of a file from `start` to `end`: each one's type, where its contents start and where it ends."""
    at = start
    while at + 8 <= end:
        f.seek(at)
        head = f.read(16)
        size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
        if size == 1:  # a 64-bit size follows
            size, header = int.from_bytes(head[8:16], "big"), 16
        elif size == 0:  # to the end
            size = end - at
        if len(head) < header or size < header or at + size > end:
            return
        yield kind, at + header + 4 * (kind in FULL_BOXES), at + size
        at += size


def top_boxes(f: IO[bytes]) -> Iterator[tuple[bytes, int, int]]:
    """A file's top-level boxes (boxes)."""
    return boxes(f, 0, os.fstat(f.fileno()).st_size)


def contents(f: IO[bytes], *path: bytes) -> list[tuple[int, int]]:
    """Where the contents of every box at this path of box types start and end."""
    spans = [(start, end) for kind, start, end in top_boxes(f) if kind == path[0]]
    for wanted in path[1:]:
        spans = [(s, e) for start, end in spans for kind, s, e in boxes(f, start, end) if kind == wanted]
    return spans


def nclx(f: IO[bytes]) -> bytes | None:
    """The first nclx colour description among an image file's item properties: its primaries, transfer, matrix
    and full-range flag, a byte each (as stream.picture_io keeps a HEIC's); None without one."""
    for start, end in contents(f, b"meta", b"iprp", b"ipco", b"colr"):
        f.seek(start)
        data = f.read(min(end - start, 11))
        if len(data) == 11 and data[:4] == b"nclx":
            codes = [int.from_bytes(data[at : at + 2], "big") for at in (4, 6, 8)]
            if max(codes) < 256:
                return bytes([*codes, data[10] >> 7])
    return None


def bit_depth(f: IO[bytes]) -> int:
    """The deepest channel among an image file's item properties (its pixi boxes: a version and flags, a channel
    count, each channel's bits); 8 where it says none."""
    depths = [8]
    for start, end in contents(f, b"meta", b"iprp", b"ipco", b"pixi"):
        f.seek(start)
        data = f.read(min(end - start, 4 + 1 + 255))
        depths += list(data[5 : 5 + data[4]]) if len(data) > 4 else []
    return max(depths)
