"""The per-frame log's summary, as people read it on the progress line and at the end of a run."""

from __future__ import annotations

import math

from stream.video.log import FrameLog


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
