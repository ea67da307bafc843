"""What is done with each frame once the sink has written it: its row of metrics in the log
(scored against a reference video too, when given) and the progress display."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
from rich.table import Column

from kernels.metrics import psnr, ssim
from stream.console import progress
from stream.video.frames import Frame, VideoInfo
from stream.video.log import FrameLog
from stream.video.source import VideoSource

LOG_FIELDS = ["frame", "pts_time", "model_ms", "psnr_vs_bicubic", "decode_errors"]
REFERENCE_FIELDS = ["psnr_ref", "ssim_ref", "psnr_ref_bicubic", "ssim_ref_bicubic"]


class FrameScores:
    """Each written frame's row in the log: its time, model time, PSNR against its bicubic input
    and the errors the input had shown by then (damage decoded past); with a reference video (the
    output's size), PSNR and SSIM of DRRN and of bicubic against the reference's frame of the same
    index, `border` pixels shaved."""

    def __init__(self, log: FrameLog, info: VideoInfo, reference: VideoSource | None = None, border: int = 0) -> None:
        self.log, self.info, self.reference, self.border = log, info, reference, border
        self._references: Iterator[Frame] | None = None
        if reference is not None:
            self._references = (item for item in reference if isinstance(item, Frame))

    def __call__(self, frame: Frame) -> None:
        assert frame.restored is not None
        row = {
            "frame": frame.index,
            "pts_time": float(frame.pts * self.info.time_base),
            "model_ms": frame.restored.model_ms,
            "psnr_vs_bicubic": frame.restored.psnr_vs_bicubic,
            "decode_errors": frame.decode_errors,
        }
        truth = next(self._references, None) if self._references is not None else None  # None past a shorter one
        if truth is not None:
            row |= self.against_reference(frame, truth)
        self.log.add(row)

    def against_reference(self, frame: Frame, truth: Frame) -> dict[str, float]:
        assert frame.restored is not None and frame.restored.bicubic_levels is not None and self.reference is not None
        levels = self.reference.info.coding.to_levels(torch.from_numpy(truth.y))
        out = self.info.coding.to_levels(torch.from_numpy(frame.restored.y))
        bicubic = torch.from_numpy(frame.restored.bicubic_levels).to(torch.float64)
        return {
            "psnr_ref": psnr(out, levels, self.border),
            "ssim_ref": ssim(out, levels, self.border),
            "psnr_ref_bicubic": psnr(bicubic, levels, self.border),
            "ssim_ref_bicubic": ssim(bicubic, levels, self.border),
        }


class FramesBar:
    """Frames done of how many, fps, the time left and a note, on the console (off with --quiet)."""

    def __init__(self, console: Console, total: int | None, description: str, completed: int = 0) -> None:
        self.console = console
        self.progress = progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),  # the room the words leave: on an 80-column
            TextColumn("{task.completed}/{task.fields[total_text]} frames"),  # terminal the time left was cut
            TextColumn("{task.fields[fps]}"), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),  # to "0:00:…"
            console=console, transient=True, expand=True,
        )  # fmt: skip
        self.task = self.progress.add_task(
            description, total=total, completed=completed, total_text=str(total or "?"), fps="", note=""
        )

    def __enter__(self) -> FramesBar:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def show(self, **changes: object) -> None:
        """Update the task (completed, advance, description, note) and its frames per second."""
        self.progress.update(self.task, **changes)  # type: ignore[arg-type]
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, fps=f"{speed:.2f} fps" if speed else "")


class ProgressBar(FramesBar):
    """A whole run's bar, frame by frame, with the running PSNR against bicubic."""

    def __init__(self, console: Console, total: int | None, log: FrameLog) -> None:
        super().__init__(console, total, "enhancing")
        self.log = log

    def __call__(self, frame: Frame) -> None:
        self.show(advance=1, note=f"PSNR vs bicubic {self.log.psnr_vs_bicubic(worst=False)}")
