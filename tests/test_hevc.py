"""HEVC's picture quantisers, read from its slice headers (stream.hevc): FFmpeg's decoder exports none, so the
reader walks the headers itself; FFmpeg's own header parser (the trace_headers bitstream filter) is the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stream.bits import Bits
from stream.content import HEVC_HEAVY, HEVC_LIGHT, judge_source
from stream.hevc import HevcQuantisers, rbsp
from stream.video.source import VideoSource
from tests.headers import panning_clip, traced_fields, video_packets


def x265_clip(path: Path, params: str, frames: int = 12, pix_fmt: str = "yuv420p") -> Path:
    """A panning clip coded by x265 with `params` (96 x 80: x265's smallest safe size, tests/test_degrade.py); MP4
    carries the parameter sets in hvcC, MPEG-TS in the packets."""
    options = {"x265-params": f"log-level=none:{params}"}
    return panning_clip(path, "libx265", options, frames=frames, pix_fmt=pix_fmt)


def read_quantisers(path: Path) -> list[int]:
    extradata, packets = video_packets(path)
    reader = HevcQuantisers(extradata)
    return [q for packet in packets for q in reader.packet(packet)]


def traced_quantisers(path: Path) -> list[int]:
    """Each picture's SliceQpY as FFmpeg's trace_headers prints its first slice's header, in decode order."""
    init, first, qps = 0, False, []
    for name, value in traced_fields(path, "init_qp_minus26|first_slice_segment_in_pic_flag|slice_qp_delta"):
        if name == "init_qp_minus26":
            init = value
        elif name == "first_slice_segment_in_pic_flag":
            first = bool(value)
        elif first:
            qps.append(26 + init + value)
    return qps


@pytest.mark.parametrize("suffix", ["mp4", "ts"])
@pytest.mark.parametrize(
    "params",
    ["crf=28", "crf=20:bframes=6:b-pyramid=1:ref=5", "crf=30:weightp=1:weightb=1",
     "crf=24:scaling-list=default:sao=0", "crf=32:keyint=4:open-gop=1:repeat-headers=1",
     "qp=36:ipratio=1.6:pbratio=1.5:aq-mode=0"],
)  # fmt: skip
def test_each_pictures_quantiser_is_what_ffmpeg_parses(tmp_path, suffix, params):
    """B-pyramids, several references, weighted prediction (the fade), scaling lists, open GOPs and
    in-band parameter sets: every picture's quantiser read equals FFmpeg's, and they differ by picture."""
    clip = x265_clip(tmp_path / f"clip.{suffix}", params)
    read = read_quantisers(clip)
    assert read == traced_quantisers(clip)
    assert len(read) == 12 and len(set(read)) > 1


def test_ten_bits_and_four_four_four_read_on_the_same_scale(tmp_path):
    eight = read_quantisers(x265_clip(tmp_path / "8.mp4", "qp=30:ipratio=1:pbratio=1"))
    ten = read_quantisers(x265_clip(tmp_path / "10.mp4", "qp=30:ipratio=1:pbratio=1", pix_fmt="yuv420p10le"))
    full = read_quantisers(x265_clip(tmp_path / "444.mp4", "qp=30:ipratio=1:pbratio=1", pix_fmt="yuv444p"))
    assert eight == ten == full == [30] * 12


def test_a_picture_of_several_slices_reads_once(tmp_path):
    """Its first slice's quantiser stands for it (FFmpeg's trace fails on x265's later slices at this size)."""
    assert read_quantisers(x265_clip(tmp_path / "slices.mp4", "qp=27:ipratio=1:pbratio=1:slices=2")) == [27] * 12


def test_lossless_coding_reads_as_quantiser_zero(tmp_path):
    assert read_quantisers(x265_clip(tmp_path / "lossless.mp4", "lossless=1")) == [0] * 12


def test_damaged_or_foreign_data_gives_nothing(tmp_path):
    """Truncated headers, a slice before its parameter sets, and noise read as no quantiser, never raise."""
    clip = x265_clip(tmp_path / "clip.ts", "crf=28")
    packets = video_packets(clip)[1]
    assert HevcQuantisers(None).packet(packets[1]) == []  # no SPS or PPS seen yet
    reader = HevcQuantisers(None)
    assert reader.packet(packets[0][:40]) == []  # cut inside the parameter sets
    noise = np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert HevcQuantisers(noise).packet(noise) == []
    assert HevcQuantisers(None).packet(packets[0]) == [read_quantisers(clip)[0]]


def test_any_damage_gives_no_quantiser_or_one_in_range(tmp_path):
    """Bytes flipped anywhere in the parameter sets or the slices (a damaged download) are read past: never an
    exception out of the judge, never a quantiser outside H.265's range."""
    clip = x265_clip(tmp_path / "clip.mp4", "crf=30:bframes=4:b-pyramid=1:ref=4:weightp=1:weightb=1")
    extradata, packets = video_packets(clip)
    rng = np.random.default_rng(3)
    read = []
    for _ in range(150):
        damaged = [bytearray(extradata), *map(bytearray, packets)]
        for _ in range(3):
            target = damaged[rng.integers(len(damaged))]
            target[rng.integers(min(len(target), 64))] ^= 1 << int(rng.integers(8))  # the headers: the first bytes
        reader = HevcQuantisers(bytes(damaged[0]))
        read += [q for packet in damaged[1:] for q in reader.packet(bytes(packet))]
    assert read and all(-48 <= q <= 51 for q in read)


def test_rbsp_drops_emulation_prevention_and_exp_golomb_reads():
    assert rbsp(b"\x40\x01\x00\x00\x03\x01\x00\x00\x03\x00\x00\x03") == b"\x00\x00\x01\x00\x00\x00\x00"
    bits = Bits(bytes([0b1_010_011_0, 0b0100_0010, 0b1000_0000]))  # ue 0, 1, 2; se +2, -2 (ue 3, 4)
    assert [bits.ue(), bits.ue(), bits.ue(), bits.se(), bits.se()] == [0, 1, 2, 2, -2]


@pytest.mark.parametrize("qp, content", [(HEVC_LIGHT, "light"), (HEVC_LIGHT + 1, "compressed"), (HEVC_HEAVY, "heavy")])
def test_hevc_files_are_judged_by_their_quantisers(tmp_path, qp, content):
    """A phone's or a re-encoded download's HEVC: judged on the quantiser scale its slices say, as H.264 is."""
    clip = x265_clip(tmp_path / "clip.mp4", f"qp={qp}:ipratio=1:pbratio=1")
    with VideoSource(clip) as source:
        judged = judge_source(source)
    assert judged == (content, f"hevc, quantiser {qp} over its first 12 frames")
