"""HEIC written by libheif's x265 in a process of its own: `python -m stream.heif_encode OUT` with the picture on
stdin (picture_io.write_heif sends it).

pillow-heif bundles an x265 (4.3, build 217) beside PyAV's (4.2, build 216), and the two share function-local
statics: the dynamic linker makes such C++ symbols unique in a process, whatever library defines them (LD_DEBUG
shows 27 bound across). Once libheif had encoded a picture (a black 64x64 one, every time), PyAV's x265 failed
every encode after it ("Not yet implemented in FFmpeg, patches welcome"): a folder of a phone's HEIC photos and
HDR videos (libx265 by default) could lose every video after such a photo. In its own process libheif's x265
shares nothing.

The picture travels as an .npz (numpy's own format, read without pickle): its pixels, and the metadata as bytes.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np

FIELDS = ("exif", "icc_profile", "xmp")  # pillow-heif's save() options that take bytes as they are
# pillow-heif's nclx_profile, in the order of the nclx box
NCLX_FIELDS = ("color_primaries", "transfer_characteristics", "matrix_coefficients", "full_range_flag")


def encode(path: Path, pixels: np.ndarray, mode: str, quality: int, extras: dict[str, bytes],
           nclx: tuple[int, ...] | None) -> str:  # fmt: skip
    """`pixels` (in pillow-heif's `mode`) into the HEIC `path` by a child process. -> what it said where it failed,
    else ""."""
    sent = io.BytesIO()
    fields = {name: np.frombuffer(extras[name], np.uint8) for name in FIELDS if extras.get(name)}
    np.savez(sent, pixels=pixels, mode=np.array(mode), quality=np.array(quality),
             nclx=np.array(nclx if nclx is not None else (), np.int64), **fields)  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "stream.heif_encode", str(path)], input=sent.getbuffer(),
                         capture_output=True, check=False)  # fmt: skip
    said = run.stderr.decode(errors="replace").strip().splitlines()
    return "" if run.returncode == 0 else (said[-1] if said else f"exit status {run.returncode}")


def main(path: str) -> None:
    import pillow_heif

    sent = np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False)
    pixels, mode = sent["pixels"], str(sent["mode"])
    heif = pillow_heif.from_bytes(mode, (pixels.shape[1], pixels.shape[0]), np.ascontiguousarray(pixels).tobytes())
    nclx = [int(n) for n in sent["nclx"]]
    extras = {name: sent[name].tobytes() for name in FIELDS if name in sent}
    profile = {"nclx_profile": dict(zip(NCLX_FIELDS, nclx, strict=True))} if nclx else {}
    heif.save(path, format="HEIF", quality=int(sent["quality"]), **extras, **profile)


if __name__ == "__main__":
    main(sys.argv[1])
