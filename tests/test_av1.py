"""AV1's frame quantisers, read from its frame headers (stream.av1): dav1d exports none, so the reader walks the
headers itself; FFmpeg's own header parser (the trace_headers bitstream filter) is the truth."""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stream.av1 import Av1Quantisers, obus
from stream.bits import Bits
from stream.content import AV1_HEAVY, AV1_LIGHT, judge_source
from stream.video.source import VideoSource
from tests.headers import panning_clip, traced_fields, video_packets


def svt_clip(path: Path, params: str = "", crf: str = "35", **kw) -> Path:
    """A panning clip coded by SVT-AV1 at `crf` with `params` (`kw`: size, frames, pix_fmt, gop_size); MP4 and
    Matroska carry the sequence header in av1C, IVF in the packets only."""
    options = {"crf": crf} | ({"svtav1-params": params} if params else {})
    return panning_clip(path, "libsvtav1", options, **kw)


def read_quantisers(path: Path) -> list[int]:
    extradata, packets = video_packets(path)
    reader = Av1Quantisers(extradata)
    return [q for packet in packets for q in reader.packet(packet)]


def traced_quantisers(path: Path) -> list[int]:
    """Each coded frame's base_q_idx as FFmpeg's trace_headers prints it, in decode order."""
    return [value for _, value in traced_fields(path, "base_q_idx")]


@pytest.mark.parametrize(
    ("suffix", "params", "options"),
    [("mkv", "", {}), ("mp4", "pred-struct=1", {}), ("ivf", "", {}),
     ("mkv", "resize-mode=1:resize-denom=12", {"size": (160, 96)}),  # sizes from references (frame_size_with_refs)
     ("mkv", "superres-mode=1:superres-denom=12", {"size": (160, 80)}),
     ("mkv", "tile-columns=2:tile-rows=1", {"size": (576, 160), "frames": 4}),
     ("mkv", "scm=1", {}),  # screen content tools: integer motion vectors, intra block copy chosen per frame
     ("mkv", "irefresh-type=1:keyint=5", {}),  # intra-only frames
     ("mkv", "enable-tf=0:hierarchical-levels=2", {"pix_fmt": "yuv420p10le"}),
     ("mkv", "", {"gop_size": 1})],
)  # fmt: skip
def test_each_frames_quantiser_is_what_ffmpeg_parses(tmp_path, suffix, params, options):
    """Hidden alternative references, low delay, frames resized (their size taken from a reference's), superres,
    tiles, screen content, intra-only frames, 10 bits, all-intra: every coded frame's quantiser read equals
    FFmpeg's, and they differ by frame (but for all-intra)."""
    clip = svt_clip(tmp_path / f"clip.{suffix}", params, **options)
    read = read_quantisers(clip)
    assert read == traced_quantisers(clip)
    assert len(read) == options.get("frames", 12) and (len(set(read)) > 1) == ("gop_size" not in options)


def ffmpeg_encoders() -> str:
    if shutil.which("ffmpeg") is None:
        return ""
    return subprocess.run(["ffmpeg", "-v", "error", "-encoders"], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    "options",
    ["libaom-av1 -crf 35 -cpu-used 8", "libaom-av1 -crf 30 -cpu-used 8 -usage realtime",
     "libaom-av1 -crf 40 -cpu-used 8 -error-resilience 1 -tiles 2x2",
     "libaom-av1 -crf 40 -cpu-used 8 -aom-params timing-info=model",
     "libaom-av1 -crf 40 -cpu-used 8 -aom-params tile-width=1,2:tile-height=1", "librav1e -qp 120 -speed 10 -tiles 4"],
)  # fmt: skip
def test_other_encoders_frames_are_read_as_ffmpeg_parses_them(tmp_path, options):
    """libaom (the reference encoder, YouTube's) and rav1e, where the ffmpeg CLI has them: good-quality and
    real-time coding, error resilience (with frame ids), tiles even and uneven, a decoder model (buffer removal
    times in every frame header)."""
    encoder, *rest = options.split()
    if f" {encoder} " not in ffmpeg_encoders():
        pytest.skip(f"the ffmpeg CLI has no {encoder}")
    clip = tmp_path / "clip.mkv"
    source = ["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-frames:v", "12"]
    subprocess.run(["ffmpeg", "-v", "error", *source, "-c:v", encoder, *rest, str(clip)], check=True)
    read = read_quantisers(clip)
    assert read == traced_quantisers(clip)
    assert len(read) >= 12 and len(set(read)) > 1  # hidden frames beside the 12 shown


def test_lossless_reads_zero_and_is_clean(tmp_path):
    clip = svt_clip(tmp_path / "lossless.mkv", "lossless=1")
    assert set(read_quantisers(clip)) == {0}
    with VideoSource(clip) as source:
        assert judge_source(source) == ("clean", "av1, q index 0 over its first 12 frames")


@pytest.mark.parametrize(("crf", "content"), [("20", "light"), ("50", "compressed"), ("63", "heavy")])
def test_av1_files_are_judged_by_their_quantisers(tmp_path, crf, content):
    """A download's AV1: judged on the q index its frame headers say (the median over its coded frames), as VP9 is."""
    clip = svt_clip(tmp_path / "clip.webm", crf=crf)
    median = statistics.median(read_quantisers(clip))
    with VideoSource(clip) as source:
        judged = judge_source(source)
    assert judged == (content, f"av1, q index {median:.0f} over its first 12 frames")
    assert (median <= AV1_LIGHT) == (content == "light") and (median >= AV1_HEAVY) == (content == "heavy")


def test_a_stream_is_read_from_its_first_sequence_header(tmp_path):
    """IVF has no av1C: FFmpeg gives the sequence header of its first packet as bare OBUs for extradata, and the
    packet keeps it; frames before any sequence header give nothing."""
    extradata, data = video_packets(svt_clip(tmp_path / "clip.ivf"))
    assert extradata and extradata[0] >> 3 == 1  # an OBU, a sequence header's
    assert Av1Quantisers(None).packet(data[1]) == []
    assert Av1Quantisers(extradata).packet(data[1])
    reader = Av1Quantisers(None)
    assert len(reader.packet(data[0])) == 1 and reader.packet(data[1])
    noise = np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    assert Av1Quantisers(noise).packet(noise) == []


def test_damaged_headers_give_nothing_or_a_q_index_never_an_error(tmp_path):
    """Bit flips in the frame and sequence headers, and packets cut short past their headers: each gives a q index
    or nothing for each frame it codes, most frames still theirs."""
    extradata, data = video_packets(svt_clip(tmp_path / "clip.mkv", "resize-mode=1:resize-denom=12", size=(160, 96)))
    rng, read = np.random.default_rng(3), []
    for trial in range(300):
        damaged = [bytearray(p[:64]) if trial % 3 else bytearray(p) for p in data]
        for _ in range(4):
            packet = damaged[rng.integers(len(damaged))]
            at = int(rng.integers(min(len(packet), 24)))
            packet[at] ^= 1 << int(rng.integers(8))
        reader = Av1Quantisers(bytes(extradata or b""))
        read += [q for packet in damaged for q in reader.packet(bytes(packet))]
    assert len(read) > 300 * 12 / 2 and all(0 <= q <= 255 for q in read)


def test_obus_are_split_by_their_sizes():
    """A temporal delimiter, a padding OBU with an extension (layers 2 and 1), and a last OBU without a size."""
    data = bytes([0x12, 0x00, 0x7E, 0b010_01_000, 0x02, 0xAA, 0xBB, 0x78, 0x01])
    assert list(obus(data)) == [(2, None, b""), (15, (2, 1), b"\xaa\xbb"), (15, None, b"\x01")]


def test_ns_codes_a_value_below_n_in_the_fewest_bits():
    """ns(5): 0-2 in two bits, 3 and 4 in three (AV1 4.10.7); ns(1) reads nothing."""
    bits = Bits(bytes([0b00_10_110_1, 0b11_000000]))
    assert [bits.ns(5) for _ in range(4)] == [0, 2, 3, 4]
    assert bits.ns(1) == 0 and bits.at == 10
