"""Audio the output's container cannot hold is encoded again, in sync, not left out (issue #25 item 7)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.video.reencode import after_last
from tests.cli_helpers import run_cli
from tests.media import cues

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")


def film_with_sound(path: Path, audio_codec: str, rate: int) -> Path:
    """0.4 s of 64x48 video and 1 s of a stereo tone in `audio_codec` at `rate` Hz, made by ffmpeg."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.4",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration=1", "-c:v", "libx264",
                    "-ac", "2", "-c:a", audio_codec, str(path)], check=True)  # fmt: skip
    return path


def sound(path: Path) -> tuple[str, float, float]:
    """-> (the audio's codec, its first decoded sample's time, the seconds of samples decoded)."""
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
        return (
            c.streams.audio[0].codec_context.name,
            float(frames[0].time),
            sum(f.samples for f in frames) / frames[0].rate,
        )


@pytest.mark.parametrize(
    ("audio_codec", "rate", "suffix", "expected"),
    [
        ("aac", 44100, ".webm", "opus"),
        ("flac", 48000, ".mov", "aac"),
        ("pcm_s16le", 48000, ".mp4", "aac"),
        ("pcm_s16le", 44100, ".flv", "aac"),  # FFmpeg 8's FLV muxer aborted the process at its header
        ("flac", 48000, ".ts", "aac"),  # MPEG-TS took FLAC or PCM as private data: read back as no sound at all
        ("pcm_s16le", 48000, ".ts", "aac"),
    ],
)  # WebM refuses AAC at once; MOV FLAC only at its header, MP4 stereo PCM (its channels unnamed) at its trailer
def test_audio_the_container_cannot_hold_is_reencoded_in_sync(tmp_path, tiny_weights, capsys, audio_codec, rate,
                                                              suffix, expected):  # fmt: skip
    src, dst = film_with_sound(tmp_path / "in.mkv", audio_codec, rate), tmp_path / f"out{suffix}"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    codec, start, seconds = sound(dst)
    assert codec == expected
    with av.open(str(dst)) as c:
        shown = float(next(c.decode(video=0)).time)  # MPEG-TS and FLV time it after x264's B-frame delay
    # Opus's pre-skip is 6.5 ms, shown as the time before 0 that it is; MPEG-TS and FLV show AAC's priming (21 ms)
    listless = suffix in (".ts", ".flv")  # no edit list to hide the priming and the delay
    assert abs(start - (shown if listless else 0)) < (0.025 if listless else 0.01)
    assert seconds == pytest.approx(sound(src)[2], abs=0.05 if listless else 0.03)  # an encoder frame of padding (and
    # where no edit list hides it, the priming)
    lines = err.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("in.mkv: 64x48"))
    kind = {".ts": "mpegts"}.get(suffix, suffix[1:])  # the muxer's name
    assert (
        lines[header + 1]
        == f"audio stream #1 ({audio_codec}) re-encoded to {expected}: {kind} cannot hold {audio_codec}"
    )


def test_a_dvds_vob_gets_its_sound_as_mpeg_ps_does(tmp_path, tiny_weights, capsys):
    """FFmpeg writes .vob with its svcd muxer, whose sound had no codec named: AAC was left out, where .mpg (MPEG-PS
    too) had it re-encoded to MP2, a start as far from the picture's as ffmpeg's own MP2 has it."""
    src = film_with_sound(tmp_path / "in.mkv", "aac", 48000)
    starts = {}
    for suffix in (".vob", ".mpg"):
        code, _, err = run_cli([str(src), str(tmp_path / f"out{suffix}"), "--weights", str(tiny_weights)], capsys)
        assert code == 0 and "re-encoded to mp2" in err and "left out" not in err, err
        codec, starts[suffix], seconds = sound(tmp_path / f"out{suffix}")
        assert codec == "mp2" and seconds == pytest.approx(1, abs=0.05)  # (encoder frames of padding)
    assert starts[".vob"] == starts[".mpg"]


def test_audio_timed_a_tick_a_frame_is_reencoded_in_sync(tmp_path, tiny_weights, capsys):
    """AVI times MP3 one tick per 1152 samples; AAC's 1024-sample frames, timed by rescaling, fell
    two on a tick and the muxer refused the run (iPod's M4V holds no MP3)."""
    src, dst = film_with_sound(tmp_path / "in.avi", "libmp3lame", 44100), tmp_path / "out.m4v"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert "audio stream #1 (mp3) re-encoded to aac: ipod cannot hold mp3" in err
    codec, start, seconds = sound(dst)
    assert codec == "aac" and abs(start) < 0.01
    assert seconds == pytest.approx(sound(src)[2], abs=0.03)


@pytest.mark.parametrize(
    ("audio_codec", "src", "dst"),
    [("aac", "in.mkv", "out.mp4"), ("libmp3lame", "in.avi", "out.mkv"), ("libmp3lame", "in.avi", "out.mp4")],
)  # MP3: its decoder (mp3float) has no encoder of its name, and a copy needs none
def test_audio_the_container_holds_is_copied_untouched(tmp_path, tiny_weights, capsys, audio_codec, src, dst):
    src, dst = film_with_sound(tmp_path / src, audio_codec, 44100), tmp_path / dst
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    with av.open(str(src)) as before, av.open(str(dst)) as after:
        assert [bytes(p) for p in before.demux(audio=0) if p.size] == [bytes(p) for p in after.demux(audio=0) if p.size]
    assert "re-encoded" not in err


def test_a_chunked_run_reencodes_as_a_whole_run_does(tmp_path, tiny_weights, capsys):
    """The join, not the sink, writes a chunked run's audio: the same re-encoding there."""
    src, dst = film_with_sound(tmp_path / "in.mkv", "aac", 44100), tmp_path / "out.webm"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights), "--chunk-seconds", "0.2"], capsys)
    assert code == 0, err
    codec, start, seconds = sound(dst)
    assert codec == "opus" and abs(start) < 0.01
    assert seconds == pytest.approx(sound(src)[2], abs=0.03)
    assert "audio stream #1 (aac) re-encoded to opus: webm cannot hold aac" in err


@pytest.mark.parametrize(("suffix", "kind", "expected"), [(".mkv", "matroska", "subrip"), (".webm", "webm", "webvtt")])
def test_text_subtitles_become_the_text_the_container_holds(tmp_path, tiny_weights, capsys, suffix, kind, expected):
    """A phone's or a shop's MP4 carries its subtitles as MP4 timed text, which Matroska and WebM cannot
    hold: each cue goes over as SubRip or WebVTT, at its time (where ffmpeg -c copy would fail)."""
    (tmp_path / "cues.srt").write_text("1\n00:00:00,100 --> 00:00:00,400\nHello <i>there</i>\n\n"
                                       "2\n00:00:00,500 --> 00:00:00,800\nSecond\n")  # fmt: skip
    src, dst = tmp_path / "in.mp4", tmp_path / f"out{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1", "-i",
                    str(tmp_path / "cues.srt"), "-c:v", "libx264", "-c:s", "mov_text", str(src)],
                   check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    assert f"subtitle stream #1 (mov_text) re-encoded to {expected}: {kind} cannot hold mov_text" in err.splitlines()
    with av.open(str(dst)) as out:
        assert out.streams.subtitles[0].codec_context.codec.canonical_name == expected
    assert [(start, length) for start, length, _ in cues(dst)] == [(0.1, 0.3), (0.5, 0.3)]
    styled = [re.sub(rb"{[^}]*}", b"", text) for _, _, text in cues(dst)]  # WebVTT closes the italics itself
    assert styled == [b"Hello there", b"Second"] and b"{\\i1}" in cues(dst)[0][2]


def test_cues_back_to_back_go_into_mp4_without_an_empty_sample_between(tmp_path, tiny_weights, capsys):
    """MP4's muxer ends a timed-text cue with an empty sample where any packet (of any stream, in its own time base)
    comes after the cue's end in the text track's: in 1/1000 a video packet did so at once, and cues back to back got
    an empty sample of no length between them. Timed in microseconds, as ffmpeg times them, they do not."""
    (tmp_path / "cues.srt").write_text(
        "1\n00:00:00,000 --> 00:00:00,300\nHello\n\n2\n00:00:00,300 --> 00:00:00,450\nWorld\n"
    )
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.48", "-i",
                    str(tmp_path / "cues.srt"), "-c:v", "libx264", "-c:s", "srt", str(src)], check=True)  # fmt: skip
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0, err
    with av.open(str(dst)) as out:
        text = out.streams.subtitles[0]
        samples = [
            (float(p.pts * p.time_base), float((p.duration or 0) * p.time_base)) for p in out.demux(text) if p.size
        ]
    assert samples == [(0.0, 0.3), (0.3, 0.15)], samples


@pytest.mark.parametrize(
    ("pts", "dts", "last", "strict", "moved"),
    [
        (96_000, 96_000, 1500, True, (2000, 2000)),  # in order: rescaled as the muxer would (1/48000 to 1/1000)
        (48_000, 48_000, 1500, True, (1501, 1501)),  # back in time (damage): after the last, as ffmpeg moves it
        (48_000, 48_000, 1500, False, (1500, 1500)),  # Matroska and Ogg take the last's time again
        (24_000, 72_000, 1500, True, (500, 1501)),  # shown before it was decoded: its presentation time left
        (24, 24, None, True, (1, 1)),  # 0.5 ms: halves away from zero, as av_rescale_q rounds
    ],
)
def test_a_copied_packets_decode_time_is_kept_after_the_last(pts, dts, last, strict, moved):
    """A damaged MKV's audio went back in time and the muxer refused it ("non monotonically increasing dts"),
    ending the run with no output where ffmpeg kept all 193 frames: moved as ffmpeg's muxing moves it."""
    packet = av.Packet(b"x")
    packet.pts, packet.dts, packet.time_base = pts, dts, Fraction(1, 48_000)
    after_last(packet, Fraction(1, 1000), None if last is None else Fraction(last, 1000), strict)  # (in seconds)
    assert (packet.pts, packet.dts, packet.time_base) == (*moved, Fraction(1, 1000))


def tones(path: Path, layout: str, codec: str, rate: int = 48000) -> Path:
    """0.4 s of video and a tone per channel of `layout` (200 Hz, 300 Hz, ... in FFmpeg's channel order)."""
    count = av.AudioLayout(layout).nb_channels
    sines = [arg for n in range(count) for arg in ("-f", "lavfi", "-i", f"sine=f={200 + 100 * n}:r={rate}:d=0.4")]
    merged = "".join(f"[{n + 1}]" for n in range(count)) + f"amerge=inputs={count},aformat=channel_layouts={layout}[a]"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.4", *sines,
                    "-filter_complex", merged, "-map", "0", "-map", "[a]", "-c:v", "libx264", "-c:a", codec,
                    str(path)], check=True)  # fmt: skip
    return path


def pitches(path: Path, layout: str) -> list[int]:
    """Each channel's loudest frequency (Hz, to 25), the channels put in `layout` by name by ffmpeg."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-af", f"aformat=channel_layouts={layout}", "-f",
                          "f32le", "-"], check=True, capture_output=True).stdout  # fmt: skip
    samples = np.frombuffer(raw, np.float32).reshape(-1, av.AudioLayout(layout).nb_channels)[2400:16800]
    return [round(np.argmax(np.abs(np.fft.rfft(channel))) * 48000 / len(channel) / 25) * 25 for channel in samples.T]


def test_pcm_in_a_custom_channel_order_is_reencoded_every_channel_kept(tmp_path, tiny_weights):
    """A MOV's 7.1 PCM as an older FFmpeg wrote it is read by PyAV's FFmpeg in a custom order (side after back):
    PyAV 18 frees such a layout's channel map twice, and the run ended in "double free or corruption" (exit 134,
    nothing written). A process of its own. (Which channel is which is the reading FFmpeg's word: each tone is
    kept, in one channel each; reorder's test below says they go where their names say.)"""
    src, dst = tones(tmp_path / "in.mov", "7.1", "pcm_s16le"), tmp_path / "out.webm"
    args = [str(src), str(dst), "--weights", str(tiny_weights), "-q"]
    run = subprocess.run([sys.executable, "-m", "stream", *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    heard = pitches(dst, "7.1")
    assert sorted(heard[:3] + heard[4:]) == [200, 300, 400, 600, 700, 800, 900]  # (the LFE's is band-limited)


def test_a_custom_orders_samples_go_where_their_channels_names_say():
    """FL FR FC LFE SL SR BL BR (a MOV's 7.1) into 7.1, FFmpeg's FL FR FC LFE BL BR SL SR, by name."""
    from stream.video.channels import reorder

    names = ("FL", "FR", "FC", "LFE", "SL", "SR", "BL", "BR")
    order = (0, 1, 2, 3, 6, 7, 4, 5)  # read_layout's: the input's channel for each of 7.1's
    samples = np.arange(8, dtype=np.int16)[None, :].repeat(16, axis=0)  # 16 samples; channel i holds i
    packed = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="7.1")  # (the input's: a map)
    packed.sample_rate, packed.pts, packed.time_base = 48000, 960, Fraction(1, 48000)
    out = reorder(packed, order, "7.1")
    assert [names[i] for i in out.to_ndarray().reshape(-1, 8)[0]] == ["FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"]
    assert (out.sample_rate, out.pts, out.time_base, out.samples) == (48000, 960, Fraction(1, 48000), 16)


@pytest.mark.parametrize(
    ("layout", "codec", "suffix", "said", "kept"),
    [
        ("5.1(side)", "ac3", ".webm", "re-encoded to opus in 5.1: webm cannot hold ac3", 6),  # AC-3's and DTS's 5.1
        ("5.1", "eac3", ".mpg", "re-encoded to mp2 in stereo: mpeg cannot hold eac3", 2),  # MP2: two at most
    ],
)
def test_surround_an_encoder_does_not_take_is_encoded_in_the_nearest_it_does(
    tmp_path, tiny_weights, capsys, layout, codec, suffix, said, kept
):
    """Opus takes 5.1 but not 5.1(side), MP2 no more than stereo: the whole track was left out, said as "webm
    cannot hold them: audio stream #1 (ac3)"."""
    src, dst = tones(tmp_path / "in.mkv", layout, codec), tmp_path / f"out{suffix}"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and f"audio stream #1 ({codec}) {said}" in err.splitlines(), err
    with av.open(str(dst)) as c:
        assert c.streams.audio[0].codec_context.channels == kept


def test_a_rate_the_encoder_lacks_becomes_the_nearest_it_has_said_and_no_encoder_tag_follows(
    tmp_path, tiny_weights, capsys
):
    """192 kHz PCM into MP4 became 48 kHz AAC unsaid (AAC goes to 96); and the input's ENCODER tag (its PCM's)
    was carried onto the new track."""
    src = film_with_sound(tmp_path / "in.mkv", "pcm_s32le", 192000)
    code, _, err = run_cli([str(src), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights)], capsys)
    said = "audio stream #1 (pcm_s32le) re-encoded to aac at 96000 Hz (the input's 192000): mp4 cannot hold pcm_s32le"
    assert code == 0 and said in err.splitlines(), err
    assert run_cli([str(src), str(tmp_path / "out.webm"), "--weights", str(tiny_weights)], capsys)[0] == 0
    with av.open(str(src)) as before, av.open(str(tmp_path / "out.webm")) as after:
        assert "ENCODER" in before.streams.audio[0].metadata  # what was not to follow
        assert "encoder" not in {k.lower() for k in after.streams.audio[0].metadata}
