"""How many times an animation plays, as its file says, so that its enhanced copy plays as often: a GIF made to
play once (a reaction that ends on its last frame) looped forever once enhanced, one made to play three times too.

Counted here in plays, 0 for forever, as an APNG's acTL chunk and a WebP's ANIM chunk say it; a GIF's NETSCAPE2.0
extension says how many times it repeats after its first play (0: forever), and without one it plays once, as
browsers read them. A video has no count.
"""

from __future__ import annotations

from pathlib import Path

from stream.files import png_animation
from stream.webp import webp_chunks

HEAD = 1 << 20  # a GIF's count is read from its first MiB: before its first picture, after its palette and comments


def animation_plays(path: Path) -> int | None:
    """An animated GIF's, APNG's or WebP's plays (0: forever), by its content; None for anything else."""
    with open(path, "rb") as f:
        head = f.read(12)
        f.seek(0)
        if head.startswith(b"GIF8"):
            return gif_plays(f.read(HEAD))
        if head.startswith(b"\x89PNG"):
            return animation[1] if (animation := png_animation(path)) else None
        for fourcc, at in webp_chunks(f):
            if fourcc == b"ANIM":  # background colour (4 bytes), then the loop count
                f.seek(at + 4)
                return int.from_bytes(f.read(2), "little")
    return None


def gif_plays(data: bytes) -> int:
    """From the extensions before a GIF's first picture: its NETSCAPE2.0 (or ANIMEXTS1.0) repeat count."""
    flags = data[10] if len(data) > 10 else 0
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table
    while at + 2 < len(data) and data[at] == 0x21:  # an extension: its label, then sub-blocks to a 0
        label, start = data[at + 1], at + 2
        at = start
        while at < len(data) and data[at]:
            at += data[at] + 1
        block, at = data[start:at], at + 1
        if label == 0xFF and block[1:12] in (b"NETSCAPE2.0", b"ANIMEXTS1.0") and block[12:14] == b"\x03\x01":
            repeats = int.from_bytes(block[14:16], "little")
            return repeats + 1 if repeats else 0
    return 1
