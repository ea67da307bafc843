#!/usr/bin/env bash
# Train DRRN (x2, x3, x4 in one model) on a lent GPU machine, where ../shared does not travel.
#
# 1. Here, beside ../shared: pack the 291 training images and Set5 as uint8 luma into build/
#    (git ignores it), checking that they fit what a device call may carry (64 MiB in all):
#        benchmarks/train_gpu.sh pack
# 2. On the device machine (the device tool's `run`, carry ["build/train291.npz", "build/set5.npz"]):
#        benchmarks/train_gpu.sh train MINUTES [more `drrn-stream train` options]
#    trains on CUDA for MINUTES (data and augmentation on the GPU), validates on Set5 every
#    $VAL_EVERY steps, and writes last.pt, best.safetensors, curve.jsonl and train.log to $OUT.
#    E.g. `train 8 --optimizer adam --steps 12000 --schedule cosine`. To continue a run, carry
#    its last.pt (say as build/last.pt) and add `--resume build/last.pt` with the same options.
# Environment: DEVICE (default cuda), PRECISION (default auto: fp16 with loss scaling on CUDA),
# VAL_EVERY (default 500), OUT (default build/train-run).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3  # the device machine's python3 holds torch; nothing is installed there

# `drrn-stream train` without stream.cli, whose other commands import PyAV (absent on the device machine).
drrn_train() {
    PYTHONPATH=. "$python" -c '
import sys
import typer
from stream.errors import UserError
from stream.train import train_command
try:
    typer.run(train_command)
except UserError as e:
    sys.exit(f"error: {e}")
' "$@"
}

case "${1:-}" in
pack)
    drrn_train --data ../shared/data/train --pack build/train291.npz
    drrn_train --data ../shared/data/Set5 --pack build/set5.npz
    bytes=$(cat build/train291.npz build/set5.npz | wc -c)
    if [ "$bytes" -gt $((56 * 1024 * 1024)) ]; then
        echo "error: the packed data is $((bytes / 1024 / 1024)) MiB; a device call carries 64 MiB with the tree" >&2
        exit 1
    fi
    echo "packed $((bytes / 1024)) KiB to carry: build/train291.npz build/set5.npz"
    ;;
train)
    minutes=${2:?usage: benchmarks/train_gpu.sh train MINUTES [options]}
    shift 2
    out=${OUT:-build/train-run}
    mkdir -p "$out"
    if [ "${DEVICE:-cuda}" != cpu ]; then
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/train.log"
    fi
    PYTHONUNBUFFERED=1 drrn_train --data build/train291.npz --val-data build/set5.npz --out "$out" \
        --minutes "$minutes" --device "${DEVICE:-cuda}" --precision "${PRECISION:-auto}" \
        --val-every "${VAL_EVERY:-500}" --log-every 50 "$@" 2>&1 | tee -a "$out/train.log"
    ;;
*)
    echo "usage: benchmarks/train_gpu.sh pack | train MINUTES [drrn-stream train options]" >&2
    exit 2
    ;;
esac
