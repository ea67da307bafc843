"""A PNG's text (tEXt, zTXt and iTXt chunks), which OpenCV neither reads nor writes: a title, a comment, the time
it was made, and what made it (an image generator's prompt and settings, a node editor's whole workflow, which
those tools read back from the picture). Carried as the chunks are, into a PNG, after its header; XMP (an iTXt
named XML:com.adobe.xmp) travels as XMP does (stream.picture_io). The walk over a PNG's chunks is here too."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
XMP_KEYWORD = b"XML:com.adobe.xmp\0"


def chunks(f: IO[bytes]) -> Iterator[tuple[bytes, int, int]]:
    """A PNG's chunks, from a file object at its start (stream.files reads an APNG's acTL so): each one's type and
    where it starts and ends (its length, type, data and CRC); none for what is not a PNG."""
    if f.read(len(SIGNATURE)) != SIGNATURE:
        return
    at = len(SIGNATURE)
    while len(head := f.read(8)) == 8:
        end = at + 12 + int.from_bytes(head[:4], "big")
        yield head[4:], at, end
        if head[4:] == b"IEND":
            return
        f.seek(end)
        at = end


def read_text(data: bytes) -> bytes:
    """A PNG's text chunks, whole and in order, but its XMP; b"" for none (or what is not a PNG)."""
    return b"".join(
        data[start:end] for kind, start, end in chunks(io.BytesIO(data))
        if kind in TEXT_TYPES and not data[start + 8 : end - 4].startswith(XMP_KEYWORD)
    )  # fmt: skip


def with_text(png: bytes, text: bytes) -> bytes:
    """A PNG with these text chunks after its header (IHDR)."""
    after_header = next(chunks(io.BytesIO(png)))[2]
    return png[:after_header] + text + png[after_header:]
