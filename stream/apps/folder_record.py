"""What a folder run has done, kept (hidden) in its output folder, so that a run stopped after hours goes on with
--resume, as a chunked run does: the outputs it finished are kept, the one a stop cut short is made again, and the
rest are made. Each output is known by its size and modification time as the run left it: one changed since (by a
person, or another run) is not the run's, and is replaced only with -y, as any existing output is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import UserError
from stream.files import write_atomically
from stream.video.enhance import EnhanceOptions

RECORD = ".drrn-stream-folder.json"


def stamp(path: Path) -> list[int] | None:
    """An output as it is now: its size and modification time (ns); None where there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


@dataclass
class FolderRecord:
    path: Path
    options: dict  # EnhanceOptions.decisive() and the part asked for: a resume must be given the same
    done: dict[str, list[int]] = field(default_factory=dict)  # output name -> its stamp as finished
    cut: dict[str, list[int]] = field(default_factory=dict)  # the output a stop cut short -> its stamp then

    @classmethod
    def begin(cls, dst: Path, options: dict, resume: bool) -> FolderRecord:
        """With --resume the record of the run that stopped in `dst` (if there is one, for the same options);
        else a new one."""
        path = dst / RECORD
        if not resume or not path.is_file():
            return cls(path, options)
        try:
            found = json.loads(path.read_text())
            record = cls(path, found["options"], dict(found["done"]), dict(found["cut"]))
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{path}: not a folder run's record (damaged?); remove it to start again") from None
        if changed := EnhanceOptions.changed(record.options, options):
            raise UserError(f"{dst}: its run was made with other options ({', '.join(changed)}); run it with the same "
                            "options, or pass -y to make every file again")  # fmt: skip
        return record

    @property
    def stopped(self) -> bool:
        """Whether a run that stopped left this record (else none is there to go on with)."""
        return self.path.is_file()

    def kept(self, target: Path) -> bool:
        """Whether `target` is an output this run finished, as it left it."""
        return (now := stamp(target)) is not None and now == self.done.get(target.name)

    def ours(self, target: Path) -> bool:
        """Whether `target` was made by this run (finished, or cut short by a stop): it may be replaced."""
        return self.kept(target) or ((now := stamp(target)) is not None and now == self.cut.get(target.name))

    def finished(self, target: Path) -> None:
        self.done[target.name] = stamp(target) or []
        self.cut.pop(target.name, None)
        self.save()

    def stopped_in(self, target: Path) -> None:
        """A stop cut `target` short (or before anything of it was written)."""
        if (now := stamp(target)) is not None:
            self.cut[target.name] = now
        self.save()

    def close(self) -> None:
        """Every file done: no run is left to go on with."""
        self.path.unlink(missing_ok=True)

    def save(self) -> None:
        with write_atomically(self.path) as tmp:
            tmp.write_text(json.dumps({"options": self.options, "done": self.done, "cut": self.cut}))
