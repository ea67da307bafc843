#!/usr/bin/env bash
# Every GPU check of the performance work in one device call: CUDA tests, bench, fp16 quality.
#
# 1. Here, beside ../shared (PyAV is not on the device machine, and ../shared does not travel):
#        benchmarks/gpu_check.sh prepare
#    puts a PyAV wheel for the device's Python 3.12, Set5 and the reference weights under
#    build/gpu-check/ (git ignores build/), about 37 MiB.
# 2. On the device machine (the device tool's `run`, carry ["build/gpu-check"], timeout ~480 s):
#        benchmarks/gpu_check.sh run
#    runs the CUDA and Triton tests, `drrn-stream bench` at 1280x720 in fp16 (and fp32 for
#    reference), and `drrn-stream eval` on Set5 x2 in fp16 and fp32 with the reference
#    weights; everything lands in $OUT (default build/gpu-check/out). DEVICE=cpu SIZE=64x48
#    FRAMES=3 UNITS=2 make a quick rehearsal on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
kit=build/gpu-check

case "${1:-}" in
prepare)
    mkdir -p "$kit/whl"
    av=$(python3 -c 'import av; print(av.__version__)')
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$kit/whl" "av==$av"
    rm -rf "$kit/Set5" && cp -r ../shared/data/Set5 "$kit/Set5"
    cp ../shared/reference-weights/drrn_b1u25_x234.mxnet.params "$kit/reference.params"
    du -sh "$kit"
    ;;
run)
    out=${OUT:-$kit/out}
    mkdir -p "$out"
    device=${DEVICE:-cuda}
    if [ "$device" != cpu ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$kit"/whl/*.whl
        export PYTHONPATH=/tmp/site
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
    fi
    export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    python=${PYTHON:-python3}
    cli() { "$python" -c 'import sys; from stream.cli import main; sys.argv[0] = "drrn-stream"; main()' "$@"; }
    "$python" -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)' \
        | tee "$out/versions.txt" || true
    "$python" -m pytest -q -p no:cacheprovider tests/test_fast_paths.py tests/test_triton_tiles.py 2>&1 \
        | tee "$out/tests.txt" || true
    size=${SIZE:-1280x720} frames=${FRAMES:-120} units=${UNITS:-25}
    for precision in ${PRECISIONS:-fp16 fp32}; do
        cli bench --device "$device" --precision "$precision" --size "$size" --frames "$frames" --units "$units" \
            --json > "$out/bench_$precision.json" || echo "bench $precision failed" >&2
        cat "$out/bench_$precision.json"
    done
    for precision in ${EVAL_PRECISIONS:-fp16 fp32}; do
        cli eval --dataset "$kit/Set5" --scale 2 --weights "$kit/reference.params" --device "$device" \
            --precision "$precision" --json > "$out/set5_x2_$precision.json" || echo "eval $precision failed" >&2
        cat "$out/set5_x2_$precision.json"
    done
    ;;
*)
    echo "usage: benchmarks/gpu_check.sh prepare | run" >&2
    exit 2
    ;;
esac
