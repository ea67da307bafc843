"""A photo's EXIF: which way up it is shown, and the few values that must change when its pixels do.

Phones store a portrait photo as the sensor saw it, sideways, and say in EXIF's Orientation tag how to show it.
A picture is enhanced upright (the tag applied to its pixels, as browsers and viewers show it) and written with the
rest of its EXIF (camera, time, place): the tag then says 1, the pixel size the output's, and the thumbnail, a
small copy of the sideways input, is unlinked. Values are changed in place in the TIFF structure EXIF is, so
everything else (maker notes included, whose offsets a rewrite would break) stays byte for byte.
"""

from __future__ import annotations

import numpy as np

ORIENTATION, EXIF_IFD = 0x0112, 0x8769  # in IFD0: which way up; where the photo's own IFD starts
XMP_PACKET, ICC_PROFILE = 0x02BC, 0x8773  # in a TIFF's IFD0: its XMP and its ICC profile
PIXEL_X, PIXEL_Y = 0xA002, 0xA003  # in the Exif IFD: the picture's width and height
EXTRA_SAMPLES, UNASSOCIATED_ALPHA = 0x0152, 2  # in a TIFF's IFD0: what a sample past the colour ones is
NEW_SUBFILE_TYPE, REDUCED = 0x00FE, 1  # in a TIFF's IFD: what it holds; its bit 0: a smaller copy (a thumbnail)
SHORT, LONG = 3, 4  # TIFF value types
BYTE_TYPES = (1, 2, 7)  # BYTE, ASCII, UNDEFINED: a byte a value
EXIF_PREFIX = b"Exif\x00\x00"  # before the TIFF header in JPEG's APP1 and in what Pillow reads


class Exif:
    """EXIF bytes (a TIFF header and its IFDs) with one pass over the entries that matter here."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data.removeprefix(EXIF_PREFIX))
        self.order: str = {b"II": "little", b"MM": "big"}.get(bytes(self.data[:2]), "")
        self.entries: dict[int, int] = {}  # tag -> where its 12-byte entry starts, for IFD0 and the Exif IFD
        self.next_ifd = 0  # where IFD0's link to IFD1 (the thumbnail) is
        if self.order and len(self.data) >= 8 and self._int(2, 2) == 42:  # not BigTIFF (43), whose offsets are 8 bytes
            self._walk(self._int(4, 4), top=True)

    def _int(self, at: int, size: int) -> int:
        return int.from_bytes(self.data[at : at + size], self.order)  # type: ignore[arg-type]

    def _walk(self, ifd: int, top: bool) -> None:
        if ifd + 2 > len(self.data):
            return
        count = self._int(ifd, 2)
        end = ifd + 2 + 12 * count
        if end + 4 > len(self.data):
            return
        for entry in range(ifd + 2, end, 12):
            self.entries.setdefault(self._int(entry, 2), entry)
        if top:
            self.next_ifd = end
            if EXIF_IFD in self.entries:
                self._walk(self.value(EXIF_IFD) or 0, top=False)

    def value(self, tag: int) -> int | None:
        """A SHORT or LONG tag's single value; None where it is absent or something else."""
        entry = self.entries.get(tag)
        if entry is None or self._int(entry + 4, 4) != 1:
            return None
        kind = self._int(entry + 2, 2)
        return self._int(entry + 8, 2 if kind == SHORT else 4) if kind in (SHORT, LONG) else None

    def set(self, tag: int, value: int) -> None:
        """Overwrite a SHORT or LONG tag's single value, where it is there and the value fits its type."""
        if (entry := self.entries.get(tag)) is None or self.value(tag) is None:
            return
        size = 2 if self._int(entry + 2, 2) == SHORT else 4
        if value < 1 << (8 * size):
            self.data[entry + 8 : entry + 8 + size] = value.to_bytes(size, self.order)  # type: ignore[arg-type]

    def located(self, tag: int) -> tuple[int, int] | None:
        """Where a tag of bytes (BYTE, ASCII or UNDEFINED: an ICC profile, XMP, MPF's entries) is stored and how
        many; None where it is absent, of another type or runs past the data."""
        entry = self.entries.get(tag)
        if entry is None or self._int(entry + 2, 2) not in BYTE_TYPES:
            return None
        count = self._int(entry + 4, 4)
        at = entry + 8 if count <= 4 else self._int(entry + 8, 4)
        return (at, count) if at + count <= len(self.data) else None

    def raw(self, tag: int) -> bytes | None:
        """A tag of bytes as stored, or None (located)."""
        where = self.located(tag)
        return None if where is None else bytes(self.data[where[0] : where[0] + where[1]])

    def later_pages(self) -> int:
        """A TIFF's pages after the first: the IFDs linked on from IFD0, a smaller copy (a thumbnail) not counted."""
        pages, seen = 0, {self._int(4, 4)}  # IFD0's offset: a chain that links back ends
        ifd = self._int(self.next_ifd, 4) if self.next_ifd else 0
        while ifd and ifd not in seen and ifd + 2 <= len(self.data):
            seen.add(ifd)
            end = ifd + 2 + 12 * self._int(ifd, 2)
            if end + 4 > len(self.data):
                break
            kinds = [self._int(at + 8, 4) for at in range(ifd + 2, end, 12) if self._int(at, 2) == NEW_SUBFILE_TYPE]
            pages += not (kinds and kinds[0] & REDUCED)
            ifd = self._int(end, 4)
        return pages

    @property
    def orientation(self) -> int:
        """1 to 8, as EXIF numbers them; 1 (as stored) where the tag is absent or out of range."""
        value = self.value(ORIENTATION)
        return value if value in range(1, 9) else 1

    def with_short(self, tag: int, value: int) -> bytes:
        """These bytes with a SHORT tag of one value added to IFD0 (as they are where it is there): IFD0 is written
        again at the end with it, its entries in order, and the header points there; the data stays where it is."""
        if tag in self.entries or not self.next_ifd:
            return bytes(self.data)
        ifd = self._int(4, 4)
        count = self._int(ifd, 2)
        entries = [bytes(self.data[at : at + 12]) for at in range(ifd + 2, ifd + 2 + 12 * count, 12)]
        order = self.order
        added = tag.to_bytes(2, order) + SHORT.to_bytes(2, order) + (1).to_bytes(4, order) + value.to_bytes(2, order)
        entries = sorted([*entries, added + bytes(2)], key=lambda entry: int.from_bytes(entry[:2], order))
        out = self.data + bytes(len(self.data) % 2)  # an IFD starts on a word boundary
        out[4:8] = len(out).to_bytes(4, order)
        link = self.data[self.next_ifd : self.next_ifd + 4]  # to IFD1, where there is one
        return bytes(out + (count + 1).to_bytes(2, order) + b"".join(entries) + link)

    def for_upright(self, width: int, height: int) -> bytes:
        """These bytes for an upright picture of this size: orientation 1, the size, no thumbnail."""
        self.set(ORIENTATION, 1)
        self.set(PIXEL_X, width)
        self.set(PIXEL_Y, height)
        if self.next_ifd:
            self.data[self.next_ifd : self.next_ifd + 4] = bytes(4)
        return bytes(self.data)


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels (rows first) turned as EXIF orientation 1-8 says they are shown (Pillow's exif_transpose)."""
    turned = {
        2: lambda p: p[:, ::-1], 3: lambda p: p[::-1, ::-1], 4: lambda p: p[::-1],
        5: lambda p: p.swapaxes(0, 1), 6: lambda p: np.rot90(p, -1), 7: lambda p: p[::-1, ::-1].swapaxes(0, 1),
        8: lambda p: np.rot90(p),
    }.get(orientation, lambda p: p)(pixels)  # fmt: skip
    return np.ascontiguousarray(turned)
