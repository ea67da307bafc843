"""A PNG's text (tEXt, zTXt and iTXt chunks), which OpenCV neither reads nor writes: a title, a comment, the time
it was made, and what made it (an image generator's prompt and settings, a node editor's whole workflow, which
those tools read back from the picture). Carried as the chunks are, into a PNG, after its header; XMP (an iTXt
named XML:com.adobe.xmp) travels as XMP does (stream.picture_io), and EXIF written as text (ImageMagick's raw
profile) as EXIF does. So are its colour chunks (gamma, primaries, cICP) and its resolution. The walk over a PNG's
chunks is here too."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import IO

from stream.exif import EXIF_PREFIX

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
XMP_KEYWORD = b"XML:com.adobe.xmp\0"
RAW_EXIF_KEYWORDS = (b"Raw profile type exif", b"Raw profile type APP1")
# gamma, primaries, sRGB intent, coding-independent code points and HDR mastering and light levels; pixels per metre
COLOUR_TYPES = (b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCv", b"cLLi", b"pHYs")


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
    """A PNG's text chunks, whole and in order, but its XMP and EXIF (ImageMagick's raw profile, read_raw_exif:
    carried as it was, it said the orientation of a picture now upright, which viewers turned again); b"" for none
    (or what is not a PNG)."""
    return b"".join(
        data[start:end] for kind, start, end in chunks(io.BytesIO(data))
        if kind in TEXT_TYPES and not data[start + 8 : end - 4].startswith(XMP_KEYWORD)
        and not raw_exif(kind, data[start + 8 : end - 4])
    )  # fmt: skip


def grey_transparent_code(data: bytes) -> int | None:
    """The grey code a grey PNG's tRNS makes transparent, at the depth OpenCV gives it (8 or 16 bits); None for
    other PNGs. OpenCV reads such a picture as grey alone: its transparency was lost without a word."""
    found = {
        kind: data[start + 8 : end - 4] for kind, start, end in chunks(io.BytesIO(data)) if kind in (b"IHDR", b"tRNS")
    }
    header, key = found.get(b"IHDR", b""), found.get(b"tRNS", b"")
    if len(header) < 10 or header[9] != 0 or len(key) != 2:  # colour type 0: grey without alpha
        return None
    depth, code = header[8], int.from_bytes(key, "big")
    return code if depth >= 8 else code * 255 // (2**depth - 1)  # 1, 2 and 4 bits are read stretched to 8


def read_raw_exif(data: bytes) -> bytes:
    """The EXIF ImageMagick writes into a PNG as text (a "Raw profile type exif" or "APP1" chunk, where newer
    writers use eXIf), with its "Exif" prefix; b"" for none."""
    found = (raw_exif(kind, data[start + 8 : end - 4]) for kind, start, end in chunks(io.BytesIO(data)))
    return next((exif for exif in found if exif), b"")


def raw_exif(kind: bytes, body: bytes) -> bytes:
    """A tEXt or zTXt chunk's EXIF as ImageMagick's raw profile holds it: after a line naming the profile and one
    giving its length, in hexadecimal (Pillow reads it so); b"" for any other chunk."""
    keyword, _, text = body.partition(b"\0")
    if keyword not in RAW_EXIF_KEYWORDS or kind not in (b"tEXt", b"zTXt"):
        return b""
    try:
        text = zlib.decompress(text[1:]) if kind == b"zTXt" else text  # after zTXt's compression method
        exif = bytes.fromhex(b"".join(text.split(b"\n")[3:]).decode("ascii"))
    except (zlib.error, ValueError):
        return b""
    return exif if exif.startswith((EXIF_PREFIX, b"II*\0", b"MM\0*")) else b""  # APP1 can hold XMP instead


def read_colour(data: bytes) -> bytes:
    """A PNG's chunks that say how its codes are shown and its size on paper (COLOUR_TYPES), whole and in order, which
    OpenCV neither reads nor writes: without them a picture with a gamma or primaries of its own (an HDR PNG's cICP)
    is shown as sRGB; b"" for none."""
    return b"".join(data[start:end] for kind, start, end in chunks(io.BytesIO(data)) if kind in COLOUR_TYPES)


def colour_named(colour: bytes) -> str:
    """The colour chunks among these whose loss changes how the picture is shown, in words ("" for none: an sRGB
    chunk says what a picture without one is taken to be, and pHYs says no colour)."""
    kinds = [kind.decode() for kind, _, _ in chunks(io.BytesIO(SIGNATURE + colour)) if kind not in (b"sRGB", b"pHYs")]
    return f"PNG colour chunks ({', '.join(kinds)})" if kinds else ""


def xmp_chunk(xmp: bytes) -> bytes:
    """XMP as the PNG and XMP specifications put it: an uncompressed iTXt (UTF-8) named XML:com.adobe.xmp."""
    data = XMP_KEYWORD + b"\0\0" + b"\0\0" + xmp  # not compressed; no language, no translated keyword
    return len(data).to_bytes(4, "big") + b"iTXt" + data + zlib.crc32(b"iTXt" + data).to_bytes(4, "big")


def with_chunks(png: bytes, extra: bytes) -> bytes:
    """A PNG with these chunks after its header (IHDR), where colour chunks and text may be."""
    after_header = next(chunks(io.BytesIO(png)))[2]
    return png[:after_header] + extra + png[after_header:]
