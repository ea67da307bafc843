"""`drrn-stream in_dir out_dir`: every picture and video in a folder, each into a file of the same
name in the output folder (pictures stay pictures, videos stay videos).

A batch runs to its end: a file that fails is said in one line and the others still run; the
exit status says whether any failed. Outputs are checked before any model time, so a batch that
would replace files without -y stops at once rather than after hours of work.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kernels.choice import CONTENT_WORDS, ModelChoice, Resolved
from kernels.errors import reason
from kernels.pretrained import JUDGED_WEIGHTS
from stream.apps.folder_record import FolderRecord
from stream.apps.stills import pictures
from stream.console import console_for, counted, listed, loud, say
from stream.content import for_content
from stream.errors import FilesFailed, Interrupted, UserError
from stream.files import check_writable, is_hidden, is_picture, is_video
from stream.video.enhance import EnhanceOptions, enhance_file
from stream.video.targets import STDIO

PER_FILE = {"log": "--log", "reference": "--reference", "input_format": "--input-format",
            "output_format": "--output-format", "stream": "--stream"}  # fmt: skip


def enhance_folder(
    src: Path, dst: Path, options: EnhanceOptions, chunked: bool, console: Console, resume: bool = False
) -> None:
    """Every picture and video in `src` (not its subfolders or hidden files) into `dst`, made if
    missing; other files are skipped with a notice. A UserError at the end if any file failed.
    With `resume`, the files a run that stopped (or had failures) finished are kept (folder_record.py)."""
    check_options(src, options, chunked)
    media, others = folder_files(src)
    pairs = [(source, dst / source.name) for source in media]
    check_output_folder(src, dst)
    record = FolderRecord.begin(dst, decisive(options), resume and not options.overwrite)
    kept = {target for _, target in pairs if record.kept(target)}
    todo = [target for _, target in pairs if target not in kept]
    check_outputs([target for target in todo if not record.ours(target)], options.overwrite, record.stopped)
    dst.mkdir(exist_ok=True)
    check_writable(pairs[0][1])  # once for the folder, before any model time (each file had failed after its own)
    record.save()  # this run's, from its start (a record left by one before is replaced, unless resumed)
    for other in others:
        say(f"{other.name}: skipped, neither a picture nor a video", console)
    going_on = f" ({counted(len(kept), 'file')} done before, kept)" if kept else ""
    say(f"{src} -> {dst}: {counted(len(pairs), 'file')}{going_on}, x{options.scale}; {what_runs(options.model)}",
        console)  # fmt: skip
    failed = enhance_each(pairs, options, console, record, kept)
    say(f"wrote {len(todo) - len(failed)} of {counted(len(todo), 'file')} to {dst}", console)
    if failed:
        raise FilesFailed(f"{len(failed)} of {counted(len(todo), 'file')} failed (each said above); --resume runs "
                          "them again, keeping the others", failed)  # fmt: skip
    record.close()


def decisive(options: EnhanceOptions) -> dict:
    """What decides a folder run's outputs (a resume must be given the same): its files' and its part's."""
    part = {"start": str(options.start), "duration": None if options.duration is None else str(options.duration)}
    return options.decisive() | part


def what_runs(choice: ModelChoice) -> str:
    """The header's model: where each file's coding picks its weights, each set with the depth it runs at, and
    the precision where the sets differ in it (the compressed set's int8 is calibrated for fewer units: at 25 it
    runs in bf16, where the header, resolved for the clean set alone, had said int8 and no depth)."""
    if not choice.judged:
        return str(choice.resolve())
    sets: dict[Resolved, list[str]] = {}
    for kind, name in JUDGED_WEIGHTS.items():
        ran = for_content(choice, (kind, "judged")).resolve()  # as a file judged so runs
        sets.setdefault(dataclasses.replace(ran, weights=name, content=""), []).append(CONTENT_WORDS[kind])
    one_way = len({ran.how for ran in sets}) == 1
    each = [f"{ran.model} for {listed(words, 'or')} input" + ("" if one_way else f" in {ran.how}")
            for ran, words in sets.items()]  # fmt: skip
    first = next(iter(sets))
    return f"DRRN by each file's coding: {listed(each, 'or')}; on {first.device}" + (
        f" in {first.how}" if one_way else "") + f", {first.tiling}"  # fmt: skip


def check_options(src: Path, options: EnhanceOptions, chunked: bool) -> None:
    """What names one file's log, reference or streams means nothing for a folder: refused, not ignored."""
    given = [flag for name, flag in PER_FILE.items() if getattr(options, name) is not None]
    if given or chunked:
        flags = ", ".join(given + ["--chunk-seconds"] * chunked)
        raise UserError(f"{src}: a folder in takes no {flags} (they are for one file)")


def folder_files(src: Path) -> tuple[list[Path], list[Path]]:
    """The files in `src`, by name: (its pictures and videos, the others)."""
    files = sorted(p for p in src.iterdir() if is_a_file(p) and not is_hidden(p))
    media = [p for p in files if is_picture(p) or is_video(p)]
    if not media:
        raise UserError(f"{src}: no pictures or videos in it")
    return media, [p for p in files if p not in media]


def is_a_file(path: Path) -> bool:
    """A file, or a link to nothing (a file gone: it fails in its own line, where it was passed over in silence)."""
    return path.is_file() or (path.is_symlink() and not path.exists())


def check_output_folder(src: Path, dst: Path) -> None:
    """`dst` is a folder, or can be made (its parent exists); never the input folder itself."""
    if str(dst) == STDIO:
        raise UserError(f"{src}: a folder in is written to a folder, not to stdout")
    if dst.exists() and not dst.is_dir():
        raise UserError(f"{dst}: not a folder (a folder in is written to a folder)")
    if dst.is_dir() and os.path.samefile(src, dst):
        raise UserError(f"{dst}: is the input folder; the outputs would replace the inputs")
    if not dst.parent.is_dir():
        raise UserError(f"{dst.parent}: no such folder")


def check_outputs(targets: list[Path], overwrite: bool, stopped: bool = False) -> None:
    """Before any model time: no output exists unless -y, as for one file; where a run that stopped made them,
    --resume goes on with it."""
    existing = [target for target in targets if target.exists()]
    if folders := [target for target in existing if target.is_dir()]:  # -y cannot replace one: it was offered
        raise UserError(f"{folders[0]}: is a folder")
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        go_on = ", or --resume to go on with the run that stopped" if stopped else ""
        raise UserError(f"{existing[0]}: exists{more}; pass -y to replace {'them' if more else 'it'}{go_on}")


def enhance_each(pairs: list[tuple[Path, Path]], options: EnhanceOptions, console: Console, record: FolderRecord,
                 kept: set[Path]) -> dict[Path, str]:  # fmt: skip
    """Each file in turn (but those `kept` from a run before) under one bar over the files on a terminal;
    elsewhere (a log, a pipe), where rich draws nothing, a plain line per file. Failures and warnings show even
    with --quiet; each file done, or cut short by a stop, goes into the `record`. -> each failed input, and why."""
    heard = loud(console)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
               TimeRemainingColumn())  # fmt: skip
    failed: dict[Path, str] = {}
    with Progress(*columns, console=console, transient=True, disable=console.quiet or not console.is_terminal) as bar:
        task = bar.add_task("", total=len(pairs), completed=len(kept))
        for n, (source, target) in enumerate(pairs, 1):
            if target in kept:
                continue
            bar.update(task, description=source.name)
            try:
                ours = record.ours(target)  # cut short by the stop before: replaced without -y
                warning = enhance_one(source, target, dataclasses.replace(options, overwrite=True) if ours else options)
                record.finished(target)
                if warning:
                    say(f"warning: {warning}", heard, style="yellow")
                if not console.is_terminal:
                    say(f"[{n}/{len(pairs)}] {source.name} -> {target}", console)
            except Interrupted as e:  # stops the batch, saying what it left
                record.stopped_in(target)
                left = e.left or f"{target} not written"
                raise Interrupted(e.signum, f"{n - 1} of {counted(len(pairs), 'file')} done; {left}; the same "
                                  "command with --resume goes on") from None  # fmt: skip
            except Exception as e:  # one file's failure, whatever it is, leaves the others to run
                failed[source] = reason(e)
                say(f"[{n}/{len(pairs)}] {source.name}: failed ({failed[source]})", heard, style="red")
            bar.advance(task)
    return failed


def enhance_one(source: Path, target: Path, options: EnhanceOptions) -> str:
    """One file, its own messages kept quiet (the batch says how it went). -> a video's damage
    warning or a picture's lost metadata, or ""; a stop signal stops the batch."""
    quiet = console_for(quiet=True)
    if is_picture(source):
        return pictures(str(source), str(target), options, quiet, warn=False)  # said by the batch
    stats = enhance_file(source, target, options, quiet)
    if stats.interrupted:  # what it wrote is kept, playable, as one file's run keeps it
        raise Interrupted(stats.signal, f"kept {target} cut short ({counted(stats.frames, 'frame')})")
    return stats.damage
