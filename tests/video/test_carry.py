"""What the output takes over from the input besides the frames, checked against `ffmpeg -map 0 -c copy`."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.sidedata.sidedata import Type
from av.stream import Disposition

from tests.cli_helpers import run_cli
from tests.media import captioned_clip, cues, make_clip, probe

CHAPTERS = [
    {"id": i, "start": start, "end": start + 200, "time_base": Fraction(1, 1000), "metadata": {"title": title}}
    for i, (start, title) in enumerate([(0, "One"), (200, "Two")], start=1)
]
DIFFERS_BY_DESIGN = {"duration", "encoder", "handler_name", "vendor_id"}  # durations, our encoder, muxer defaults
needs_ffmpeg = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="needs ffmpeg")


def jpeg(size: int = 16) -> bytes:
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width = ctx.height = size
    ctx.pix_fmt, ctx.time_base = "yuvj420p", Fraction(1, 25)
    picture = av.VideoFrame.from_ndarray(np.full((size, size, 3), 200, np.uint8), format="rgb24")
    return b"".join(bytes(p) for p in [*ctx.encode(picture.reformat(format="yuvj420p")), *ctx.encode(None)])


def rich_clip(path: Path) -> Path:
    """A clip with what a film file carries: a title, tagged audio (and subtitles, where the
    container takes them), chapters, cover art, and in Matroska a font attachment."""
    mkv = path.suffix == ".mkv"
    base = make_clip(path.with_name(f"base{path.suffix}"), pts_ms=[40 * i for i in range(10)], subtitles=mkv)
    with av.open(str(base)) as src, av.open(str(path), "w") as out:
        out.metadata["title"] = "A film"
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        streams[1].metadata.update({"language": "fra", "title": "Commentary"})
        streams[1].disposition = Disposition.default | Disposition.comment
        cover = None
        if mkv:
            streams[2].metadata["language"] = "eng"
            streams[2].disposition = Disposition.forced
            out.add_attachment("cover.jpg", "image/jpeg", jpeg())  # FFmpeg reads it back as an attached picture
            out.add_attachment("font.ttf", "font/ttf", b"\x00\x01font")
        else:
            cover = out.add_stream("mjpeg")
            cover.width = cover.height = 16
            cover.pix_fmt, cover.disposition = "yuvj420p", Disposition.attached_pic
        out.set_chapters(CHAPTERS)
        if cover is not None:
            packet = av.Packet(jpeg())
            packet.stream, packet.pts, packet.dts = cover, 0, 0
            out.mux(packet)
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return path


def carried(path: Path) -> dict:
    """What ffprobe says a file carries besides its pictures: streams' kinds, tags and
    dispositions (as a sorted list: muxers order attachments differently), chapters, the title."""
    show = "stream=codec_type,codec_name:stream_tags:stream_disposition=default,forced,comment:chapter:format_tags"
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", show, "-of", "json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip

    def tags(entry: dict) -> dict:
        return {k.lower(): v for k, v in entry.get("tags", {}).items() if k.lower() not in DIFFERS_BY_DESIGN}

    streams = sorted(json.dumps([s["codec_type"], tags(s), s["disposition"]], sort_keys=True) for s in info["streams"])
    chapters = [(round(float(c["start_time"]), 3), round(float(c["end_time"]), 3), tags(c)) for c in info["chapters"]]
    return {"streams": streams, "chapters": chapters, "title": info["format"].get("tags", {}).get("title")}


def caption_bytes(path: Path) -> list[bytes]:
    """Each decoded frame's closed captions (A53 side data), in display order."""
    with av.open(str(path)) as container:
        return [bytes(f.side_data.get(Type.A53_CC) or b"") for f in container.decode(video=0)]


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "libx264"), (".mkv", "libx265")])
def test_closed_captions_in_the_video_are_coded_into_it_again(tmp_path, tiny_weights, capsys, suffix, codec):
    """A TV recording's captions ride in its video's coding (A53 in H.264's SEI), which ffmpeg's re-encode keeps:
    the frames made for the encoder held none, and the captions were lost without a word."""
    src = captioned_clip(tmp_path / "in.mp4")
    code, _, err = run_cli([str(src), str(tmp_path / f"out{suffix}"), "--weights", str(tiny_weights), "--codec", codec],
                           capsys)  # fmt: skip
    assert code == 0, err
    assert caption_bytes(tmp_path / f"out{suffix}") == caption_bytes(src) and b"" not in caption_bytes(src)
    code, _, err = run_cli([str(src), str(tmp_path / "out.webm"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "closed captions (in its video's coding) are left out: libvpx-vp9 codes none" in err


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".h264"])
def test_closed_captions_are_coded_once_where_each_field_makes_a_frame(tmp_path, tiny_weights, capsys, suffix):
    """--deinterlace field makes two frames of each decoded one, and both held its captions: each caption came
    twice ("HHII TTHHEERREE"); raw H.264, whose frames have no time, also once the fields were told by time."""
    src = captioned_clip(tmp_path / "in.mp4")
    if suffix == ".h264":
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c", "copy", str(tmp_path / "in.h264")], check=True)
        src = tmp_path / "in.h264"
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights), "--deinterlace",
                            "field"], capsys)  # fmt: skip
    assert code == 0, err
    out, captions = caption_bytes(tmp_path / "out.mkv"), caption_bytes(src)
    assert len(out) == 2 * len(captions) and out[1::2] == [b""] * len(captions) and out[::2] == captions


@pytest.mark.parametrize(("suffix", "kind"), [(".ts", "mpegts"), (".mpg", "mpeg")])
def test_text_subtitles_are_left_out_of_mpeg_ts_and_ps_in_a_line(tmp_path, tiny_weights, capsys, suffix, kind):
    """MPEG-TS takes SubRip but writes it as private data: it came back a data stream of no codec, its language and
    flags lost, and nothing said so. MPEG-PS wrote it as a DVD's subtitles, of no packet."""
    src = make_clip(tmp_path / "in.mkv", pts_ms=[40 * i for i in range(4)], subtitles=True)
    code, _, err = run_cli([str(src), str(tmp_path / f"out{suffix}"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and f"left out, as {kind} cannot hold them: subtitle stream #2 (subrip)" in err, err
    with av.open(str(tmp_path / f"out{suffix}")) as out:
        assert [s.type for s in out.streams] == ["video", "audio"]


@needs_ffmpeg
def test_the_videos_own_flags_are_kept_default_or_not(tmp_path, tiny_weights, capsys):
    """A video not marked default came out marked so (ffmpeg's copy keeps it unmarked): ffmpeg marks one of a kind
    only where several have none."""
    base = make_clip(tmp_path / "base.mkv", pts_ms=[40 * i for i in range(4)])
    with av.open(str(base)) as src, av.open(str(tmp_path / "in.mkv"), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        streams[0].disposition, streams[1].disposition = Disposition(0), Disposition.default
        for packet in src.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    code, _, err = run_cli([str(tmp_path / "in.mkv"), str(tmp_path / "ours.mkv"), "--weights", str(tiny_weights)],
                           capsys)  # fmt: skip
    assert code == 0, err
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "in.mkv"), "-map", "0", "-c", "copy",
                    str(tmp_path / "ffmpeg.mkv")], check=True)  # fmt: skip
    assert carried(tmp_path / "ours.mkv")["streams"] == carried(tmp_path / "ffmpeg.mkv")["streams"]
    with av.open(str(tmp_path / "ours.mkv")) as ours:
        assert not ours.streams.video[0].disposition & Disposition.default


@needs_ffmpeg
def test_of_several_sound_tracks_none_marked_default_the_first_is_as_ffmpeg_marks_it(tmp_path, tiny_weights, capsys):
    """MPEG-TS has no default flag: its two sound tracks came into Matroska neither marked, and a player chose none."""
    src = tmp_path / "in.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=10:d=0.5", "-f", "lavfi", "-i",
                    "sine=d=0.5", "-map", "0", "-map", "1", "-map", "1", "-c:v", "libx264", "-c:a", "mp2", str(src)],
                   check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(tmp_path / "ours.mkv"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(tmp_path / "ffmpeg.mkv")],
                   check=True)  # fmt: skip
    with av.open(str(tmp_path / "ours.mkv")) as ours:
        assert [bool(s.disposition & Disposition.default) for s in ours.streams.audio] == [True, False]
    assert carried(tmp_path / "ours.mkv")["streams"] == carried(tmp_path / "ffmpeg.mkv")["streams"]


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])  # (ffmpeg itself cannot copy a MOV chapter track to MOV)
def test_streams_tags_chapters_attachments_and_cover_are_kept_as_ffmpeg_keeps_them(tmp_path, tiny_weights, suffix,
                                                                                    capsys):  # fmt: skip
    src = rich_clip(tmp_path / f"in{suffix}")
    ours, theirs = tmp_path / f"ours{suffix}", tmp_path / f"ffmpeg{suffix}"
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(theirs)], check=True)
    assert carried(ours)["streams"] == carried(theirs)["streams"]
    assert carried(ours)["title"] == carried(theirs)["title"] == "A film"
    assert carried(ours)["chapters"] == carried(src)["chapters"]  # the input's times (ffmpeg shifts them by its start)
    assert [c[2]["title"] for c in carried(theirs)["chapters"]] == ["One", "Two"]
    assert probe(ours)["frames"] == 10  # the film was enhanced, not the cover
    with av.open(str(ours)) as out:
        covers = [s for s in out.streams.video if s.disposition & Disposition.attached_pic]
        assert len(covers) == 1  # and the cover is still a cover
    assert "left out" not in err


@needs_ffmpeg
@pytest.mark.parametrize("chunked", [False, True])
def test_tags_that_are_not_utf8_are_copied_as_their_bytes(tmp_path, tiny_weights, capsys, chunked):
    """An old AVI's Latin-1 title (or a damaged MP4's tag): the file was refused, "cannot open ('utf-8' codec can't
    decode byte 0xe9 ...)", where ffmpeg copies the bytes as they are."""
    src = tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10", "-t", "0.4",
                    "-c:v", "libx264", "-metadata", b"title=caf\xe9", str(src)], check=True)  # fmt: skip
    ours = tmp_path / "out.mkv"
    chunks = ["--chunk-seconds", "0.2"] if chunked else []
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights), *chunks], capsys)
    assert code == 0, err
    assert b"caf\xe9" in ours.read_bytes() and probe(ours)["frames"] == 4


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mov", ".m4v"])
def test_cover_art_the_output_cannot_hold_is_said_left_out(tmp_path, tiny_weights, capsys, suffix):
    """MOV's muxer writes no cover (FFmpeg 8), and the iPod kind refuses a PNG or JPEG one: both were dropped unsaid."""
    src, ours = rich_clip(tmp_path / "in.mp4"), tmp_path / f"ours{suffix}"
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    (left_out,) = [line for line in err.splitlines() if line.startswith("left out")]
    assert "cover art" in left_out
    with av.open(str(ours)) as out:
        assert not [s for s in out.streams.video if s.disposition & Disposition.attached_pic]


def telemetry_clip(path: Path) -> Path:
    """An MP4 with a data track as a GoPro writes its telemetry (gpmd): a packet every other frame."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        data = out.add_data_stream(codec_name="bin_data")
        data.codec_tag, data.time_base = "gpmd", Fraction(1, 1000)
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), i * 40, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
            if i % 2 == 0:
                packet = av.Packet(bytes([i]) * 64)
                packet.stream, packet.pts, packet.dts, packet.duration = data, i * 100, i * 100, 200
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_data_track_is_copied_not_taken_for_chapters(tmp_path, tiny_weights, capsys, suffix):
    """Every data track in an MP4 without a codec was taken for its chapter track, and dropped without a word: a
    GoPro's telemetry. The chapter track itself is still made again from the chapters (test above)."""
    src, ours = telemetry_clip(tmp_path / "in.mp4"), tmp_path / f"ours{suffix}"
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    show = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_tag_string", "-of", "csv=p=0"]
    assert subprocess.run([*show, str(ours)], capture_output=True, text=True).stdout.split() == [
        "video,avc1", "data,gpmd"]  # fmt: skip
    with av.open(str(src)) as before, av.open(str(ours)) as after:
        sent = [bytes(p) for p in before.demux(before.streams[1]) if p.size]
        assert [bytes(p) for p in after.demux(after.streams[1]) if p.size] == sent and len(sent) == 3


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_a_timecode_track_is_made_again_from_the_videos_timecode(tmp_path, tiny_weights, capsys, suffix):
    """A tmcd track is a data track without a codec too, but not one to copy: its timecode is carried as the
    video's tag, and the muxer makes its own track of it (copied as well, the muxer fails the run: "encoding
    failed (Invalid argument)")."""
    src, ours = tmp_path / "in.mov", tmp_path / f"ours{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=25:d=0.2", "-c:v", "libx264",
                    "-timecode", "01:02:03:04", str(src)], check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(ours), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    show = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:stream_tags=timecode", "-of", "csv=p=0"]
    assert subprocess.run([*show, str(ours)], capture_output=True, text=True).stdout.split() == [
        "video,01:02:03:04", "data,01:02:03:04"]  # fmt: skip


@needs_ffmpeg
def test_a_timecode_the_output_cannot_hold_is_said_left_out(tmp_path, tiny_weights, capsys):
    """Into MPEG-TS (or AVI, .m4v) a MOV's timecode went without a word, where Matroska and MP4 keep it."""
    src = tmp_path / "in.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=25:d=0.2", "-c:v", "libx264",
                    "-timecode", "01:02:03:04", str(src)], check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(tmp_path / "out.ts"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "left out, as mpegts cannot hold them: the timecode (01:02:03:04)" in err, err
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "left out" not in err, err


@needs_ffmpeg
@pytest.mark.parametrize(("encoder", "codec"), [("libmp3lame", "mp3"), ("dca", "dts")])
def test_audio_mpeg_ts_holds_is_copied_into_it(tmp_path, tiny_weights, capsys, encoder, codec):
    """MP3 and DTS into MPEG-TS were re-encoded to AAC, "mpegts cannot hold mp3": the check read the decoder's name
    (mp3float, dca), not the codec's; ffmpeg -map 0 -c copy copies them."""
    src = tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=25:d=0.2", "-f", "lavfi", "-i",
                    "sine=sample_rate=48000:d=0.2", "-c:v", "libx264", "-c:a", encoder, "-strict", "-2", str(src)],
                   check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(tmp_path / "out.ts"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "re-encoded" not in err, err
    with av.open(str(tmp_path / "out.ts")) as out:
        assert [s.codec_context.codec.canonical_name for s in out.streams.audio] == [codec]


@needs_ffmpeg
def test_the_video_names_its_own_encoder(tmp_path, tiny_weights, capsys):
    """The input's tag was copied: an H.264 output said it was coded by mpeg4."""
    src = tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=25:d=0.08", "-c:v", "mpeg4",
                    str(src)], check=True)  # fmt: skip
    with av.open(str(src)) as before:
        assert before.streams.video[0].metadata["ENCODER"].endswith(" mpeg4")
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert out.streams.video[0].metadata["ENCODER"].endswith(" libx264")


@needs_ffmpeg
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_the_streams_keep_their_order(tmp_path, tiny_weights, capsys, suffix, chunked):
    """-map 0 keeps the input's order: the enhanced video had been moved to the front, so the audio of an audio-first
    file became stream 1 (a second pass's --stream 1, or a script's numbers, met another stream)."""
    src = tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.4", "-f", "lavfi", "-i",
                    "testsrc2=s=32x24:r=10:d=0.4", "-f", "lavfi", "-i", "sine=d=0.4:f=880", "-map", "0:a", "-map",
                    "1:v", "-map", "2:a", "-c:v", "libx264", "-c:a", "aac", str(src)], check=True)  # fmt: skip
    out = tmp_path / f"out{suffix}"
    args = [str(src), str(out), "--weights", str(tiny_weights)] + ["--chunk-seconds", "0.2"] * chunked
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert probe(out)["streams"] == probe(src)["streams"] == ["audio", "video", "audio"]
    assert probe(out)["size"] == (64, 48) and probe(out)["frames"] == 4


def frame_hashes(path: Path, stream: int) -> list[str]:
    """The decoded pictures of one of a file's streams, as framemd5 hashes them (not their times)."""
    made = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "framemd5", "-"],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in made.splitlines() if not line.startswith("#")]


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".avi", ".mpg"])
def test_a_second_h264_from_mp4_is_copied_in_start_codes_where_the_muxer_takes_them(
    tmp_path, tiny_weights, capsys, suffix
):
    """AVI's muxer refused MP4's H.264 (each NAL unit after its length): the run failed at its end ("encoding
    failed"); MPEG-PS wrote it as it was, read back as MP3. And in AVI it counted time in MP4's 1/600, its header
    saying 240 fps, 295 of its 300 frames empty."""
    src = tmp_path / "in.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=10:d=0.5", "-f", "lavfi", "-i",
                    "testsrc=s=32x24:r=10:d=0.5", "-map", "0", "-map", "1", "-c:v", "libx264", str(src)],
                   check=True)  # fmt: skip
    out = tmp_path / f"out{suffix}"
    code, _, err = run_cli([str(src), str(out), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    with av.open(str(out)) as container:
        second = container.streams.video[1]
        assert second.codec_context.name == "h264" and (suffix != ".avi" or second.frames == 5)
    assert frame_hashes(out, 1) == frame_hashes(src, 1) and len(frame_hashes(src, 1)) == 5


def test_raw_video_out_is_the_frames_alone_as_ffmpeg_writes_it(tmp_path, tiny_weights, capsys):
    """out.yuv held H.264 with the AAC packets spliced in between (the rawvideo muxer takes any stream), said
    nowhere: a file no tool reads as the frames it names."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, pts_ms=[0, 40, 80])
    code, _, err = run_cli([str(src), str(tmp_path / "out.yuv"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "left out, as rawvideo cannot hold them: audio stream #1 (aac)" in err.splitlines(), err
    assert (tmp_path / "out.yuv").stat().st_size == 3 * 64 * 48 * 3 // 2  # three 4:2:0 frames, nothing else


@needs_ffmpeg
def test_what_a_container_cannot_hold_is_encoded_again_or_named_in_one_line(tmp_path, tiny_weights, capsys):
    """MP4 holds no SubRip: its cues become MP4's timed text, each at its time, with its tags; a font
    it cannot hold at all."""
    src, dst = rich_clip(tmp_path / "in.mkv"), tmp_path / "out.mp4"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    [line] = [line for line in err.splitlines() if line.startswith("left out")]
    assert line == "left out, as mp4 cannot hold them: attachments (font.ttf)"
    assert "subtitle stream #2 (subrip) re-encoded to mov_text: mp4 cannot hold subrip" in err.splitlines()
    assert cues(dst) == cues(src) == [(0.0, 0.2, b"first line"), (0.3, 0.2, b"second")]
    with av.open(str(dst)) as out:
        assert len(out.chapters()) == 2
        [text] = out.streams.subtitles
        assert text.codec_context.name == "mov_text" and text.metadata.get("language") == "eng"
        assert text.disposition & Disposition.forced


@needs_ffmpeg
@pytest.mark.parametrize(("suffix", "kind"), [("mkv", "matroska"), ("mp4", "mp4")])
def test_a_dvds_navigation_stream_is_left_out_not_the_run(tmp_path, tiny_weights, capsys, suffix, kind):
    """A VOB's first stream holds the DVD's navigation packets: data without a codec context, which
    Matroska and MP4 refuse only when their header is written. The run goes on without it."""
    src = tmp_path / "title.vob"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
                    "sine=sample_rate=48000", "-t", "0.4", "-c:v", "mpeg2video", "-c:a", "ac3", "-f", "dvd", str(src)],
                   check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(tmp_path / f"out.{suffix}"), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert f"left out, as {kind} cannot hold them: data stream #0 (dvd_nav_packet)" in err.splitlines()
    written = probe(tmp_path / f"out.{suffix}")
    assert written["streams"] == ["video", "audio"] and written["codecs"] == ["h264", "ac3"]


def timing(path: Path) -> list[str]:
    """Each stream's start time and the file's, and its duration, as ffprobe gives them."""
    entries = "stream=start_time:format=start_time,duration"
    command = ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "csv=p=0", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()


@needs_ffmpeg
@pytest.mark.parametrize("chunked", [False, True])
def test_an_input_that_starts_late_gives_an_output_from_0_as_ffmpeg_does(tmp_path, tiny_weights, capsys, chunked):
    """A broadcast recording's clock starts hours in: copied as it was, MP4 and Matroska files would
    open with hours of nothing. Every stream starts as far from 0 as from the input's start, as
    `ffmpeg -map 0 -c copy` writes it (audio 21 ms ahead of the video here, AAC's priming)."""
    src = tmp_path / "late.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i",
                    "sine=sample_rate=48000", "-t", "0.4", "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset",
                    "36000", str(src)], check=True)  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(tmp_path / "ff.mkv")],
                   check=True)  # fmt: skip
    assert timing(src)[0] == "36000.000000"
    chunks = ["--chunk-seconds", "0.1"] if chunked else []
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights), *chunks], capsys)
    assert code == 0, err
    written = timing(tmp_path / "out.mkv")
    assert written == timing(tmp_path / "ff.mkv")
    assert float(written[0]) < 0.1 and float(written[-1].split(",")[1]) < 1  # the video's start, the file's length


def packet_times(path: Path, stream: str) -> list[float]:
    command = ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time", "-of",
               "csv=p=0", str(path)]  # fmt: skip
    return [float(t) for t in subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()]


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_sound_that_starts_after_the_video_keeps_its_times_as_ffmpeg_does(tmp_path, tiny_weights, capsys, suffix):
    """Sound 50 ms behind the video, from an MPEG-TS: its first packet, muxed before any video's, wrote the header,
    which set the stream's time base (Matroska's 1/1000 for 1/90000); its time, read in the new one, held every
    packet after it at 1.4 s (a 2 s file lasted 43 s into Matroska, its sound dumb then all at once)."""
    src = tmp_path / "late.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10", "-itsoffset", "0.05",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1", "-c:v", "libx264", "-c:a", "mp2",
                    str(src)], check=True)  # fmt: skip
    dst, copied = tmp_path / f"out{suffix}", tmp_path / f"ff{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(copied)], check=True)
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    ours, theirs = packet_times(dst, "a"), packet_times(copied, "a")
    assert len(ours) == len(theirs) and max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 0.002


def test_stream_chooses_what_to_enhance(tmp_path, tiny_weights, capsys):
    src = rich_clip(tmp_path / "in.mkv")  # 0 video, 1 audio, 2 subtitles, 3 the cover (read back as video), 4 a font
    code, _, err = run_cli([str(src), str(tmp_path / "cover.mkv"), "--stream", "3", "--weights", str(tiny_weights)],
                           capsys)  # fmt: skip
    assert code == 0, err
    with av.open(str(tmp_path / "cover.mkv")) as out:  # in the input's place, as -map 0 keeps it
        enhanced = out.streams[3]
        assert (enhanced.type, enhanced.width, enhanced.height) == ("video", 32, 32)
        assert sum(1 for p in out.demux(enhanced) if p.size) == 1
    code, _, err = run_cli([str(src), str(tmp_path / "x.mkv"), "--stream", "1", "--weights", str(tiny_weights)], capsys)
    assert code == 1 and err.strip() == "error: in.mkv: stream 1 is not a video stream (video streams: 0, 3)"
