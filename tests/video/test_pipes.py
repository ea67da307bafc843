"""stdin and stdout against the real ffmpeg command-line tools (Debian's ffmpeg package)."""

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.media import make_clip, probe

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="needs ffmpeg")

TESTSRC = "ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=10"
SINE = "-f lavfi -i sine=frequency=440:sample_rate=48000 -c:a aac -shortest"


def drrn(weights, *args: str) -> str:
    return shlex.join([sys.executable, "-m", "stream", *args, "--weights", str(weights), "--quiet"])


def run(pipeline: str) -> tuple[list[int], str]:
    """Run a shell pipeline; -> (every command's exit status, the last command's stdout)."""
    proc = subprocess.run(
        ["bash", "-c", f'{pipeline}; echo "status ${{PIPESTATUS[*]}}" >&2'],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    status_line = [line for line in proc.stderr.splitlines() if line.startswith("status ")][-1]
    return [int(s) for s in status_line.split()[1:]], proc.stdout


def ffprobe_streams() -> str:
    return "ffprobe -v error -count_frames -show_entries stream=codec_type,width,height,nb_read_frames -of json -"


def test_nut_in_matroska_out_with_audio(tiny_weights):
    status, out = run(f"{TESTSRC} {SINE} -frames:v 12 -f nut - | {drrn(tiny_weights, '-', '-')} | {ffprobe_streams()}")
    assert status == [0, 0, 0]
    streams = json.loads(out)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    assert (video["width"], video["height"], int(video["nb_read_frames"])) == (128, 96, 12)
    assert any(s["codec_type"] == "audio" for s in streams)


def test_y4m_in_y4m_out(tiny_weights):
    cmd = drrn(tiny_weights, "-", "-", "--output-format", "yuv4mpegpipe")
    status, out = run(f"{TESTSRC} -frames:v 7 -pix_fmt yuv420p -f yuv4mpegpipe - | {cmd} | {ffprobe_streams()}")
    assert status == [0, 0, 0]
    (video,) = json.loads(out)["streams"]
    assert (video["width"], video["height"], int(video["nb_read_frames"])) == (128, 96, 7)


def test_ten_bit_y4m_in_y4m_out(tiny_weights):
    """FFmpeg's Y4M muxer writes 10 bits only where told standards may be bent (-strict -1, as the ffmpeg feeding
    the pipe was): the run was refused as "yuv4mpegpipe cannot hold rawvideo video (--codec names another encoder)"."""
    cmd = drrn(tiny_weights, "-", "-", "--output-format", "yuv4mpegpipe")
    y4m = "-frames:v 3 -pix_fmt yuv420p10le -strict -1 -f yuv4mpegpipe -"
    probe = "ffprobe -v error -count_frames -show_entries stream=pix_fmt,width,nb_read_frames -of json -"
    status, out = run(f"{TESTSRC} {y4m} | {cmd} | {probe}")
    assert status == [0, 0, 0]
    (video,) = json.loads(out)["streams"]
    assert (video["pix_fmt"], video["width"], int(video["nb_read_frames"])) == ("yuv420p10le", 128, 3)


def test_a_full_stdout_is_named(tiny_weights, tmp_path):
    """`> /dev/full` (or a full disk under a redirected stdout) said "No space left on device", naming nothing."""
    src = tmp_path / "in.mkv"
    subprocess.run(f"{TESTSRC} -frames:v 5 {src}", shell=True, check=True)
    proc = subprocess.run(["bash", "-c", f"{drrn(tiny_weights, str(src), '-')} > /dev/full"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (1, "error: stdout: No space left on device\n")


def test_file_to_stdout_and_stdin_to_file(tiny_weights, tmp_path):
    src = tmp_path / "in.mkv"
    subprocess.run(f"{TESTSRC} -frames:v 5 {src}", shell=True, check=True)
    status, out = run(f"{drrn(tiny_weights, str(src), '-')} | {ffprobe_streams()}")
    assert status == [0, 0] and int(json.loads(out)["streams"][0]["nb_read_frames"]) == 5
    status, _ = run(f"cat {src} | {drrn(tiny_weights, '-', str(tmp_path / 'out.mp4'))}")
    assert status == [0, 0] and (tmp_path / "out.mp4").stat().st_size > 0


def test_pipes_by_name_are_read_and_written_as_stdin_and_stdout(tiny_weights, tmp_path):
    """A pipe by name (mkfifo) is opened here and read or written in slices, as stdin and stdout are."""
    src, into, out_of = tmp_path / "in.mkv", tmp_path / "into.mkv", tmp_path / "out_of.mkv"
    subprocess.run(f"{TESTSRC} -frames:v 5 {src}", shell=True, check=True)
    os.mkfifo(into)
    os.mkfifo(out_of)
    got = tmp_path / "got.mkv"
    enhance = drrn(tiny_weights, str(into), str(out_of), "-y")
    status, _ = run(f"cat {src} > {into} & cat {out_of} > {got} & {enhance}; wait")
    assert status == [0] and probe(got)["frames"] == 5
    assert into.is_fifo() and out_of.is_fifo()  # written through, not replaced


def test_a_picture_through_a_pipe_by_name_is_a_picture_as_through_stdin(tiny_weights, tmp_path):
    """It was taken for a video ("out.png: a video makes many pictures"), its writer left waiting."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def through_the_pipe(src: str, out: str) -> subprocess.CompletedProcess:
        frames = 1 if src.endswith(".png") else 3
        subprocess.run(f"{TESTSRC} -frames:v {frames} {tmp_path / src}", shell=True, check=True)
        enhance = drrn(tiny_weights, str(fifo), str(tmp_path / out))
        script = f"cat {tmp_path / src} > {fifo} & {enhance}; status=$?; kill $! 2>/dev/null; exit $status"
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)

    assert through_the_pipe("in.png", "out.png").returncode == 0 and probe(tmp_path / "out.png")["size"] == (128, 96)
    refused = through_the_pipe("in.mkv", "v.png")
    assert refused.returncode == 1 and refused.stderr.startswith(f"error: {tmp_path / 'v.png'}: a video makes many")


def test_a_pipe_by_name_whose_reader_goes_away_ends_the_run_as_stdout_does(tiny_weights, tmp_path):
    """Its reader closing early ended the run with status 1 and no word (stdout's ends quietly, status 0)."""
    out = tmp_path / "out.mkv"
    os.mkfifo(out)
    first = drrn(tiny_weights, "samples/sample.mp4", str(out), "-y", "--units", "1")
    proc = subprocess.run(["bash", "-c", f"{first} 2>&1 & head -c 100 {out} > /dev/null; wait $!"],
                          capture_output=True, timeout=300)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, b"")


def test_a_second_run_onto_a_pipe_by_name_being_written_is_refused(tmp_path):
    """Both ran, and the reader got the two streams spliced into one."""
    from stream.errors import UserError
    from stream.video.targets import FileTarget

    out = tmp_path / "out.mkv"
    os.mkfifo(out)
    reader = os.open(out, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so that writers' opening does not wait
    try:
        first, second = (FileTarget("-", str(out), True, None) for _ in range(2))
        first.open()
        with pytest.raises(UserError, match=r"out.mkv: another run is writing it now$"):
            second.open()
        first.commit()
        second.open()  # the first done, the pipe is the next run's
        second.commit()
    finally:
        os.close(reader)


def test_a_reader_that_closes_early_ends_the_run_quietly(tiny_weights):
    proc = subprocess.run(
        ["bash", "-c", f"{TESTSRC} -frames:v 200 -f nut - 2>/dev/null | {drrn(tiny_weights, '-', '-')} | head -c 1000"],
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert len(proc.stdout) == 1000
    assert proc.stderr == b""  # no traceback, no message


def test_a_reader_that_closes_before_the_container_is_finished_ends_the_run_quietly(tiny_weights):
    """All 16 frames wait in x264's lookahead, so the reader of the first 100 bytes is gone by the
    time the rest is written, the trailer last: that ended in "encoding failed" and status 1."""
    proc = subprocess.run(["bash", "-c", f"{drrn(tiny_weights, 'samples/sample.mp4', '-')} | head -c 100; "
                           "exit ${PIPESTATUS[0]}"], capture_output=True, timeout=300)  # fmt: skip
    assert (proc.returncode, len(proc.stdout), proc.stderr) == (0, 100, b"")


# Seeded: some random bytes probe as a format with no video stream (another one-line error).
GARBAGE = f"{sys.executable} -c 'import random, sys; random.seed(0); sys.stdout.buffer.write(random.randbytes(4000))'"


@pytest.mark.parametrize(
    "feed, message",
    [
        (GARBAGE, "<stdin>: not a readable media file"),
        ("true", "<stdin>: nothing came through it (empty)"),  # was FFmpeg's "Invalid data found ..."
        (f"{TESTSRC} -frames:v 2 -pix_fmt yuv420p -f rawvideo -", "<stdin>: raw video says nothing of its frames'"),
        # (said as a bare "no decodable frames", where its frames are fine)
        ("cat $LATE_INDEX", "no decodable frames (an MP4 or MOV whose index follows its media cannot be read"),
    ],
    ids=["garbage", "empty", "rawvideo", "mp4-index-last"],
)
def test_bad_stdin_gives_one_line(tiny_weights, tmp_path, feed, message):
    named = ["--input-format", "rawvideo"] if "rawvideo" in feed else []  # "Invalid argument", and nothing to do
    late = make_clip(tmp_path / "late.mp4", pts_ms=list(range(0, 8000, 40))) if "LATE" in feed else ""  # (200 kB)
    proc = subprocess.run(
        ["bash", "-c", f"{feed} | {drrn(tiny_weights, '-', '-', *named)} > /dev/null"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "LATE_INDEX": str(late)},
    )  # fmt: skip
    assert proc.returncode == 1
    assert message in proc.stderr and proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_a_damaged_mp4_with_its_index_first_is_not_told_to_move_its_index(tiny_weights, tmp_path):
    """Its packets came and did not decode: "remux it with +faststart" was said of one that had its index first."""
    clip = tmp_path / "in.mp4"
    subprocess.run(["bash", "-c", f"{TESTSRC} -t 0.5 -pix_fmt yuv420p -movflags +faststart {clip}"], check=True)
    data = bytearray(clip.read_bytes())
    assert data.find(b"moov") < data.find(b"mdat")
    data[data.find(b"mdat") + 4 :] = bytes(len(data) - data.find(b"mdat") - 4)  # the media zeroed, the index kept
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    proc = subprocess.run(["bash", "-c", f"cat {tmp_path / 'bad.mp4'} | {drrn(tiny_weights, '-', '-')} > /dev/null"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1 and "no decodable frames" in proc.stderr and "index" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("strict", [False, True])
def test_truncated_stdin_keeps_what_decoded_and_says_so(tiny_weights, strict):
    """A cut stream decodes as far as it goes: a warning and status 0, or with --strict status 1."""
    feed = f"{TESTSRC} -frames:v 30 -f nut - 2>/dev/null | head -c 3000"
    count = "ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 -i -"
    proc = subprocess.run(
        ["bash", "-c", f"{feed} | {drrn(tiny_weights, '-', '-')} {'--strict' * strict} | {count}; "
                       'echo "status ${PIPESTATUS[2]}" >&2'],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    *lines, status = proc.stderr.strip().splitlines()
    assert status == f"status {1 if strict else 0}", proc.stderr
    assert 0 < int(proc.stdout.strip()) < 30  # the frames that decoded, in a playable stream
    assert lines[-1].startswith(f"{'error' if strict else 'warning'}: <stdin>: damaged input, decoded past")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["mp4", "mov"])
def test_mp4_goes_to_a_pipe_fragmented(tiny_weights, tmp_path, kind):
    """MP4 writes its index at the end, seeking back: to a pipe it was refused ("cannot be written to a pipe"),
    where ffmpeg writes it fragmented when told (-movflags frag_keyframe+empty_moov), as a player reads it."""
    src = tmp_path / "in.mkv"
    subprocess.run(f"{TESTSRC} {SINE} -frames:v 3 {src}", shell=True, check=True)
    status, out = run(f"{drrn(tiny_weights, str(src), '-', '--output-format', kind)} | {ffprobe_streams()}")
    assert status == [0, 0]
    video, audio = json.loads(out)["streams"]
    assert (video["codec_type"], int(video["nb_read_frames"]), audio["codec_type"]) == ("video", 3, "audio")


@pytest.mark.parametrize(("suffix", "named"), [(".png", []), (".jpg", []), (".webp", []), (".png", ["png_pipe"])])
def test_a_picture_on_stdin_makes_a_picture(tiny_weights, tmp_path, suffix, named):
    """`cat photo.png | drrn-stream - out.png` was refused: "a video makes many pictures" (with --input-format
    png_pipe too). A picture on stdin is read as a picture file is (its metadata, its orientation); a video piped
    into one picture is still refused."""
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / f"in{suffix}"), np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8))
    formats = ["--input-format", *named] if named else []
    cmd = drrn(tiny_weights, "-", str(tmp_path / "out.png"), *formats).replace(" --quiet", "")
    said = subprocess.run(f"cat {tmp_path / f'in{suffix}'} | {cmd}", shell=True, capture_output=True, text=True)
    assert said.returncode == 0 and cv2.imread(str(tmp_path / "out.png")).shape == (48, 64, 3)
    assert said.stderr.startswith(f"<stdin> -> {tmp_path / 'out.png'}: "), said.stderr  # not the spooled file's name
    status, _ = run(f"{TESTSRC} -frames:v 3 -f nut - | {drrn(tiny_weights, '-', str(tmp_path / 'video.png'))}")
    assert status == [0, 1] and not (tmp_path / "video.png").exists()


def test_a_picture_on_stdin_is_named_stdin_in_its_log_row_and_its_errors(tiny_weights, tmp_path):
    """Spooled to a file, it was logged "stdin.png", and its errors named the spool (/tmp/drrn-stream-x/stdin.png)."""
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "in.png"), np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8))
    (tmp_path / "cut.png").write_bytes((tmp_path / "in.png").read_bytes()[:200])
    for name in ("in.png", "cut.png"):
        cmd = drrn(tiny_weights, "-", str(tmp_path / "out.png"), "-y", "--log", str(tmp_path / "log.csv"))
        said = subprocess.run(f"cat {tmp_path / name} | {cmd}", shell=True, capture_output=True, text=True)
        assert said.returncode == (name == "cut.png"), said.stderr
    assert (tmp_path / "log.csv").read_text().splitlines()[1].startswith("<stdin>,")
    assert said.stderr == "error: <stdin>: not a readable 8- or 16-bit image\n"
