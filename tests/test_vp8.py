"""VP8's frame quantisers, read from its frame headers (stream.vp8): FFmpeg's VP8 decoder exports none, so the reader
walks the boolean-coded header itself; FFmpeg's own header parser (the trace_headers bitstream filter) is the truth."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from stream.content import VP8_HEAVY, VP8_LIGHT, judge_source
from stream.video.source import VideoSource
from stream.vp8 import BoolDecoder, Vp8Quantisers
from tests.headers import panning_clip, traced_fields, video_packets


def vp8_clip(path: Path, options: dict[str, str], **context: int) -> Path:
    """A panning clip coded by libvpx's VP8 with `options` and codec context settings (qmin, qmax, gop_size)."""
    return panning_clip(path, "libvpx", options, **context)


def read_quantisers(path: Path) -> list[int]:
    reader = Vp8Quantisers(None)
    return [q for packet in video_packets(path)[1] for q in reader.packet(packet)]


def traced_quantisers(path: Path) -> list[int]:
    """Each frame's y_ac_qi (base_qindex) as FFmpeg's trace_headers prints it, in decode order."""
    return [value for _, value in traced_fields(path, "base_qindex")]


@pytest.mark.parametrize(
    ("suffix", "options", "context"),
    [("webm", {"crf": "30", "b": "1M"}, {}), ("ivf", {"b": "100M"}, {"qmin": 20, "qmax": 20}),
     ("webm", {"b": "150k", "deadline": "realtime", "cpu-used": "8", "error-resilient": "1"}, {}),  # segments
     ("mkv", {"b": "300k", "auto-alt-ref": "1", "lag-in-frames": "8", "sharpness": "5"}, {"gop_size": 4})],
)  # fmt: skip
def test_each_frames_quantiser_is_what_ffmpeg_parses(tmp_path, suffix, options, context):
    """Constant quality, a fixed quantiser, a browser's real-time coding (segmentation: the quantiser and filter
    updates of its segments), key frames every 4: every frame's quantiser read equals FFmpeg's."""
    clip = vp8_clip(tmp_path / f"clip.{suffix}", options, **context)
    read = read_quantisers(clip)
    assert read == traced_quantisers(clip)
    assert len(read) >= 12 and all(0 <= q <= 127 for q in read)


@pytest.mark.parametrize(("q", "content"), [(5, "light"), (20, "compressed"), (40, "heavy")])
def test_vp8_files_are_judged_by_their_quantisers(tmp_path, q, content):
    """A browser's recording or an old WebM: judged on the q index its frame headers say, as VP9 is."""
    clip = vp8_clip(tmp_path / "clip.webm", {"b": "100M"}, qmin=q, qmax=q)
    median = statistics.median(read_quantisers(clip))
    with VideoSource(clip) as source:
        judged = judge_source(source)
    assert judged == (content, f"vp8, q index {median:.0f} over its first 12 frames")
    assert (median <= VP8_LIGHT) == (content == "light") and (median >= VP8_HEAVY) == (content == "heavy")


def test_damaged_frames_give_nothing_or_a_q_index_never_an_error(tmp_path):
    """Bit flips in the frame tags and headers, and frames cut short: each gives a q index or nothing, most frames
    still theirs; noise is no frame."""
    realtime = {"b": "150k", "deadline": "realtime", "error-resilient": "1"}
    data = video_packets(vp8_clip(tmp_path / "clip.webm", realtime))[1]
    rng, reader, read = np.random.default_rng(3), Vp8Quantisers(None), []
    for trial in range(300):
        packet = bytearray(data[trial % len(data)][: 12 + trial % 24])
        packet[int(rng.integers(len(packet)))] ^= 1 << int(rng.integers(8))
        read += reader.packet(bytes(packet))
    assert len(read) > 300 / 2 and all(0 <= q <= 127 for q in read)
    noise = np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    assert reader.packet(noise) in ([], [reader.packet(noise)[0]]) and reader.packet(b"\x00") == []


def test_a_demuxer_error_in_the_opening_frames_is_decoded_past_not_the_runs_end(tmp_path):
    """A frame size in an IVF's frame header that cannot be: ffmpeg decodes the frames before it; the judging read
    them again and its error ended the run ("out of memory", the demuxer's ENOMEM). AV1 and HEVC read alike."""
    clip = bytearray(vp8_clip(tmp_path / "clip.ivf", {"b": "1M"}).read_bytes())
    at = 32  # the IVF's header; each frame's has its size (4 bytes) and time (8)
    for _ in range(6):  # the seventh frame's header
        at += 12 + int.from_bytes(clip[at : at + 4], "little")
    clip[at : at + 4] = (0xF0000000).to_bytes(4, "little")
    (tmp_path / "bad.ivf").write_bytes(clip)
    with VideoSource(tmp_path / "bad.ivf") as source:
        judged = judge_source(source)
    assert judged[0] in ("light", "compressed", "heavy") and "over its first 6 frames" in judged[1]


def bool_encode(bits: list[int]) -> bytes:
    """RFC 6386 7.3's boolean encoder at probability 1/2, in Python: the decoder's independent counterpart."""
    out, low, span, count = bytearray(), 0, 255, 24
    for bit in bits:
        split = 1 + ((span - 1) * 128 >> 8)
        low, span = (low + split, span - split) if bit else (low, split)
        while span < 128:
            span <<= 1
            if low & 1 << 31:
                carry(out)
            low = low << 1 & 0xFFFFFFFF
            count -= 1
            if not count:
                out.append(low >> 24)
                low, count = low & 0xFFFFFF, 8
    if low & 1 << (32 - count):  # flush_bool_encoder
        carry(out)
    low = low << (count & 7) << 8 * (count >> 3) & 0xFFFFFFFF
    return bytes(out) + low.to_bytes(4, "big")


def carry(out: bytearray) -> None:
    """add_one_to_output: a carry into the bytes written."""
    at = len(out) - 1
    while out[at] == 255:
        out[at], at = 0, at - 1
    out[at] += 1


def test_the_boolean_decoder_reads_what_the_rfcs_encoder_wrote():
    bits = [int(b) for b in np.random.default_rng(4).integers(0, 2, 500)]
    decoder = BoolDecoder(bool_encode(bits))
    assert [decoder.bool() for _ in bits] == bits
