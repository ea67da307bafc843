"""Small generated media files for pipeline tests, made with PyAV."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from stream.bench.synthetic import pattern

VFR_PTS_MS = [0, 40, 80, 160, 200, 240, 330, 370, 410, 500, 540, 580]  # 12 frames, uneven gaps


def make_clip(
    path: Path,
    width: int = 64,
    height: int = 48,
    pts_ms: list[int] | None = None,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio: bool = True,
    subtitles: bool = False,
    rotation: int = 0,
    color: tuple[int, int, int, int] | None = (1, 1, 1, 1),  # range (MPEG), space, primaries, trc (BT.709)
    encoder: dict[str, str] | None = None,  # the video encoder's options (x264-params: keyint, bframes, ...)
) -> Path:
    """A short clip: video at the given timestamps (ms), optional stereo AAC and subtitles."""
    pts_ms = VFR_PTS_MS if pts_ms is None else pts_ms
    out = av.open(str(path), "w")
    video = out.add_stream(codec, rate=25)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    video.time_base = video.codec_context.time_base = Fraction(1, 1000)
    video.codec_context.options |= encoder or {}
    if color:
        ctx = video.codec_context
        ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = color
    if rotation:
        video.set_display_rotation(rotation)
    sound = out.add_stream("aac", rate=48000, layout="stereo") if audio else None
    srt = _srt_input(path) if subtitles else None
    subs = out.add_stream_from_template(srt.streams[0]) if srt else None
    for i, pts in enumerate(pts_ms):
        frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24").reformat(format=pix_fmt)
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        if color:
            frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc = color
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    if sound is not None:
        samples = int(48000 * (pts_ms[-1] + 40) / 1000)
        t = np.arange(samples) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = np.stack([tone[start : start + 1024]] * 2)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    if srt is not None:
        for packet in srt.demux():
            if packet.size:
                packet.stream = subs
                out.mux(packet)
        srt.close()
    out.close()
    return path


def captioned_clip(path: Path, text: bytes = b"HI THERE", frames: int = 12) -> Path:
    """An H.264 clip whose coding carries CEA-608 closed captions, as a TV recording's does (ATSC's A53 user data in
    an SEI before each picture): x264 codes the pictures, with an access unit delimiter before each, and an SEI with
    a frame's two caption bytes goes after each delimiter: "resume caption loading", the text, "end of caption"."""
    annex_b = io.BytesIO()
    with av.open(annex_b, "w", format="h264") as out:
        video = out.add_stream("libx264", rate=25, options={"x264-params": "aud=1:bframes=0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            out.mux(video.encode(picture.reformat(format="yuv420p")))
        out.mux(video.encode(None))
    pairs = [(0x14, 0x20)] * 2 + [(text[i], text[i + 1]) for i in range(0, len(text), 2)] + [(0x14, 0x2F)] * 2
    aud, coded = b"\x00\x00\x00\x01\x09", annex_b.getvalue().split(b"\x00\x00\x00\x01\x09")
    units = [coded[0]]
    for n, unit in enumerate(coded[1:]):
        first, second = (_odd_parity(b) for b in (pairs[n] if n < len(pairs) else (0x80, 0x80)))
        cc = bytes([0xFC, first, second, 0xFD, 0x80, 0x80])  # field 1's pair, an empty field 2
        payload = bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03, 0x40 | 2, 0xFF]) + cc + b"\xff"
        sei = _escaped(bytes([4, len(payload)]) + payload + b"\x80")  # user data registered by ITU-T T.35
        units.append(aud + unit[:1] + b"\x00\x00\x00\x01\x06" + sei + unit[1:])
    with av.open(io.BytesIO(b"".join(units)), format="h264") as src, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        video.time_base = Fraction(1, 25)
        for i, packet in enumerate(p for p in src.demux(video=0) if p.size):
            packet.pts = packet.dts = i
            packet.time_base, packet.stream = Fraction(1, 25), video
            out.mux(packet)
    return path


def _odd_parity(byte: int) -> int:
    return byte | (0 if bin(byte).count("1") % 2 else 0x80)


def _escaped(rbsp: bytes) -> bytes:
    """H.264's emulation prevention: a 3 after two zeros where the next byte would make a start code."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _srt_input(path: Path) -> av.container.InputContainer:
    """Two SubRip cues, read back through PyAV so that their stream can be a template."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nfirst line\n\n2\n00:00:00,300 --> 00:00:00,500\nsecond\n")
    return av.open(str(srt))


def probe(path: Path) -> dict:
    """What the tests check: sizes, timestamps, colour, rotation and packets per stream."""
    with av.open(str(path), metadata_errors="surrogateescape") as c:  # tags as their bytes, UTF-8 or not
        video = c.streams.video[0]
        info = {
            "streams": [s.type for s in c.streams],
            "codecs": [s.codec_context.name if s.codec_context else None for s in c.streams],
            "packets": {s.index: 0 for s in c.streams},
        }
        for packet in c.demux():
            if packet.size:
                info["packets"][packet.stream.index] += 1
        c.seek(0)
        frames = list(c.decode(video=0))
        first = frames[0]
        info |= {
            "size": (first.width, first.height),
            "pix_fmt": first.format.name,
            "frames": len(frames),
            "pts_ms": [round(float(f.pts * f.time_base) * 1000) for f in frames],
            "color": (first.color_range, first.colorspace, first.color_primaries, first.color_trc),
            "rotation": round(first.rotation or 0),
        }
        del video
    return info


def cues(path: Path) -> list[tuple[float, float, bytes]]:
    """The first subtitle stream's cues: (start after the first frame's, duration, text), in seconds
    (MP4's empty samples, which end a cue where none follows at once, left out)."""
    with av.open(str(path)) as container:
        first = float(next(container.decode(video=0)).time)
        container.seek(0)
        text = container.streams.subtitles[0]
        said = []
        for packet in container.demux(text):
            cue = text.codec_context.decode2(packet) if packet.size else None
            if cue:
                start, length = float(packet.pts * packet.time_base) - first, float(packet.duration * packet.time_base)
                words = b"".join(r.ass.split(b",", 8)[8] for r in cue)  # the event's text, its styling kept (PyAV
                said.append((round(start, 3), round(length, 3), words))  # 18.1.1's `dialogue` strips it)
        return said
