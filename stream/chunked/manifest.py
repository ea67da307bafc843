"""A chunked run's record in its work folder: what input and options it is for, how the input is
cut, and which chunks are finished. Rewritten whole after each chunk by write-then-rename, so a
kill or a power cut leaves either the old record or the new one, never half of one."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stream.chunked.chunks import Chunk
from stream.errors import UserError
from stream.files import write_atomically
from stream.video.enhance import EnhanceOptions

NAME = "manifest.json"
_SAMPLE = 1 << 20  # bytes hashed at each end of the input: a changed file differs there or in size


def fingerprint(path: Path) -> dict[str, str | int]:
    """The input's size and a hash of its first and last MiB: cheap for a film, and a re-encoded or
    edited file changes it (a file touched but unchanged does not)."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(_SAMPLE))
        f.seek(max(0, size - _SAMPLE))
        digest.update(f.read(_SAMPLE))
    return {"size": size, "sha256_ends": digest.hexdigest()}


@dataclass
class Manifest:
    input: dict  # fingerprint()
    options: dict  # what decides the output's pixels and packets
    chunks: list[Chunk]
    done: list[int] = field(default_factory=list)  # indices of the chunks whose segments are complete
    ran: dict = field(default_factory=dict)  # what restored them (Resolved.record()): the same for all
    damaged: dict[str, str] = field(default_factory=dict)  # chunk index -> the first error its input showed

    def save(self, folder: Path) -> None:
        with write_atomically(folder / NAME) as tmp:
            with tmp.open("w") as f:
                json.dump(asdict(self), f)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename makes it the record

    def finish(self, index: int, folder: Path, files: list[Path], ran: dict, damage: str = "") -> None:
        """Chunk `index` is done: its `files` reach the disk before the record says so. A chunk
        restored otherwise than those before it (a resumed run on another machine or device, where
        `auto` chose another precision) is refused: one output, one model run."""
        refuse_another_run(index, folder, self.ran, ran)
        for path in files:
            with path.open("rb") as f:
                os.fsync(f.fileno())
        self.done, self.ran = sorted({*self.done, index}), ran
        if damage:
            self.damaged[str(index)] = damage  # (JSON keys are strings)
        self.save(folder)


def refuse_another_run(index: int, folder: Path, before: dict, ran: dict) -> None:
    """One line where chunk `index` runs otherwise than the chunks done `before` it ({}: none yet)."""
    if before and ran != before:
        changed = ", ".join(f"{k} {ran[k]} for {before.get(k)}" for k in sorted(ran) if ran[k] != before.get(k))
        raise UserError(f"chunk {index + 1} runs otherwise than the chunks done before it ({changed}); "
                        f"run it where they ran, or remove {folder} to start again")  # fmt: skip


def load(folder: Path) -> Manifest | None:
    try:
        raw = json.loads((folder / NAME).read_text())
        chunks = [Chunk(c["start"], tuple(c["frames"]), c["seek"]) for c in raw["chunks"]]
        if not all(type(index) is int for index in raw["done"]):  # a hand-edited "done": "3" failed at sorting
            raise TypeError("done: chunk numbers")
        return Manifest(raw["input"], raw["options"], chunks, raw["done"], raw.get("ran", {}), raw.get("damaged", {}))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{folder / NAME}: not a chunked run's record; remove {folder} to start again") from None


def begin(folder: Path, fresh: Manifest, resume: bool) -> Manifest:
    """The run's record: a new one, or with --resume the one in `folder`, if it is for the same
    input and options (else one line says what changed)."""
    found = load(folder) if folder.is_dir() else None
    if found is not None and not resume:
        raise UserError(f"{folder}: an unfinished chunked run of this output is there; pass --resume to go on "
                        "with it, or remove the folder to start again")  # fmt: skip
    if found is not None:
        if found.input != fresh.input:
            raise UserError(f"{folder}: was made from another input (its size or contents differ); "
                            "remove the folder to start again")  # fmt: skip
        if found.options.keys() != fresh.options.keys():
            raise UserError(f"{folder}: was made by another version of drrn-stream; remove the folder to start again")
        if changed := EnhanceOptions.changed(found.options, fresh.options):
            raise UserError(f"{folder}: was made with other options ({', '.join(changed)}); run it with the same "
                            "options, or remove the folder to start again")  # fmt: skip
        if found.chunks != fresh.chunks:
            raise UserError(f"{folder}: the input is now cut differently (another FFmpeg?); remove the folder to "
                            "start again")  # fmt: skip
        return found
    try:
        folder.mkdir(exist_ok=True)
        fresh.save(folder)
    except OSError as e:
        raise UserError(f"{folder}: cannot write the work folder there ({e.strerror})") from None
    return fresh
