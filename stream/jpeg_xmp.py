"""XMP in a JPEG, which OpenCV 5.1 neither reads nor writes: an APP1 segment named by XMP's namespace, placed as
Adobe's XMP specification (part 3) says, after the JFIF and EXIF segments that open the file. A phone's JPEG
carries its XMP there (an edit history, a panorama's or a portrait's parameters)."""

from __future__ import annotations

NAMESPACE = b"http://ns.adobe.com/xap/1.0/\0"  # opens an APP1 segment that holds XMP
ROOM = 0xFFFF - 2 - len(NAMESPACE)  # the XMP one segment holds (Extended XMP, in pieces, is not written)
APP0, APP1, SOS = b"\xff\xe0", b"\xff\xe1", b"\xff\xda"


def segments(data: bytes) -> list[tuple[int, int]]:
    """Where each marker segment before the image data starts and ends (its marker included)."""
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
