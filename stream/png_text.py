"""A PNG's text (tEXt, zTXt and iTXt chunks), which OpenCV neither reads nor writes: a title, a comment, the time
it was made, and what made it (an image generator's prompt and settings, a node editor's whole workflow, which
those tools read back from the picture). Carried as the chunks are, into a PNG, after its header; XMP (an iTXt
named XML:com.adobe.xmp) travels as XMP does (stream.picture_io)."""

from __future__ import annotations

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
XMP_KEYWORD = b"XML:com.adobe.xmp\0"


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """A PNG's chunks: each one's type and where it starts and ends (its length, type, data and CRC)."""
    found, at = [], len(SIGNATURE)
    while at + 12 <= len(data):
        end = at + 12 + int.from_bytes(data[at : at + 4], "big")
        found.append((data[at + 4 : at + 8], at, end))
        if data[at + 4 : at + 8] == b"IEND":
            break
        at = end
    return found


def read_text(data: bytes) -> bytes:
    """A PNG's text chunks, whole and in order, but its XMP; b"" for none (or what is not a PNG)."""
    if not data.startswith(SIGNATURE):
        return b""
    return b"".join(
        data[start:end] for kind, start, end in chunks(data)
        if kind in TEXT_TYPES and not data[start + 8 : end - 4].startswith(XMP_KEYWORD)
    )  # fmt: skip


def with_text(png: bytes, text: bytes) -> bytes:
    """A PNG with these text chunks after its header (IHDR)."""
    after_header = chunks(png)[0][2]
    return png[:after_header] + text + png[after_header:]
