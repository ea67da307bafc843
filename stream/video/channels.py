"""The channel layout and rate audio is encoded again in: the input's where the encoder takes them, else the nearest
it takes (Opus takes 5.1, not the 5.1(side) AC-3 and DTS decode to; MP2 two channels at most), so the sound is
kept where it had been left out.

And the input's layout read safely. PyAV 18 copies a layout's struct, not its channel map, into each AudioLayout it
makes of it, and frees the map with each: a custom channel order (a MOV's 6.1 or 7.1 PCM, its channels in the
order its `chan` box says) read once was freed twice, and the process ended in "double free or corruption". Here it
is read where a re-encoder is made (twice a stream, with its trial) and that object is never freed; and PCM in a
custom order is decoded as the same channels in FFmpeg's own order, its samples put in that order here (reorder),
so no frame holds a custom map."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import av
import numpy as np

# Layouts to try, in order, for N channels an encoder does not take as they are: the same count first, then fewer
SAME_COUNT = {3: ("3.0", "2.1"), 4: ("quad", "4.0"), 5: ("5.0", "4.1"), 6: ("5.1", "5.1(side)", "6.0"),
              7: ("6.1", "6.1(back)"), 8: ("7.1", "7.1(wide)")}  # fmt: skip
FEWER = ("5.1", "stereo", "mono")
# FFmpeg's channels in the order of their bits in a layout's mask (AVChannel), its own order
NATIVE_ORDER = ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR", "TC", "TFL", "TFC", "TFR",
                "TBL", "TBC", "TBR", "DL", "DR", "WL", "WR", "SDL", "SDR", "LFE2", "TSL", "TSR", "BFC", "BFL",
                "BFR")  # fmt: skip


@dataclass(frozen=True)
class SourceLayout:
    """An input audio stream's channels as it codes them."""

    names: tuple[str, ...]  # each channel's (FL, FR, ...; NONE where unnamed)
    described: str  # FFmpeg's description: "5.1(side)", "8 channels (FL+FR+...)"
    native: str | None  # the same channels in FFmpeg's own order ("7.1"), None where they are unnamed
    order: tuple[int, ...] | None  # where the input's order is another (custom): its channel for each native one

    @property
    def own(self) -> str:
        """The layout it is encoded in where the encoder takes it: unnamed, FFmpeg's usual one for as many ("6c")."""
        return self.native or f"{len(self.names)}c"


def read_layout(stream: av.audio.AudioStream) -> SourceLayout:
    """`stream`'s layout, read once and kept (the module's docstring says why)."""
    layout = stream.codec_context.layout
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(layout))  # never freed: its channel map is the stream's
    names, described = tuple(channel.name for channel in layout.channels), layout.name
    if not set(names) <= set(NATIVE_ORDER) or len(set(names)) != len(names):  # unnamed channels (PCM in Matroska)
        return SourceLayout(names, described, None, None)
    in_order = tuple(sorted(names, key=NATIVE_ORDER.index))  # named so, a mask: no map (a custom order has one)
    order = None if in_order == names else tuple(map(names.index, in_order))
    return SourceLayout(names, described, av.AudioLayout("+".join(in_order)).name, order)


def reorder(frame: av.AudioFrame, order: tuple[int, ...], layout: str) -> av.AudioFrame:
    """A frame of interleaved samples (PCM's: PyAV 18 miscounts the planes of 8 planar channels, and crashes) with
    its channels put in `order`, labelled `layout`, timed as it was."""
    samples = frame.to_ndarray().reshape(-1, len(order))[:, list(order)].reshape(1, -1)
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format=frame.format.name, layout=layout)
    out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
    return out


def encoder_rate(codec: str, rate: int) -> int:
    """The input's rate where the encoder takes it, else the nearest it takes (AAC: 96 kHz for 192 kHz)."""
    rates = av.Codec(codec, "w").audio_rates
    return rate if not rates or rate in rates else min(rates, key=lambda r: (abs(r - rate), -r))


def encoder_layout(codec: str, rate: int, source: SourceLayout) -> str:
    """The layout to encode in: the input's where the encoder opens with it, else the first of the same count,
    else fewer channels (SAME_COUNT, FEWER)."""
    count = len(source.names)
    for layout in (
        source.own,
        *SAME_COUNT.get(count, ()),
        *(f for f in FEWER if av.AudioLayout(f).nb_channels < count),
    ):
        if opens(codec, rate, layout):
            return layout
    return source.own  # (every encoder opens in mono: not reached)


def opens(codec: str, rate: int, layout: str) -> bool:
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.layout, ctx.format = rate, layout, ctx.codec.audio_formats[0]
    try:
        ctx.open()
    except (av.FFmpegError, ValueError):
        return False
    return True
