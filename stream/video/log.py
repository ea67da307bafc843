"""Per-frame metrics: one row per frame to .csv or .jsonl as frames complete, and a summary."""

from __future__ import annotations

import csv
import json
import math
from contextlib import suppress
from pathlib import Path
from typing import IO

from stream.errors import UserError

LOG_SUFFIXES = (".csv", ".jsonl")


def check_log_name(path: Path | None, overwrite: bool = True) -> None:
    """A log's name as it must be, checked before the run opens the log (once the input and the model are there);
    an existing log file is replaced only with -y, as an output is (a run replaced an earlier run's log unasked)."""
    if path is not None and path.suffix.lower() not in LOG_SUFFIXES:
        raise UserError(f"{path}: the log must be a .csv or .jsonl file")
    if path is not None and path.is_file() and not overwrite:
        raise UserError(f"{path}: exists; pass -y to replace it")


class FrameLog:
    """Rows of {frame, pts_time, model_ms, psnr_vs_bicubic, [reference metrics]}. The file is opened at once (one
    that cannot be written fails the run before its work) and emptied at the first row: a run that fails before
    any (a bad input or weights after -y) leaves the last run's log as it was, where it had left a header alone."""

    def __init__(self, path: Path | None, fields: list[str]) -> None:
        self.fields, self.path = fields, path
        self.rows = 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}  # per key: rows may lack one (a shorter reference) or hold inf
        self.mins: dict[str, float] = {}
        self._file: IO[str] | None = None
        self._csv: csv.DictWriter | None = None
        self._made = False  # whether this log made its file (removed if no row came)
        if path is not None:
            check_log_name(path)
            self._made = not path.exists()
            try:  # a name that is no UTF-8 (a picture's, in its row) written as its bytes, as the file system has it
                self._file = path.open("a", newline="", errors="surrogateescape")
            except OSError as e:
                raise UserError(f"{path}: cannot write the log ({e.strerror})") from None
            if path.suffix.lower() == ".csv":
                self._csv = csv.DictWriter(self._file, fieldnames=fields)

    def _begin(self) -> None:
        """The file emptied for this run's rows, its header first."""
        assert self._file is not None
        if self.path is not None and self.path.is_file():  # (a named pipe, a device is written as it is)
            self._file.truncate(0)
        if self._csv is not None:
            self._csv.writeheader()

    def add(self, row: dict[str, float | str]) -> None:
        if self._file is not None:
            try:
                self._write(row)
            except OSError as e:  # a full disk: it said "No space left on device", naming nothing
                raise UserError(f"{self.path}: cannot write the log ({e.strerror or e})") from None
        self.rows += 1
        for key, value in row.items():
            if key in ("frame", "pts_time", "decode_errors") or isinstance(value, str) or not math.isfinite(value):
                continue
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
            self.mins[key] = min(self.mins.get(key, math.inf), value)

    def _write(self, row: dict[str, float | str]) -> None:
        """The row into the file, emptied for this run's rows at the first."""
        assert self._file is not None
        if self.rows == 0:
            self._begin()
        if self._csv is not None:
            self._csv.writerow({k: _rounded(v) for k, v in row.items()})
        else:
            self._file.write(json.dumps({k: _rounded(v) for k, v in row.items()}) + "\n")
        self._file.flush()

    def mean(self, key: str) -> float:
        return self.sums[key] / self.counts[key] if key in self.counts else math.nan

    def psnr_vs_bicubic(self, worst: bool = True) -> str:
        """The PSNR against bicubic so far, for people: "mean 31.26 dB, min 29.57 dB". Frames the model left equal
        to bicubic (black, flat: an infinite PSNR) count in neither, and are said where no other came."""
        if "psnr_vs_bicubic" not in self.counts:
            return "equal so far (black or flat frames)" if self.rows else "none yet"
        least = f", min {self.mins['psnr_vs_bicubic']:.2f} dB" if worst else ""
        return f"mean {self.mean('psnr_vs_bicubic'):.2f} dB{least}"

    def reference_summary(self) -> str:
        """The scores against --reference in one line, the same for videos and pictures ("" without one)."""
        if "psnr_ref" not in self.sums:
            return ""
        scored = self.counts["ssim_ref"]  # frames a shorter reference leaves unscored are said, not hidden
        short = f" over {scored} of {self.rows} frames (the reference has no more)" if scored < self.rows else ""
        return (
            f"against the reference: DRRN {self.db('psnr_ref')} / SSIM {self.mean('ssim_ref'):.4f} "
            f"(min {self.mins['psnr_ref']:.2f} dB), bicubic {self.db('psnr_ref_bicubic')} / "
            f"SSIM {self.mean('ssim_ref_bicubic'):.4f}{short}"
        )

    def db(self, key: str) -> str:
        """A PSNR's mean for people; "identical" where every frame scored was (an infinite PSNR, which a mean of the
        others leaves out: a flat picture's bicubic upscale was said as "nan dB")."""
        return f"{self.mean(key):.2f} dB" if key in self.counts else "identical"

    def close(self) -> None:
        if self._file is not None:
            with suppress(OSError):  # each row is flushed as it comes: what fails here failed there, and was said
                self._file.close()
            if self.rows == 0 and self._made and self.path is not None:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> FrameLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _rounded(value: float | str) -> float | int | str | None:
    if isinstance(value, int | str):
        return value
    return round(value, 4) if math.isfinite(value) else None
