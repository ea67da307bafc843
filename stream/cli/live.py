"""`drrn-stream live`: the live preview, bicubic against DRRN, from a camera, a file or a URL."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from kernels.choice import is_onnx
from stream.cli.options import (
    HALO,
    ContentOpt,
    DeviceOpt,
    HaloOpt,
    PrecisionOpt,
    TileOpt,
    UnitsOpt,
    WeightsOpt,
    model_choice,
    parse_wxh,
)
from stream.cli.video import ScaleOpt, quiet_stdout
from stream.console import say
from stream.errors import UserError

Source = Annotated[str, typer.Argument(help="Camera index, device path, file or URL (OpenCV reads it).")]
LayoutOpt = Annotated[
    Literal["split", "side"], typer.Option("--layout", help="split: a draggable line; side: two panes.")
]
NoWindowOpt = Annotated[bool, typer.Option("--no-window", help="Run headless (servers, tests).")]
FramesOpt = Annotated[int | None, typer.Option("--frames", min=1, help="Stop after N enhanced frames.")]
RecordOpt = Annotated[Path | None, typer.Option("--record", help="Write what was shown to a video file.")]
OutputOpt = Annotated[
    str | None,
    typer.Option("--output", help="-: the enhanced frames, with their capture times, to stdout (raw video, NUT)."),
]
LatencyOpt = Annotated[
    float | None,
    typer.Option("--latency-ms", min=1, help="Keep capture-to-display within MS by choosing the depth per frame."),
]
OverwriteOpt = Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing --record file.")]
SizeOpt = Annotated[str | None, typer.Option("--size", help="Ask the camera for WxH, e.g. 640x480.")]
CameraFpsOpt = Annotated[float | None, typer.Option("--camera-fps", min=1, help="Ask the camera for F fps.")]


def live_command(
    source: Source = "0", scale: ScaleOpt = 2, weights: WeightsOpt = None, units: UnitsOpt = None,
    device: DeviceOpt = "auto", precision: PrecisionOpt = "auto", tile: TileOpt = None, halo: HaloOpt = HALO,
    layout: LayoutOpt = "split", no_window: NoWindowOpt = False, frames: FramesOpt = None, record: RecordOpt = None,
    output: OutputOpt = None, latency_ms: LatencyOpt = None, size: SizeOpt = None, camera_fps: CameraFpsOpt = None,
    content: ContentOpt = "auto", overwrite: OverwriteOpt = False,
) -> None:  # fmt: skip
    """Live preview: bicubic against DRRN. Keys: q quits, space pauses, s saves a screenshot, +/- units."""
    from stream.apps.api import FrameEnhancer
    from stream.apps.live import LiveOptions, Preview
    from stream.apps.recorder import Recorder
    from stream.content import for_content, judge
    from stream.video.pipe_ends import stdout
    from stream.video.targets import FileTarget, written_extensions

    if latency_ms is not None and weights is not None and is_onnx(weights):
        raise UserError(f"{weights}: an ONNX file runs at the depth it was exported with; --latency-ms needs weights")
    for name, value in (("--latency-ms", latency_ms), ("--camera-fps", camera_fps)):
        if value is not None and not math.isfinite(value):  # typer's bounds let NaN by: the depth stayed at 1
            raise UserError(f"{name} {value:g}: a finite number")
    if output not in (None, "-"):
        raise UserError(f"--output {output}: only - (stdout) is supported; use --record FILE for a file")
    if output == "-" and os.isatty(1):
        raise UserError("--output -: stdout is a terminal; pipe it, e.g. | ffplay -")
    # Before the camera and the model: into a folder that exists, replaced only with -y, in a container that holds
    # H.264; grown beside itself, so that a run that fails leaves what was there
    if record is not None and record.suffix.lower().lstrip(".") not in written_extensions():  # (not --output-format)
        raise UserError(f"{record}: cannot tell the container from the name; --record writes H.264: name a .mp4, "
                        ".mkv or .mov")  # fmt: skip
    recorder = Recorder(FileTarget(source, str(record), overwrite, None)) if record is not None else None
    if recorder is not None and (recovered := recorder.file.recovered) is not None:  # type: ignore[union-attr]
        say(f"a recording onto {record} that was cut off (its process killed) is kept as {recovered}")
    try:
        options = LiveOptions(
            window=not no_window, max_frames=frames, record=recorder, layout=layout, budget_ms=latency_ms,
            output=stdout() if output == "-" else None, camera_size=parse_wxh(size) if size else None,
            camera_fps=camera_fps,
        )  # fmt: skip
        choice = model_choice(weights, units, device, precision, tile, halo, content=content)
        preview = Preview(source, lambda codec: FrameEnhancer(scale, for_content(choice, judge(codec))), options)
        say(f"{source} ({preview.stats.source}): {preview.enhancer.ran}, x{scale}"
            + (f", latency budget {latency_ms:g} ms" if latency_ms else ""))  # fmt: skip
        stats = preview.run()  # (which closes the recorder)
    except BaseException:
        if recorder is not None:
            with contextlib.suppress(Exception):  # what stopped the run is the one to say
                recorder.close()
        raise
    if stats.reader_closed:
        quiet_stdout()
    say(stats.summary(latency_ms is not None) + (f"; recorded {record}" if recorder and recorder.recorded else ""))
