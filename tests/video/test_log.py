"""The per-frame log's summary, as people read it on the progress line and at the end of a run."""

from __future__ import annotations

import math

import pytest

from stream.errors import UserError
from stream.video.log import FrameLog, check_log_name
from tests.cli_helpers import run_cli
from tests.media import make_clip


def test_frames_equal_to_bicubic_are_said_not_averaged():
    """A fade from black restores to exactly bicubic (an infinite PSNR): no 'nan dB' while only such frames came,
    and they leave the mean and the minimum of the others alone."""
    log = FrameLog(None, ["frame", "psnr_vs_bicubic"])
    assert log.psnr_vs_bicubic() == "none yet"
    log.add({"frame": 0, "psnr_vs_bicubic": math.inf})
    assert log.psnr_vs_bicubic() == "equal so far (black or flat frames)"
    log.add({"frame": 1, "psnr_vs_bicubic": 31.0})
    log.add({"frame": 2, "psnr_vs_bicubic": 33.0})
    assert log.psnr_vs_bicubic() == "mean 32.00 dB, min 31.00 dB"
    assert log.psnr_vs_bicubic(worst=False) == "mean 32.00 dB"


def test_a_reference_bicubic_matches_exactly_is_said_identical():
    """A flat picture's bicubic upscale equals its reference (an infinite PSNR): it was said as "bicubic nan dB"."""
    log = FrameLog(None, ["psnr_ref", "ssim_ref", "psnr_ref_bicubic", "ssim_ref_bicubic"])
    log.add({"psnr_ref": 69.29, "ssim_ref": 1.0, "psnr_ref_bicubic": math.inf, "ssim_ref_bicubic": 1.0})
    assert log.reference_summary() == (
        "against the reference: DRRN 69.29 dB / SSIM 1.0000 (min 69.29 dB), bicubic identical / SSIM 1.0000"
    )


def test_a_run_that_fails_before_any_frame_leaves_the_log_as_it_was(tmp_path, tiny_weights, capsys):
    """The log was opened first: a run refused for its input (an empty file) left an earlier run's log a header."""
    (tmp_path / "frames.csv").write_text("frame,psnr_vs_bicubic\n0,31.5\n")
    (tmp_path / "empty.mp4").write_bytes(b"")
    args = [str(tmp_path / "empty.mp4"), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights)]
    code, _, err = run_cli([*args, "--log", str(tmp_path / "frames.csv"), "-y"], capsys)
    assert code == 1 and "not a readable media file" in err
    assert (tmp_path / "frames.csv").read_text() == "frame,psnr_vs_bicubic\n0,31.5\n"


def test_an_existing_log_is_replaced_only_with_y(tmp_path, tiny_weights, capsys):
    """An earlier run's log was replaced unasked, where its output was refused without -y."""
    (tmp_path / "frames.csv").write_text("frame,psnr_vs_bicubic\n0,31.5\n")
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, pts_ms=[0, 40], audio=False)
    args = [str(clip), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights), "--log", str(tmp_path / "frames.csv")]
    code, _, err = run_cli(args, capsys)
    assert (code, err) == (1, f"error: {tmp_path / 'frames.csv'}: exists; pass -y to replace it\n")
    assert (tmp_path / "frames.csv").read_text() == "frame,psnr_vs_bicubic\n0,31.5\n"
    assert not (tmp_path / "out.mp4").exists()
    code, _, err = run_cli([*args, "-y"], capsys)
    assert code == 0 and len((tmp_path / "frames.csv").read_text().splitlines()) == 3, err  # its header, 2 frames


def test_a_log_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    """A full disk under the log said "No space left on device", naming nothing."""
    (tmp_path / "full.csv").symlink_to("/dev/full")
    log = FrameLog(tmp_path / "full.csv", ["frame", "psnr_vs_bicubic"])
    with pytest.raises(UserError, match=r"full\.csv: cannot write the log \(No space left on device\)$"):
        log.add({"frame": 0, "psnr_vs_bicubic": 30.0})
    log.close()


def test_a_log_suffix_in_capitals_is_taken_as_it_is_in_lower_case(tmp_path):
    """FRAMES.CSV was refused as "must be a .csv or .jsonl file"."""
    check_log_name(tmp_path / "FRAMES.CSV")
    log = FrameLog(tmp_path / "FRAMES.CSV", ["frame", "psnr_vs_bicubic"])
    log.add({"frame": 0, "psnr_vs_bicubic": 30.0})
    log.close()
    assert (tmp_path / "FRAMES.CSV").read_text() == "frame,psnr_vs_bicubic\n0,30.0\n"
