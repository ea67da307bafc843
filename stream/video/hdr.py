"""HDR input kept HDR: its transfer marks it, and HDR10's static metadata (the mastering display's
colour volume, MaxCLL/MaxFALL) is read from the decoded frames' side data and handed to x265 as
`master-display`/`max-cll`, as ffmpeg users write them: FFmpeg's libx265 takes that metadata from
no frame, and PyAV cannot give it to the encoder otherwise."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av

PQ, HLG = 16, 18  # AVCOL_TRC_SMPTE2084 (HDR10), AVCOL_TRC_ARIB_STD_B67
_CHROMATICITY, _LUMINANCE = 50000, 10000  # x265's units: 0.00002, and 0.0001 cd/m2


@dataclass(frozen=True)
class HdrMetadata:
    """HDR10's static metadata, in x265's notation ("" where the input has none)."""

    master_display: str = ""  # G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)
    max_cll: str = ""  # MaxCLL,MaxFALL


def _rationals(data: bytes, count: int) -> list[Fraction]:
    ints = struct.unpack_from(f"<{2 * count}i", data)
    return [Fraction(n, d) if d else Fraction(0) for n, d in zip(ints[::2], ints[1::2], strict=True)]


def master_display(data: bytes) -> str:
    """AVMasteringDisplayMetadata (primaries R, G, B and white point as x, y; min and max luminance;
    whether each is there) -> x265's G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)."""
    values = _rationals(data, 10)
    has_primaries, has_luminance = struct.unpack_from("<2i", data, 80)
    if not (has_primaries and has_luminance):
        return ""
    chromaticities = [round(v * _CHROMATICITY) for v in values[:8]]
    (rx, ry), (gx, gy), (bx, by), (wx, wy) = zip(chromaticities[::2], chromaticities[1::2], strict=True)
    low, high = (round(v * _LUMINANCE) for v in values[8:10])
    return f"G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({high},{low})"


def side_data(frame: av.VideoFrame) -> dict[str, bytes]:
    """A decoded frame's side data by type name; none where PyAV cannot name one of its types: FFmpeg 8 tags a JPEG
    with its EXIF (type 31) and PyAV 18's list of types stops at 27, so reading any of them raised ValueError (a
    numbered photo's JPEGs into a video stopped with it). PyAV 18.1.0 iterates the side data itself, 18.1.1 its
    types, as a mapping's keys (every run failed as "'Type' object has no attribute 'type'")."""
    try:
        sides = [item if hasattr(item, "type") else frame.side_data[item] for item in frame.side_data]
        return {side.type.name: bytes(side) for side in sides}
    except ValueError:
        return {}


def hdr_metadata(frame: av.VideoFrame) -> HdrMetadata:
    """What a decoded frame (HEVC repeats it at every keyframe; the first is enough) says."""
    found = side_data(frame)
    mastering = found.get("MASTERING_DISPLAY_METADATA")
    light = found.get("CONTENT_LIGHT_LEVEL")
    return HdrMetadata(
        master_display=master_display(mastering) if mastering else "",
        max_cll="{},{}".format(*struct.unpack_from("<2I", light)) if light else "",
    )


def x265_params(color_trc: int, hdr: HdrMetadata) -> str:
    """x265's own options for this input: HDR10 signalled and its metadata written with PQ, x265's
    banners quiet (its log goes to the terminal past FFmpeg's). The colour tags come from the
    encoder's context, as for every codec."""
    params = ["log-level=error"]
    if color_trc == PQ:
        params += ["hdr10=1", "hdr10-opt=1"]
        if hdr.master_display:
            params.append(f"master-display={hdr.master_display}")
        if hdr.max_cll:
            params.append(f"max-cll={hdr.max_cll}")
    return ":".join(params)
