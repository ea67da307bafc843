"""Small generated media files for pipeline tests, made with PyAV."""

from __future__ import annotations

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


def _srt_input(path: Path) -> av.container.InputContainer:
    """Two SubRip cues, read back through PyAV so that their stream can be a template."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nfirst line\n\n2\n00:00:00,300 --> 00:00:00,500\nsecond\n")
    return av.open(str(srt))


def probe(path: Path) -> dict:
    """What the tests check: sizes, timestamps, colour, rotation and packets per stream."""
    with av.open(str(path)) as c:
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
                said.append((round(start, 3), round(length, 3), b"".join(r.dialogue for r in cue)))
        return said
