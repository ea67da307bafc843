"""`drrn-stream IN OUT` with no flags against the way the seed's upstream code would be used, on the same
frames, in one run (issue #24).

Seed-style: decode every frame first (PyAV), then frame by frame: the luma upscaled by MATLAB's
bicubic, DRRN B1U25 (the shipped weights at their trained depth) in float32 eager PyTorch on the
whole frame, the chroma upscaled by OpenCV's bicubic; then encode every frame (libx264, CRF 18,
medium, as drrn-stream's default). drrn-stream: `enhance` as a user runs it, model loading
included. Both are wall times of the whole job; the record names the CPU and its ISA.

    python -m benchmarks.seed_baseline [--clip samples/sample.mp4] [--frames 8] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from kernels.choice import ModelChoice
from kernels.resize import imresize
from kernels.weights import load_drrn
from stream.bench.measure import cpu_isa, host_name
from stream.content import for_content, judge_source
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.source import VideoSource

SCALE = 2


def first_frames(clip: Path, count: int, dst: Path) -> Path:
    """The clip's first `count` frames, video only, losslessly (both runs read the same frames)."""
    with av.open(str(clip)) as src, av.open(str(dst), "w") as out:
        video = src.streams.video[0]
        stream = out.add_stream("ffv1", rate=video.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        for i, frame in enumerate(src.decode(video)):
            if i == count:
                break
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return dst


def seed_style(src: Path, dst: Path) -> float:
    """Seconds for the seed-style job: decode all, restore frame by frame, encode all."""
    start = time.perf_counter()
    model, _ = load_drrn(None, 25)
    with av.open(str(src)) as container:
        frames = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    h, w = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    restored = []
    with torch.no_grad():
        for planes in frames:
            y = torch.from_numpy(planes[:h].astype(np.float64) / 255)
            out = model(imresize(y, SCALE).float()[None, None], 25)[0, 0]
            y2 = (out * 255).round().clamp(0, 255).to(torch.uint8).numpy()
            chroma = planes[h:].reshape(2, h // 2, w // 2)
            uv = [cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in chroma]
            restored.append(np.concatenate([y2, *(c.reshape(-1, w * SCALE) for c in uv)]))
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "18", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = w * SCALE, h * SCALE, "yuv420p"
        for planes in restored:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")))
        out.mux(stream.encode(None))
    return time.perf_counter() - start


def default_run(src: Path, dst: Path) -> tuple[float, str]:
    """Seconds for `drrn-stream SRC DST` with no flags, and what it resolved to: the set its input's
    coding picks (the lossless cut of `first_frames` is clean input: the coded set), as its header says."""
    start = time.perf_counter()
    enhance_file(src, dst, EnhanceOptions(scale=SCALE, overwrite=True))
    seconds = time.perf_counter() - start
    with VideoSource(src) as source:
        return seconds, str(for_content(ModelChoice(), judge_source(source)).resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=Path("samples/sample.mp4"))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = first_frames(args.clip, args.frames, Path(tmp) / "in.mkv")
        # The seed-style job first: drrn-stream's CPU model tells glibc to keep freed memory for the whole
        # process (kernels/host_memory.py), which the seed's code would not have had
        seed = seed_style(src, Path(tmp) / "seed.mp4")
        ours, ran = default_run(src, Path(tmp) / "ours.mp4")
    record = {
        "clip": str(args.clip), "frames": args.frames, "seed_style_s": round(seed, 2), "default_s": round(ours, 2),
        "ratio": round(seed / ours, 2), "default_ran": ran, "host": host_name(torch.device("cpu")),
        "isa": cpu_isa(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "date": date.today().isoformat(),
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
