"""What a JPEG carries that OpenCV 5.1 neither reads nor writes: its XMP, and what phones append after the picture.

XMP is an APP1 segment named by XMP's namespace, placed as Adobe's XMP specification (part 3) says, after the JFIF
and EXIF segments that open the file: a phone's edit history, a panorama's or a portrait's parameters.

After the picture's end (EOI) phones append more: a motion photo's video (Google's Motion Photo, whose XMP lists
it by its length; Samsung's, found from the file's end), an Ultra HDR photo's gain map (a second JPEG, listed the
same way). Readers find them from the file's end, so the same bytes after the enhanced picture are found again.
"""

from __future__ import annotations

NAMESPACE = b"http://ns.adobe.com/xap/1.0/\0"  # opens an APP1 segment that holds XMP
ROOM = 0xFFFF - 2 - len(NAMESPACE)  # the XMP one segment holds (Extended XMP, in pieces, is not written)
APP0, APP1, SOS, EOI = b"\xff\xe0", b"\xff\xe1", b"\xff\xda", b"\xff\xd9"
STANDALONE = range(0xD0, 0xDA)  # RST0-7, SOI, EOI: markers without a length


def segments(data: bytes) -> list[tuple[int, int]]:
    """Where each marker segment before the first scan starts and ends (its marker included)."""
    found, at = [], 2  # after SOI
    while at + 4 <= len(data) and data[at] == 0xFF and data[at : at + 2] != SOS:
        end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        found.append((at, end))
        at = end
    return found


def read_xmp(data: bytes) -> bytes | None:
    """A JPEG's XMP packet, or None."""
    for start, end in segments(data):
        if data[start : start + 2] == APP1 and data[start + 4 : start + 4 + len(NAMESPACE)] == NAMESPACE:
            return data[start + 4 + len(NAMESPACE) : end]
    return None


def with_xmp(data: bytes, xmp: bytes) -> bytes:
    """A JPEG (with no XMP yet) with this XMP (at most ROOM bytes) after its opening JFIF and EXIF segments."""
    at = 2
    for start, end in segments(data):
        if data[start : start + 2] not in (APP0, APP1):
            break
        at = end
    payload = NAMESPACE + xmp
    return data[:at] + APP1 + (len(payload) + 2).to_bytes(2, "big") + payload + data[at:]


def picture_end(data: bytes) -> int:
    """Where a JPEG's picture ends: just past its EOI, found by walking its segments and its scans' data (an EXIF
    thumbnail's EOI inside a segment, a progressive JPEG's later scans, do not end it); len(data) if it never
    does."""
    at = 2
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            at = data.find(b"\xff", at)  # inside a scan's data: on to the next marker
            if at < 0:
                return len(data)
            continue
        marker = data[at + 1]
        if marker == EOI[1]:
            return at + 2
        if marker in (0x00, 0xFF) or marker in STANDALONE:  # a stuffed byte, fill, a restart
            at += 1 if marker == 0xFF else 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")  # a segment, its length after the marker
    return len(data)


def trailer(data: bytes) -> bytes:
    """What follows a JPEG's picture: a motion photo's video, a gain map; b"" where nothing (or padding) does."""
    after = data[picture_end(data) :]
    return after if after.strip(b"\0") else b""
