"""The `drrn-stream` command line."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernels.inference import Precision, Restorer, resolve_device, resolve_precision
from kernels.tiling import Tiling
from kernels.weights import Weights, WeightsError, describe, load_drrn, read_weights, save_weights
from stream.errors import UserError
from stream.evaluate import evaluate_dataset, read_dataset

DEFAULT_TILE = 256
DEFAULT_HALO = Tiling.halo

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True)

WeightsOpt = Annotated[
    Path | None, typer.Option("--weights", help="Weights file (any supported format); default: the shipped weights.")
]
UnitsOpt = Annotated[
    int | None, typer.Option("--units", min=1, help="Recursive units (25 = B1U25); default: the weights' own.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def make_restorer(
    weights: Path | None, units: int | None, device: str, precision: Precision, tiling: Tiling
) -> tuple[Restorer, Weights]:
    try:
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
    except (ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None
    model, loaded = load_drrn(weights, units)
    return Restorer(model, dev, prec, tiling), loaded


@app.command("eval")
def eval_command(
    dataset: Annotated[list[Path], typer.Option("--dataset", help="Folder of HR images; repeat for several.")],
    scale: Annotated[list[int], typer.Option("--scale", min=2, max=4, help="Scale factor; repeat for several.")] = [2],  # noqa: B006
    weights: WeightsOpt = None,
    units: UnitsOpt = None,
    precision: Annotated[
        Precision, typer.Option("--precision", help="fp32, bf16 (CPU/CUDA), fp16 (CUDA), auto.")
    ] = "fp32",
    tile: Annotated[int | None, typer.Option("--tile", min=16, help="Tile size; default: whole images.")] = None,
    halo: Annotated[int, typer.Option("--halo", min=0, help="Context around each tile.")] = DEFAULT_HALO,
    whole: Annotated[bool, typer.Option("--whole", help="Whole images, no tiling (the default).")] = False,
    device: DeviceOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Score DRRN and bicubic on image folders: Y-channel PSNR/SSIM under the standard protocol."""
    if whole and tile is not None:
        raise UserError("--whole and --tile exclude each other")
    lumas = {folder.resolve().name: read_dataset(folder) for folder in dataset}  # bad input fails before model time
    restorer, loaded = make_restorer(weights, units, device, precision, Tiling(tile=tile, halo=halo, batch=4))
    err.print(
        f"[dim]{describe(loaded)} on {restorer.device} in {restorer.precision}, "
        f"{'whole images' if tile is None else f'tiles of {tile} with halo {halo}'}[/dim]"
    )
    results = []
    total = sum(len(images) for images in lumas.values()) * len(scale)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("evaluating", total=total)
        for name, images in lumas.items():
            for s in scale:
                progress.update(task, description=f"{name} x{s}")
                results.append(evaluate_dataset(restorer, name, images, s, on_image=lambda: progress.advance(task)))
    if as_json:
        print(json.dumps({"results": [dataclasses.asdict(r) for r in results]}))
        return
    table = Table(title=f"Y-channel PSNR (dB) / SSIM, {restorer.precision}")
    for column in ("dataset", "scale", "images", "bicubic", "DRRN", "seconds"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for r in results:
        table.add_row(
            r.dataset,
            f"x{r.scale}",
            str(r.images),
            f"{r.psnr_bicubic:.2f} / {r.ssim_bicubic:.4f}",
            f"{r.psnr:.2f} / {r.ssim:.4f}",
            f"{r.seconds:.1f}",
        )
    Console().print(table)


@app.command("convert")
def convert_command(
    src: Annotated[Path, typer.Argument(help="MXNet .params, upstream .pth checkpoint, state dict or safetensors.")],
    dst: Annotated[Path, typer.Argument(help="Output .safetensors file.")],
    units: Annotated[
        int | None, typer.Option("--units", min=1, help="Recursive units the weights were trained with.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("-y", "--overwrite", help="Replace an existing DST.")] = False,
) -> None:
    """Convert DRRN weights to drrn-stream's safetensors format (never runs code from SRC)."""
    if dst.suffix != ".safetensors":
        raise UserError(f"{dst}: the output must be a .safetensors file")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: exists; pass -y to replace it")
    loaded = read_weights(src)
    if units is not None:
        loaded.metadata["units"] = str(units)
    tmp = dst.with_name(f".{dst.name}.partial")
    try:
        save_weights(tmp, loaded)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    err.print(f"wrote {dst}: {describe(loaded)}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 1, never a traceback."""
    try:
        app()
    except (UserError, WeightsError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)
    except OSError as e:
        err.print(
            f"[red]error:[/red] {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("DRRN_STREAM_DEBUG"):
            raise
        err.print(
            f"[red]error:[/red] unexpected {type(e).__name__}: {e} (DRRN_STREAM_DEBUG=1 shows the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
