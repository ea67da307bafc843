"""Chunked runs (--chunk-seconds): cut on keyframes, joined frame-exactly, resumed after a kill."""

import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from rich.console import Console

from stream.chunked.chunks import Chunk, cut, video_packets
from stream.chunked.manifest import Manifest
from stream.chunked.run import ChunkProgress, plan, work_folder
from stream.chunked.workers import worker_device
from stream.cli import with_ray_address
from stream.errors import UserError
from tests.cli_helpers import run_cli
from tests.media import make_clip, probe
from tests.video.test_pipeline import damaged_copy

VFR_MS = [40 * i + 7 * (i % 3) for i in range(30)]  # uneven gaps
OPEN_GOPS = {"x264-params": "keyint=6:min-keyint=6:scenecut=0:bframes=2:open-gop=1"}  # B-frames shown before keyframes


def decoded(path) -> tuple[list[int], list[np.ndarray], list[bytes]]:
    """(video times in ms, pictures, audio packets) of a file."""
    with av.open(str(path)) as c:
        frames = [(round(f.time * 1000), f.to_ndarray(format="yuv420p")) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return [pts for pts, _ in frames], [picture for _, picture in frames], audio


def enhance(capsys, src, dst, weights, *args: str) -> str:
    code, _, err = run_cli([str(src), str(dst), "--weights", str(weights), "--codec", "ffv1", "-y", *args], capsys)
    assert code == 0, err
    return err


def test_chunks_start_at_keyframes_and_hold_each_frame_once_by_presentation_time():
    # decode order: keyframe 0, P 3, B 1, B 2, keyframe 6 (shown after 4, 5, stored after it), B 4, B 5, P 9, B 7, B 8
    packets = [(0, True), (3, False), (1, False), (2, False), (6, True), (4, False), (5, False), (9, False),
               (7, False), (8, False)]  # fmt: skip
    assert cut(packets, Fraction(1), 5, "x") == [Chunk(0, (0, 1, 2, 3, 4, 5), None), Chunk(6, (6, 7, 8, 9), 0)]
    assert cut(packets, Fraction(1), 7, "x") == [Chunk(0, tuple(range(10)), None)]  # no keyframe far enough: one chunk


def test_a_chunked_run_equals_a_single_run_frame_for_frame(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)  # VFR, AAC, B-frames, open GOPs
    packets = video_packets(src, 0)
    assert any(not key and pts < prev for (prev, _), (pts, key) in itertools.pairwise(packets)), "no B-frames"
    enhance(capsys, src, tmp_path / "single.mkv", tiny_weights)
    err = enhance(capsys, src, tmp_path / "chunked.mkv", tiny_weights, "--chunk-seconds", "0.3", "--strict")
    assert "3 chunks" in err and "damaged" not in err  # a chunk's warm-up before its keyframe (open GOPs) is no damage
    single, chunked, original = decoded(tmp_path / "single.mkv"), decoded(tmp_path / "chunked.mkv"), decoded(src)
    assert chunked[0] == single[0] and len(chunked[0]) == len(VFR_MS)  # every frame, at its own time
    assert np.diff(chunked[0]).tolist() == np.diff(original[0]).tolist()  # (Matroska shifts all by AAC's priming)
    assert all(np.array_equal(a, b) for a, b in zip(chunked[1], single[1], strict=True))
    assert chunked[2] == original[2]  # the input's audio, packet for packet
    rates = []
    for name in ("single.mkv", "chunked.mkv"):
        with av.open(str(tmp_path / name)) as c:
            rates.append(c.streams.video[0].average_rate)
    assert rates[0] == rates[1]  # (not the segments' time base)
    assert not work_folder(tmp_path / "chunked.mkv").exists()


def test_an_output_name_near_the_longest_takes_a_work_folder_of_a_shorter_one(tmp_path, tiny_weights, capsys):
    """A 248-byte name (which ffmpeg writes) made ".{name}.chunks", too long a name: the run failed."""
    src = make_clip(tmp_path / "in.mp4", pts_ms=[40 * i for i in range(6)], audio=False, encoder=OPEN_GOPS)
    dst = tmp_path / f"{'b' * 248}.mkv"
    enhance(capsys, src, dst, tiny_weights, "--chunk-seconds", "0.1")
    assert probe(dst)["frames"] == 6 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_what_the_output_drops_or_encodes_again_is_said_before_the_chunks_run(tmp_path, tiny_weights, capsys):
    """The join said it, once every chunk was done: hours on, on a CPU, the user learnt that the subtitles had
    gone another way (and of a stream the output could not hold, only then)."""
    src = make_clip(tmp_path / "in.mkv", pts_ms=[40 * i for i in range(12)], subtitles=True, encoder=OPEN_GOPS)
    err = enhance(capsys, src, tmp_path / "out.mp4", tiny_weights, "--chunk-seconds", "0.2")
    lines = err.splitlines()
    said = [n for n, line in enumerate(lines) if "(subrip) re-encoded to mov_text: mp4 cannot hold subrip" in line]
    assert len(said) == 1 and said[0] < next(n for n, line in enumerate(lines) if line.startswith("chunk 1 of")), err


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
@pytest.mark.parametrize(("container", "offset"), [("mkv", "0.3"), ("mp4", "0")])
def test_what_comes_before_the_first_picture_is_joined_too(tmp_path, tiny_weights, capsys, container, offset):
    """Sound 0.3 s before the picture, or ffmpeg's AAC priming packet in MP4 (at -1024): a chunked run read the other
    streams after a seek to 0, which landed on the video's first keyframe, and lost what came before it."""
    src = tmp_path / f"in.{container}"
    video = ["-itsoffset", offset, "-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=2"]
    coding = ["-c:v", "libx264", "-bf", "0", "-g", "10", "-c:a", "aac"]  # no B-frames: the video's first dts is 0
    subprocess.run(["ffmpeg", "-v", "error", *video, "-f", "lavfi", "-i", "sine=d=2", *coding, str(src)], check=True)
    enhance(capsys, src, tmp_path / "chunked.mkv", tiny_weights, "--chunk-seconds", "1")
    assert decoded(tmp_path / "chunked.mkv")[2] == decoded(src)[2]  # the input's audio, packet for packet


@pytest.mark.parametrize("container", ["ts", "mkv"])
def test_inputs_that_seek_without_an_index_lose_no_frame(tmp_path, tiny_weights, capsys, container):
    src = make_clip(tmp_path / f"in.{container}", pts_ms=VFR_MS, encoder=OPEN_GOPS)  # MPEG-TS: a search on time
    enhance(capsys, src, tmp_path / "single.mkv", tiny_weights)
    enhance(capsys, src, tmp_path / "chunked.mkv", tiny_weights, "--chunk-seconds", "0.3")
    single, chunked = decoded(tmp_path / "single.mkv"), decoded(tmp_path / "chunked.mkv")
    assert chunked[0] == single[0] and len(chunked[0]) == len(VFR_MS)
    assert all(np.array_equal(a, b) for a, b in zip(chunked[1], single[1], strict=True))


def test_the_default_encoder_with_b_frames_joins_into_mp4(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    for name, args in (("single.mp4", []), ("chunked.mp4", ["--chunk-seconds", "0.3"])):
        code, _, err = run_cli([str(src), str(tmp_path / name), "--weights", str(tiny_weights), *args], capsys)
        assert code == 0, err
    single, chunked = decoded(tmp_path / "single.mp4"), decoded(tmp_path / "chunked.mp4")
    assert chunked[0] == single[0] and len(chunked[0]) == len(VFR_MS) and chunked[2] == single[2]
    with av.open(str(tmp_path / "chunked.mp4")) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc) == (1, 1, 1, 1)  # BT.709 kept


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_chunks_in_mp4_keep_times_that_are_no_whole_millisecond(tmp_path, tiny_weights, capsys):
    """At 15 fps in 1/15360 a chunk starts at 10240 ticks: its segment, delayed by an edit in the movie's 1/1000,
    began at 10230, every frame of it a millisecond early in the output."""
    src = tmp_path / "in.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=32x24:r=15:d=2", "-c:v", "libx264",
                    "-g", "10", str(src)], check=True)  # fmt: skip
    for name, more in (("single.mp4", []), ("chunked.mp4", ["--chunk-seconds", "0.5"])):
        code, _, err = run_cli([str(src), str(tmp_path / name), "--weights", str(tiny_weights), *more], capsys)
        assert code == 0, err
    times = []
    for name in ("in.mp4", "single.mp4", "chunked.mp4"):
        with av.open(str(tmp_path / name)) as c:
            times.append(sorted(float(p.pts * p.time_base) for p in c.demux(video=0) if p.size))
    assert times[2] == times[1] == times[0] and len(times[0]) == 30


def test_chunks_join_into_avi_a_frame_a_tick_as_a_whole_run_writes_it(tmp_path, tiny_weights, capsys):
    """AVI counts time in frames: joined in the segments' time base, its header said 1000 fps, and 39 empty frames
    followed each of the 25 a second."""
    src = make_clip(tmp_path / "in.mp4", pts_ms=[40 * i for i in range(15)], audio=False)
    timing = []
    for name, more in (("single.avi", []), ("chunked.avi", ["--chunk-seconds", "0.2"])):
        code, _, err = run_cli([str(src), str(tmp_path / name), "--weights", str(tiny_weights), *more], capsys)
        assert code == 0, err
        with av.open(str(tmp_path / name)) as c:
            video = c.streams.video[0]
            timing.append((video.time_base, video.frames, len([p for p in c.demux(video) if p.size])))
    assert timing[1] == timing[0] == (Fraction(1, 25), 15, 15)


def test_workers_write_what_one_process_writes(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "one.mkv", tiny_weights, "--chunk-seconds", "0.3")
    err = enhance(capsys, src, tmp_path / "two.mkv", tiny_weights, "--chunk-seconds", "0.3", "--workers", "2")
    assert sorted(line.split()[1] for line in err.splitlines() if " of 3 done" in line) == ["1", "2", "3"]
    one, two = decoded(tmp_path / "one.mkv"), decoded(tmp_path / "two.mkv")
    assert one[0] == two[0] and one[2] == two[2]
    assert all(np.array_equal(a, b) for a, b in zip(one[1], two[1], strict=True))


def test_a_single_gop_is_one_chunk(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS[:8])  # x264's default GOP: one keyframe
    err = enhance(capsys, src, tmp_path / "out.mkv", tiny_weights, "--chunk-seconds", "0.1")
    assert "1 chunk, 0 done" in err and "(8 frames from 1 chunk;" in err  # was "1 chunks"
    assert len(decoded(tmp_path / "out.mkv")[0]) == 8


def run_to_first_chunk(src, dst, weights, *args: str) -> tuple[subprocess.Popen, bytes]:
    """A chunked run in a child process, once it says its first chunk is done (recorded in the manifest by then);
    what it said so far."""
    proc = subprocess.Popen([sys.executable, "-m", "stream", str(src), str(dst), "--weights", str(weights),
                             "--codec", "ffv1", "--chunk-seconds", "0.3", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    said = b""
    while b"chunk 1 of 3 done" not in said:
        assert select.select([proc.stderr], [], [], 120)[0], "the run said nothing for 120 s"
        said += os.read(proc.stderr.fileno(), 4096)
        assert said or proc.poll() is None, "the run ended before its first chunk"
    return proc, said


def start_and_kill(
    src, dst, weights, *args: str, stop: signal.Signals = signal.SIGKILL
) -> tuple[subprocess.Popen, str]:
    """A chunked run, sent `stop` once it says its first chunk is done."""
    proc, said = run_to_first_chunk(src, dst, weights, *args)
    proc.send_signal(stop)
    _, rest = proc.communicate(timeout=120)
    return proc, (said + rest).decode()


def test_a_killed_run_resumes_to_the_output_an_uninterrupted_run_writes(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "whole.mkv", tiny_weights, "--chunk-seconds", "0.3")
    dst = tmp_path / "out.mkv"
    proc, _ = start_and_kill(src, dst, tiny_weights)
    assert proc.returncode == -signal.SIGKILL and not dst.exists()
    manifest = json.loads((work_folder(dst) / "manifest.json").read_text())
    assert manifest["done"] == [0]
    (work_folder(dst) / ".manifest.partial.json").write_text('{"input": {"si')  # a kill during the record's write
    log = tmp_path / "log.csv"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights), "--codec", "ffv1",
                            "--chunk-seconds", "0.3", "--resume", "--log", str(log)], capsys)  # fmt: skip
    assert code == 0, err
    assert "1 done" in err
    rows = log.read_text().splitlines()[1:]  # every frame's row, those of the first run's chunk too
    assert [int(row.split(",")[0]) for row in rows] == list(range(len(VFR_MS)))
    resumed, whole = decoded(dst), decoded(tmp_path / "whole.mkv")
    assert resumed[0] == whole[0] and len(resumed[0]) == len(VFR_MS) and resumed[2] == whole[2]
    assert all(np.array_equal(a, b) for a, b in zip(resumed[1], whole[1], strict=True))


def test_a_second_run_onto_an_output_being_made_is_refused_before_it_takes_a_chunk(tmp_path, tiny_weights, capsys):
    """A --resume while the first run went on took the same chunks: each broke the other's (a JSONDecodeError, a
    chunk's partial record renamed under the other) and neither wrote the output. A chunked run holds its output
    from the start now, as a whole run does."""
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    dst = tmp_path / "out.mkv"
    first, _ = run_to_first_chunk(src, dst, tiny_weights)
    first.send_signal(signal.SIGSTOP)  # between its chunks while the second run tries
    try:
        code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights), "--codec", "ffv1",
                                "--chunk-seconds", "0.3", "--resume"], capsys)  # fmt: skip
    finally:
        first.send_signal(signal.SIGCONT)
    said = first.communicate(timeout=120)[1].decode()
    assert (code, err) == (1, f"error: {dst}: another run is writing it now\n")
    assert first.returncode == 0 and len(decoded(dst)[0]) == len(VFR_MS), said


def test_a_chunk_whose_segment_was_damaged_since_is_done_again(tmp_path, tiny_weights, capsys):
    """A segment cut short after its chunk was recorded done failed every resume at the join ("unexpected
    InvalidDataError ... moov atom not found"), the work folder's only way out its removal."""
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    enhance(capsys, src, tmp_path / "whole.mkv", tiny_weights, "--chunk-seconds", "0.3")
    dst = tmp_path / "out.mkv"
    start_and_kill(src, dst, tiny_weights)
    (segment,) = work_folder(dst).glob("chunk_*.mp4")
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    err = enhance(capsys, src, dst, tiny_weights, "--chunk-seconds", "0.3", "--resume")
    assert f"chunk 1: its files in {work_folder(dst)} are gone or damaged; it is done again" in err.splitlines()
    resumed, whole = decoded(dst), decoded(tmp_path / "whole.mkv")
    assert resumed[0] == whole[0] and all(np.array_equal(a, b) for a, b in zip(resumed[1], whole[1], strict=True))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_keeps_the_chunks_done_and_says_how_to_go_on(tmp_path, tiny_weights, stop):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    dst = tmp_path / "out.mkv"
    proc, err = start_and_kill(src, dst, tiny_weights, "--batch", "1", stop=stop)
    assert proc.returncode == 128 + stop and "Traceback" not in err
    said = (
        f"interrupted ({stop.name}): 1 of 3 chunks done in {work_folder(dst)}; the same command with --resume goes on"
    )
    assert err.strip().splitlines()[-1].startswith(said), err  # one line: it was followed by "interrupted (SIGINT)"
    work = work_folder(dst)
    assert json.loads((work / "manifest.json").read_text())["done"][0] == 0
    assert not [p.name for p in work.iterdir() if "partial" in p.name]  # the chunk it stopped in is not kept


def test_a_left_run_needs_resume_and_the_same_input_and_options(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS)
    dst = tmp_path / "out.mkv"
    start_and_kill(src, dst, tiny_weights, "--device", "cpu")  # (a GPU's first chunk would make the rewrite moot)
    args = [str(src), str(dst), "--weights", str(tiny_weights), "--codec", "ffv1", "--chunk-seconds", "0.3",
            "--device", "cpu"]  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "pass --resume to go on" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli([*args, "--resume", "--crf", "10"], capsys)
    assert code == 1 and "was made with other options (crf)" in err
    record = work_folder(dst) / "manifest.json"
    manifest = json.loads(record.read_text())
    record.write_text(json.dumps(manifest | {"options": manifest["options"] | {"backend": "PyTorch"}}))
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 1 and "was made by another version of drrn-stream" in err
    # as if the first chunk had run on a GPU
    record.write_text(json.dumps(manifest | {"ran": manifest["ran"] | {"device": "cuda", "precision": "fp16"}}))
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 1 and "chunk 2 runs otherwise than the chunks done before it (device cpu for cuda, " in err
    assert "Traceback" not in err and not (work_folder(dst) / "chunk_00001.mp4").exists()  # refused before any work
    other = make_clip(tmp_path / "other.mp4", pts_ms=VFR_MS[:20], encoder=OPEN_GOPS)
    os.replace(other, src)
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 1 and "was made from another input" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-", "out.mkv", "--chunk-seconds", "1"], "not pipes"),
        (["fifo.mkv", "out.mkv", "--chunk-seconds", "1"], "not pipes ('-', mkfifo)"),  # was "not a readable media file"
        (["in.mp4", "out.mkv", "--resume"], "are for chunked runs: give --chunk-seconds"),
    ],
)
def test_chunked_runs_refuse_what_they_cannot_do_in_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS[:4])
    os.mkfifo(tmp_path / "fifo.mkv")  # (never opened: refused first)
    code, _, err = run_cli(args, capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_an_unwritable_work_folder_is_one_line(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS[:4])
    work_folder(tmp_path / "out.mkv").write_text("a file where the folder would go")
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights),
                            "--chunk-seconds", "1"], capsys)  # fmt: skip
    assert code == 1 and "cannot write the work folder" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("dst, extra, message", [
    ("out.y4m", [], "not pictures, GIF, APNG or .y4m"),
    ("frames_%05d.png", [], "not pictures, GIF, APNG or .y4m"),
    ("out.gif", [], "not pictures, GIF, APNG or .y4m"),
    ("out.mkv", ["--reference", "in.mp4"], "--reference scores a whole run"),
    ("out.ogv", [], "out.ogv: its libvpx video goes in no mp4 segment of a chunked run"),  # found by the join, after
    ("out.mxf", [], "the output's container, mxf, takes no video at"),  # every chunk had run
])  # fmt: skip
def test_what_a_chunked_run_cannot_write_is_refused_first(tmp_path, capsys, monkeypatch, dst, extra, message):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS[:4])
    code, _, err = run_cli(["in.mp4", dst, "--chunk-seconds", "1", *extra], capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".*"))  # no work folder, no partial file


@pytest.mark.parametrize("suffix", ["mpg", "avi"])
def test_h264_joins_into_containers_that_take_it_in_start_codes(tmp_path, tiny_weights, capsys, suffix):
    """MPEG-PS and AVI take H.264 in start codes, the MP4 segments hold it length-prefixed: copied as it was, an
    MPEG-PS said written held no video a player found, and AVI's muxer refused it after every chunk had run."""
    src = make_clip(tmp_path / "in.mp4", pts_ms=[40 * i for i in range(30)], audio=False, encoder=OPEN_GOPS)
    args = [str(src), str(tmp_path / f"out.{suffix}"), "--weights", str(tiny_weights), "--chunk-seconds", "0.3"]
    code, _, err = run_cli(args, capsys)
    assert code == 0 and "3 chunks" in err, err
    with av.open(str(tmp_path / f"out.{suffix}")) as out:
        assert out.streams.video[0].codec_context.name == "h264" and len(list(out.decode(video=0))) == 30


def test_a_phone_clip_is_joined_upright_where_the_container_cannot_say_its_turn(tmp_path, tiny_weights, capsys):
    """The segments (MP4) say the turn and the join copies their packets: into MPEG-TS, which drops it, the clip came
    out on its side. The segments are made upright for such an output, as a whole run's frames are."""
    src = make_clip(tmp_path / "in.mp4", width=32, height=24, pts_ms=VFR_MS, audio=False, rotation=90,
                    encoder=OPEN_GOPS)  # fmt: skip
    for name, turn, size in (("out.ts", 0, (48, 64)), ("out.mp4", 90, (64, 48))):
        args = [str(src), str(tmp_path / name), "--weights", str(tiny_weights), "--chunk-seconds", "0.3"]
        code, _, err = run_cli(args, capsys)
        assert code == 0 and "3 chunks" in err, err
        with av.open(str(tmp_path / name)) as out:
            frames = list(out.decode(video=0))
        shown = {(f.width, f.height, round(f.rotation or 0)) for f in frames}
        assert len(frames) == len(VFR_MS) and shown == {(*size, turn)}, (name, shown)


def test_damaged_input_keeps_what_decodes_and_says_so(tmp_path, tiny_weights, capsys):
    clean = make_clip(tmp_path / "clean.mp4", pts_ms=[40 * i for i in range(30)], encoder=OPEN_GOPS)
    src = damaged_copy(clean, tmp_path / "damaged.mp4")
    enhance(capsys, src, tmp_path / "single.mkv", tiny_weights)
    err = enhance(capsys, src, tmp_path / "chunked.mkv", tiny_weights, "--chunk-seconds", "0.3")
    single, chunked = decoded(tmp_path / "single.mkv"), decoded(tmp_path / "chunked.mkv")
    assert chunked[0] == single[0] and len(chunked[0]) < 30  # every frame a whole run keeps, no more
    said = err.strip().splitlines()[-1]
    assert "damaged input, decoded past errors (first: " in said and "gave no frame" in said
    code, _, err = run_cli([str(src), str(tmp_path / "strict.mkv"), "--weights", str(tiny_weights), "--codec",
                            "ffv1", "--chunk-seconds", "0.3", "--strict"], capsys)  # fmt: skip
    assert code == 1 and "gave no frame" in err.strip().splitlines()[-1]
    assert decoded(tmp_path / "strict.mkv")[0] == single[0]  # --strict fails the run, but keeps what decoded


def test_without_ray_installed_ray_is_one_line(tmp_path, tiny_weights, capsys, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS[:4])
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    code, _, err = run_cli([str(src), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights),
                            "--chunk-seconds", "1", "--ray"], capsys)  # fmt: skip
    assert code == 1 and "pip install -e '.[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".out*"))  # no work folder


@pytest.mark.parametrize("argv, ray", [
    (["in.mp4", "out.mp4", "--ray"], "--ray="),
    (["--ray", "in.mp4", "out.mp4"], "--ray="),
    (["in.mp4", "out.mp4", "--ray", "--resume"], "--ray="),
    (["in.mp4", "out.mp4", "--ray", "10.0.0.5:6379"], "--ray"),
    (["in.mp4", "out.mp4", "--ray", "ray://head:10001"], "--ray"),
    (["in.mp4", "out.mp4", "--ray", "auto"], "--ray"),
    (["in.mp4", "out.mp4", "--ray", "[::1]:6379"], "--ray"),
])  # fmt: skip
def test_ray_alone_takes_no_file_as_its_address(argv, ray):
    out = with_ray_address(argv)
    assert len(out) == len(argv) and out[argv.index("--ray")] == ray


@pytest.mark.parametrize("device, gpus, devices", [
    ("auto", 2, ["cuda:0", "cuda:1", "cuda:0"]),  # a GPU each, round robin
    ("cuda", 3, ["cuda:0", "cuda:1", "cuda:2"]),
    ("auto", 1, ["auto"] * 3),  # one GPU (or none): as asked
    ("cuda:1", 2, ["cuda:1"] * 3),  # a GPU named: that one
    ("cpu", 2, ["cpu"] * 3),
])  # fmt: skip
def test_local_workers_take_a_gpu_each_where_there_are_several(device, gpus, devices):
    assert [worker_device(device, slot, gpus) for slot in range(3)] == devices


def test_progress_counts_frames_across_workers_and_a_chunk_started_again_from_zero():
    chunks = [Chunk(0, (0, 1, 2), None), Chunk(3, (3, 4), 0), Chunk(5, (5, 6, 7, 8), 3)]
    jobs = plan(Path("in.mp4"), Path("work"), chunks, {})
    progress = ChunkProgress(Console(quiet=True), jobs, done={0})
    task = progress.progress.tasks[0]
    assert (task.completed, task.total, task.description) == (3, 9, "chunks 1/3")
    progress.report(1, 1)
    progress.report(2, 3)
    assert task.completed == 7
    progress.report(2, 1)  # its worker was lost, the chunk started again
    assert task.completed == 5
    progress.finish(jobs[1])
    progress.report(1, 1)  # a late report of a finished chunk changes nothing
    assert (task.completed, task.description) == (6, "chunks 2/3")


def test_a_chunk_run_otherwise_than_those_before_is_refused(tmp_path):
    manifest = Manifest({"size": 1}, {}, [Chunk(0, (0,), None), Chunk(1, (1,), 0)])
    files = [tmp_path / "segment"]
    files[0].write_bytes(b"x")
    ran = {"device": "cuda", "precision": "fp16", "units": 25}
    manifest.finish(0, tmp_path, files, ran)
    with pytest.raises(UserError, match=r"chunk 2 runs otherwise .*\(device cpu for cuda, precision fp32 for fp16\)"):
        manifest.finish(1, tmp_path, files, ran | {"device": "cpu", "precision": "fp32"})
    assert json.loads((tmp_path / "manifest.json").read_text())["done"] == [0]


def test_a_record_with_other_than_chunk_numbers_done_is_one_line(tmp_path):
    """A hand-edited "done": ["3"] said "unexpected TypeError: '<' not supported between ..."."""
    from stream.chunked.manifest import load

    manifest = Manifest({"size": 1}, {}, [Chunk(0, (0,), None)])
    manifest.save(tmp_path)
    record = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(record | {"done": ["3"]}))
    with pytest.raises(UserError, match=r"manifest\.json: not a chunked run's record; remove .* to start again"):
        load(tmp_path)


def test_a_worker_process_that_died_is_one_line_and_the_run_says_how_to_go_on(tmp_path, tiny_weights, capsys,
                                                                              monkeypatch):  # fmt: skip
    """A worker killed (the OOM killer, kill -9) said "unexpected BrokenProcessPool: A process in the process pool
    was terminated abruptly ...", and nothing of the chunks done or of --resume."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from stream.chunked import workers

    lost: Future = Future()
    lost.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
    with pytest.raises(UserError, match=r"^a worker process died \(killed, or out of memory\?\)$"):
        workers.worker_result(lost)

    def dies(*_args):
        raise UserError("a worker process died (killed, or out of memory?)")

    monkeypatch.setattr(workers.InProcess, "run", dies)
    src, dst = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS), tmp_path / "out.mkv"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights), "--chunk-seconds", "0.3"], capsys)
    said = (f"error: a worker process died (killed, or out of memory?); 0 of 3 chunks done in {work_folder(dst)}; "
            "the same command with --resume goes on from there")  # fmt: skip
    assert code == 1 and err.splitlines()[-1] == said, err


@pytest.mark.parametrize("stop", ["signal", "full disk"])
def test_a_stop_as_the_chunks_are_joined_says_how_to_go_on(tmp_path, tiny_weights, capsys, monkeypatch, stop):
    """It said "interrupted (SIGTERM)" alone, where a stop among the chunks says what is kept and --resume; a full
    disk named the hidden partial file alone (".out.partial.mkv: File too large")."""
    from stream.chunked import run
    from stream.errors import Interrupted

    def stopped(*_args):
        if stop == "signal":
            raise Interrupted(signal.SIGTERM)
        raise OSError(27, "File too large", str(tmp_path / ".out.partial.mkv"))

    monkeypatch.setattr(run, "join", stopped)
    src, dst = make_clip(tmp_path / "in.mp4", pts_ms=VFR_MS, encoder=OPEN_GOPS), tmp_path / "out.mkv"
    code, _, err = run_cli([str(src), str(dst), "--weights", str(tiny_weights), "--chunk-seconds", "0.3"], capsys)
    kept = f"3 of 3 chunks done in {work_folder(dst)}; the same command with --resume goes on from there"
    full = f"error: {dst}: cannot write (File too large); {kept}"
    said = f"interrupted (SIGTERM): {kept}" if stop == "signal" else full
    assert code == (128 + signal.SIGTERM if stop == "signal" else 1) and err.splitlines()[-1] == said, err
    assert not dst.exists()
