"""What a JPEG carries that OpenCV 5.1 neither reads nor writes: its XMP, and what phones append after the picture.

XMP is an APP1 segment named by XMP's namespace, placed as Adobe's XMP specification (part 3) says, after the JFIF
and EXIF segments that open the file: a phone's edit history, a panorama's or a portrait's parameters. What one
segment cannot hold follows as Extended XMP, in segments of its own that the first names by their digest: a
portrait's depth map and unblurred photo (Google's GDepth and GImage), Photoshop's history. IPTC (Photoshop's
APP13) and comments (COM) go after them, as they were.

After the picture's end (EOI) phones append more: a motion photo's video (Google's Motion Photo, whose XMP lists
it by its length; Samsung's, found from the file's end), an Ultra HDR photo's gain map (a second JPEG, listed the
same way, and by an MPF segment: CIPA DC-007's Multi-Picture Format, offsets from that segment). Readers find them
from the file's end or by the MPF, so the same bytes follow the enhanced picture, its MPF's offsets moved.
"""

from __future__ import annotations

from stream.exif import Exif

NAMESPACE = b"http://ns.adobe.com/xap/1.0/\0"  # opens an APP1 segment that holds XMP
EXTENSION = b"http://ns.adobe.com/xmp/extension/\0"  # opens an APP1 segment that holds a piece of Extended XMP
ROOM = 0xFFFF - 2 - len(NAMESPACE)  # the XMP one segment holds (more is not split into Extended XMP here)
SOI, APP0, APP1, APP2, SOS, EOI = b"\xff\xd8", b"\xff\xe0", b"\xff\xe1", b"\xff\xe2", b"\xff\xda", b"\xff\xd9"
APP13, COM = b"\xff\xed", b"\xff\xfe"  # Photoshop's resources (IPTC: caption, credit, copyright); a comment
MPF_NAME, MP_ENTRY = b"MPF\0", 0xB002  # opens an APP2 segment that holds an MPF; the tag of its entries
STANDALONE = range(0xD0, 0xDA)  # RST0-7, SOI, EOI: markers without a length
JFIF, UNITLESS_SQUARE = b"JFIF\0", b"\0\0\1\0\1"  # opens an APP0 segment; units none, density 1:1 (an aspect)


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


def read_extended_xmp(data: bytes) -> bytes:
    """A JPEG's Extended XMP segments, whole and in order; b"" for none. Carried as they are: each piece says the
    digest of the whole, which the standard XMP names, and where in it the piece goes."""
    named = [(start, end) for start, end in segments(data) if data[start : start + 2] == APP1]
    return b"".join(data[start:end] for start, end in named if data.startswith(EXTENSION, start + 4))


def with_xmp(data: bytes, xmp: bytes) -> bytes:
    """A JPEG (with no XMP yet) with this XMP (at most ROOM bytes)."""
    return with_segment(data, APP1, NAMESPACE + xmp)


def with_segment(data: bytes, marker: bytes, payload: bytes) -> bytes:
    """A JPEG with a segment added after the JFIF, EXIF and XMP segments that open it."""
    return with_segments(data, marker + (len(payload) + 2).to_bytes(2, "big") + payload)


def with_segments(data: bytes, raw: bytes) -> bytes:
    """A JPEG with whole segments (markers, lengths and all) added after the JFIF, EXIF and XMP that open it."""
    at = 2
    for start, end in segments(data):
        if data[start : start + 2] not in (APP0, APP1):
            break
        at = end
    return data[:at] + raw + data[at:]


def read_density(data: bytes) -> bytes:
    """A JPEG's resolution as its JFIF header says it (units, then horizontal and vertical density: 5 bytes; a
    scanner's 300 dpi), which OpenCV's writer replaces by an aspect of 1:1; b"" where it says no more than that."""
    start, end = next(iter(segments(data)), (0, 0))
    density = data[start + 11 : start + 16]
    if data[start : start + 2] != APP0 or data[start + 4 : start + 9] != JFIF or end - start < 16:
        return b""
    return b"" if density == UNITLESS_SQUARE else density


def with_density(data: bytes, density: bytes) -> bytes:
    """A JPEG that opens with a JFIF header (as OpenCV writes one), saying this resolution (read_density)."""
    start, _ = segments(data)[0]
    assert data[start + 4 : start + 9] == JFIF, "OpenCV's JPEG opens with its JFIF header"
    return data[: start + 11] + density + data[start + 16 :]


def read_captions(data: bytes) -> bytes:
    """A JPEG's IPTC (Photoshop's APP13: a caption, a credit, a copyright) and comment (COM) segments, whole and
    in order; b"" for none. A photographer's and an agency's words, which OpenCV's writer drops."""
    return b"".join(data[start:end] for start, end in segments(data) if data[start : start + 2] in (APP13, COM))


def captions_named(captions: bytes) -> str:
    """What read_captions' segments hold, in words: "IPTC", "comment" or "IPTC and comment" (an encoder's own
    comment, FFmpeg's "Lavc...", is no IPTC)."""
    walked = SOI + captions  # segments walks a JPEG's, from after its SOI
    held = {walked[start : start + 2] for start, _ in segments(walked)}
    return " and ".join(name for marker, name in ((APP13, "IPTC"), (COM, "comment")) if marker in held)


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


def cut_short(data: bytes) -> bool:
    """Whether a JPEG's data ends before its picture does (a download cut short: decoders show the rest grey)."""
    end = picture_end(data)
    return data[end - 2 : end] != EOI


def trailer(data: bytes) -> bytes:
    """What follows a JPEG's picture: a motion photo's video, a gain map; b"" where nothing (or padding) does."""
    after = data[picture_end(data) :]
    return after if after.strip(b"\0") else b""


def read_mpf(data: bytes) -> bytes | None:
    """A JPEG's MPF (CIPA DC-007's Multi-Picture Format: where an Ultra HDR gain map or a stereo pair's other view
    is, after the picture), its images' offsets made relative to the picture's end; None without one."""
    for start, end in segments(data):
        if data[start : start + 2] == APP2 and data[start + 4 : start + 8] == MPF_NAME:
            mpf = MpfEntries(data[start + 8 : end])
            try:
                return mpf.rebased(picture_end(data) - (start + 8), 0) if mpf.entries else None
            except OverflowError:  # an image said to be before the picture's end: not one this carries
                return None
    return None


def with_mpf(data: bytes, mpf: bytes) -> bytes:
    """A JPEG with an MPF (read_mpf's) whose entries locate the same images after this picture's end."""
    out = with_segment(data, APP2, MPF_NAME + mpf)
    base = out.index(MPF_NAME + mpf) + len(MPF_NAME)
    return out[:base] + MpfEntries(mpf).rebased(base - len(out), len(out)) + out[base + len(mpf) :]


class MpfEntries:
    """The MP entries of an MPF (a TIFF structure, as EXIF is): the first the primary picture's (its size the whole
    JPEG's to its EOI, its offset 0), each other image's size and offset from the MPF's own header."""

    def __init__(self, mpf: bytes) -> None:
        self.tiff = Exif(mpf)
        where = self.tiff.located(MP_ENTRY)
        self.entries = [] if where is None else list(range(where[0], where[0] + where[1] - 15, 16))

    def rebased(self, shift: int, primary_size: int) -> bytes:
        """The MPF with every image after the primary `shift` bytes nearer its header, the primary this size."""
        data, order = self.tiff.data, self.tiff.order
        for n, entry in enumerate(self.entries):
            if n == 0:
                data[entry + 4 : entry + 8] = primary_size.to_bytes(4, order)  # type: ignore[arg-type]
            else:
                offset = int.from_bytes(data[entry + 8 : entry + 12], order) - shift  # type: ignore[arg-type]
                data[entry + 8 : entry + 12] = offset.to_bytes(4, order)  # type: ignore[arg-type]
        return bytes(data)
