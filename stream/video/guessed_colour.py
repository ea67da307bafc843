"""Untagged colour as players guess it, tagged where an upscale would change their guess.

A video that says nothing of its matrix and primaries is shown by its size: BT.709 from 1280 pixels wide or more
than 576 lines, BT.601 below it, and SD's own primaries at PAL's 576 lines and NTSC's 480 or 486 (mpv's
mp_csp_guess_colorspace and mp_csp_guess_primaries; VLC and browsers alike). A DVD's or an old phone's untagged
clip, upscaled past that line, was shown through BT.709: greens and reds shifted (a green bar of 30,226,0 shown as
17,192,0). Tagged with what it was shown as, it shows as it did.
"""

from __future__ import annotations

from stream.video.frames import VideoInfo

UNSPECIFIED = 2  # AVCOL_SPC_UNSPECIFIED and AVCOL_PRI_UNSPECIFIED
BT470BG, SMPTE170M = 5, 6  # PAL's and NTSC's matrix (one BT.601 matrix) and primaries
NAMES = {BT470BG: "bt470bg", SMPTE170M: "smpte170m"}  # as ffprobe names them


def is_hd(width: int, height: int) -> bool:
    return width >= 1280 or height > 576


def shown_as(info: VideoInfo, out_size: tuple[int, int]) -> tuple[int, int]:
    """(matrix, primaries) for the output: the input's, but where untagged and `out_size` is HD where the input
    was not, what players took them for at the input's size."""
    matrix, primaries = info.colorspace, info.color_primaries
    if is_hd(info.width, info.height) or not is_hd(*out_size):
        return matrix, primaries
    sd = BT470BG if info.height == 576 else SMPTE170M
    guessed = sd if info.height in (480, 486, 576) else primaries  # other SD sizes: BT.709's primaries at either
    return (sd if matrix == UNSPECIFIED else matrix), (guessed if primaries == UNSPECIFIED else primaries)


def guessed_tags(info: VideoInfo, matrix: int, primaries: int) -> str:
    """What shown_as tagged, in words ("matrix and primaries tagged smpte170m"); "" for nothing."""
    said = [name for name, was, now in (("matrix", info.colorspace, matrix),
                                        ("primaries", info.color_primaries, primaries)) if was != now]  # fmt: skip
    return f"{' and '.join(said)} tagged {NAMES[primaries if primaries in NAMES else matrix]}" if said else ""
