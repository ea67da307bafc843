#!/usr/bin/env bash
# The GPU-window kit: every minute of a lent GPU turned into better shipped weights and GPU checks.
#
# Here, beside ../shared, once:        benchmarks/gpu_window.sh prepare
#   packs the 291 training images and Set5 into build/gpu-window/train/, with coded LR of both (x264
#   and x265 at random CRFs, kernels, intra and inter: what a real-input run trains and validates on);
#   Set5, Set14 (as luma), the reference weights and the first frames of ../shared/data/video (whole, and
#   benchmarks/degraded.py's coded LR of their centre crops) into build/gpu-window/eval/; a PyAV
#   wheel for the device's Python 3.12 into build/gpu-window/whl/ (~36 MiB).
# Two runs continue window after window, each a STATE folder: training/real-input (the weights for
# compressed input trained on coded LR, issue #22: the first use of a window) and training/b1u25-x234
# (the paper-protocol run, the default STATE). A recipe with --coded-share trains on the coded LR.
# On the GPU machine, back to back while it is warm (the device tool's `run`):
#   1. benchmarks/gpu_window.sh train   carry ["build/gpu-window/train", "build/gpu-window/eval"], timeout_s 560
#      resumes training/b1u25-x234/last.pt (or starts the recipe in training/b1u25-x234/recipe.args)
#      for MINUTES (default 7) of steps, validating and checkpointing every minute into $OUT, then
#      reports the best weights (benchmarks.window_eval: Set5, Set14, depth table, clips).
#   Here:  benchmarks/gpu_window.sh collect FILES_AT   (state, curve and report into training/b1u25-x234)
#   2. benchmarks/gpu_window.sh check   carry ["build/gpu-window/whl", "build/gpu-window/eval/Set5",
#      "build/gpu-window/eval/reference.params"] (what it reads of eval: the wheel is 35 MiB), timeout_s 420
#      the CUDA and Triton tests, Set5 x2 fp16 against fp32 with the reference weights, live at 640x480
#      within 40 ms, benchmarks.gpu_probe (the CUDA paths side by side), bench at 1280x720, and
#      benchmarks.train_probe (training steps a second by batch size, and where a step's time goes).
#   3. Minutes left: `train` again with MINUTES=N (then `collect` again).
# A third run, training/real-input-heavy (the weights for heavily compressed input), trains on LR coded at
# CRF 27-40 alone: its kit is another folder, prepared with CRF=27-40 CODECS=x264,x265 KIT=build/gpu-window-heavy (and carried
# as such: ["build/gpu-window-heavy/train", "build/gpu-window-heavy/eval"]); training/README.md.
# Environment: DEVICE (cuda; cpu rehearses), MINUTES, STATE (training/b1u25-x234), KIT (build/gpu-window),
# CRF, CODECS (prepare: the coded LR's CRF band, 18-36, and codecs, x264,x265,jpeg; a STATE's coded.crf and
# coded.codecs say what its run trains on, the same by default),
# DATA (../shared/data), REFERENCE (the reference weights), NO_WHEEL (prepare: skip the download), PYTHON,
# SAVE_MINUTES (1; 6 where DEVICE=cpu), VAL_UNITS (depths validated besides the run's own: 9 where it is deeper,
# else none), OUT (the device tool sets it), and for a small rehearsal: REPORT_UNITS, SCALES (the report), SIZE,
# FRAMES, UNITS, EVAL_PRECISIONS, BENCH_PRECISION, LIVE_SIZE, LIVE_FRAMES, LIVE_BUDGET, TRAIN_PROBE (more
# train_probe options) (the check).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=${KIT:-build/gpu-window}
state=${STATE:-training/b1u25-x234}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
data=${DATA:-../shared/data}
reference=${REFERENCE:-../shared/reference-weights/drrn_b1u25_x234.mxnet.params}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

# The CLI runs from the tree as `python -m stream` (nothing is installed on the GPU machine);
# its train command needs no PyAV, which the GPU machine lacks.

machine() {  # what ran it, for the record
    date -u +%FT%TZ
    if [ "$device" = cpu ]; then echo "cpu: $(nproc) cores"; else
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
    fi
    "$python" -c 'import torch; print("torch", torch.__version__)'
}

case "${1:-}" in
prepare)
    mkdir -p "$kit/train" "$kit/eval" "$kit/whl"
    "$python" -m stream train --data "$data/train" --pack "$kit/train/train291.npz" -y
    "$python" -m stream train --data "$data/Set5" --pack "$kit/train/set5.npz" -y
    coded=(--crf "${CRF:-18-36}" --codecs "${CODECS:-x264,x265,jpeg}")
    "$python" -m stream train --data "$kit/train/train291.npz" --pack-coded "$kit/train/coded291.npz" --variants "${VARIANTS:-1}" \
        "${coded[@]}" -y
    "$python" -m stream train --data "$kit/train/set5.npz" --pack-coded "$kit/train/set5_coded.npz" --seed 1 "${coded[@]}" -y
    rm -rf "$kit/eval/Set5" "$kit/eval/Set14" && cp -r "$data/Set5" "$kit/eval/Set5"  # the check's eval reads a folder
    "$python" -m stream train --data "$data/Set14" --pack "$kit/eval/Set14.npz" -y  # the report's: its luma, a third the size
    cp "$reference" "$kit/eval/reference.params"
    "$python" -m benchmarks.window_eval pack-clips "$data/video" "$kit/eval/clips.npz" --frames 4 --coded \
        --skip sintel.mp4:300  # its first 15 frames are black, the next ~100 a fade-in
    if [ -z "${NO_WHEEL:-}" ]; then
        av=$("$python" -c 'import av; print(av.__version__)')
        rm -f "$kit"/whl/*.whl
        "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$kit/whl" "av==$av"
        compgen -G "$kit/whl/*.whl" > /dev/null || { echo "error: no PyAV wheel in $kit/whl" >&2; exit 1; }
    fi
    tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
    # Room under the device's 64 MiB: 1 for the docs growing between sessions, and 6 more where no run's state is
    # in the tree yet, which a window's `collect` adds (last.pt and best.safetensors) before its next call
    room=1; git ls-files -co --exclude-standard | grep -q '/last\.pt$' || room=7
    for call in "train eval" "whl eval/Set5 eval/reference.params"; do
        bytes=$tree; for part in $call; do bytes=$((bytes + $(du -sb "$kit/$part" | cut -f1))); done
        echo "carrying $call: $((bytes / 1048576)) MiB with the tree (a call carries at most 64)"
        [ "$bytes" -lt $(((64 - room) * 1048576)) ] || { echo "error: too much to carry in one call" >&2; exit 1; }
    done
    ;;
train)
    minutes=${MINUTES:-7}
    out=${OUT:-$kit/out-train}
    mkdir -p "$out"
    machine | tee "$out/train.log"
    mapfile -t recipe < <(grep -v '^#' "$state/recipe.args" | tr ' ' '\n' | grep .)
    compare=()
    if grep -q -- '--coded-share' "$state/recipe.args"; then  # a real-input run: coded LR to train and choose on
        recipe+=(--coded "$kit/train/coded291.npz" --val-coded "$kit/train/set5_coded.npz")
        # the CRF band and codecs the run trains on
        want="CRF $(cat "$state/coded.crf" 2>/dev/null || echo 18-36)"
        want="$want $(cat "$state/coded.codecs" 2>/dev/null || echo x264,x265,jpeg)"
        for pack in coded291 set5_coded; do  # a window on another mix's LR would be a window lost
            have=$("$python" -c "import json, sys, numpy as np; m = json.loads(str(np.load(sys.argv[1])['mix'])); \
print(f'CRF {m[\"crf\"][0]}-{m[\"crf\"][1]}', ','.join(m['codecs']))" "$kit/train/$pack.npz")
            [ "$have" = "$want" ] || { echo "error: $state trains on $want; $kit/train/$pack.npz is $have" \
                "(prepare with its CRF= and CODECS= and its own KIT)" >&2; exit 1; }
        done
        # the shipped sets for compressed and heavily compressed input: what such a run must beat
        mapfile -t compare < <("$python" -c "from kernels.pretrained import JUDGED_WEIGHTS as j
print('--compare', j['compressed'], '--compare', j['heavy'], sep='\n')")
    fi
    resume=()
    if [ -f "$state/curve.jsonl" ] && [ ! -f "$state/last.pt" ]; then  # lost or never committed: no silent restart
        echo "error: $state has a run under way (curve.jsonl) but no last.pt: restore it (git, or carry it)," \
            "or move the run's files aside to start its recipe afresh" >&2; exit 1
    fi
    if [ -f "$state/last.pt" ]; then  # the run so far: its curve goes on, its best stays best until beaten
        resume=(--resume "$state/last.pt")
        cp "$state/curve.jsonl" "$state/best.safetensors" "$out/"
    fi
    # SIGTERM (timeout's) makes the trainer stop after the current step and save; KILL only if it hangs.
    # Validation and checkpoints come every SAVE_MINUTES, not every N steps (--val-every 0): each minute on a GPU,
    # every 6 on a CPU, where one validation of a 9-unit run takes 1.5 minutes of a 2-core EPYC; a run deeper
    # than 9 units is also validated at 9 (VAL_UNITS), a shallower one at its own depth alone.
    depth=$(grep -v '^#' "$state/recipe.args" | grep -oP -- '--units \K[0-9]+' || echo 25)
    if [ "$depth" -gt 9 ]; then val_units=${VAL_UNITS-9}; else val_units=${VAL_UNITS-}; fi
    # The trainer stops itself after MINUTES and validates once more; the limit leaves it time for that (seconds
    # on a GPU, 1.5 minutes of a 2-core CPU at 9 units) before SIGTERM, and it saves its steps before validating.
    if [ "$device" = cpu ]; then
        save_minutes=${SAVE_MINUTES:-6} grace=240
    else
        save_minutes=${SAVE_MINUTES:-1} grace=60
    fi
    limit=$("$python" -c "print(round(float('$minutes') * 60) + $grace)")
    timeout -k 30 "$limit" "$python" -m stream train \
        --data "$kit/train/train291.npz" --val-data "$kit/train/set5.npz" --out "$out" --minutes "$minutes" \
        --val-every 0 --save-minutes "$save_minutes" --val-units "$val_units" --device "$device" --log-every 50 \
        "${recipe[@]}" "${resume[@]}" 2>&1 | tee -a "$out/train.log" \
        || echo "the trainer ended with status $? (124: stopped by the time limit)"
    "$python" -m benchmarks.window_eval record "$out" "$state" | tee -a "$out/train.log"
    scales=(); for s in ${SCALES:-2 3 4}; do scales+=(--scale "$s"); done
    left=$((540 - SECONDS))  # of the call's 560 s: the report gets what the trainer left, at least a minute
    timeout -k 10 $((left > 60 ? left : 60)) "$python" -m benchmarks.window_eval report --weights "$out/best.safetensors" \
        --images "$kit/eval/Set5" --images "$kit/eval/Set14.npz" --clips "$kit/eval/clips.npz" \
        --compare "$kit/eval/reference.params" --compare drrn-b1u25-x234 "${compare[@]}" "${scales[@]}" \
        ${REPORT_UNITS:+--units $REPORT_UNITS} --device "$device" --json "$out/report.json" 2>&1 | tee -a "$out/train.log"
    ;;
collect)
    from=${2:?usage: benchmarks/gpu_window.sh collect DIR (what the train call wrote to OUT)}
    for file in last.pt curve.jsonl best.safetensors window.json train.log; do
        [ -f "$from/$file" ] || { echo "error: $from has no $file; nothing collected" >&2; exit 1; }
    done
    mkdir -p "$state/logs"
    cp --no-preserve=mode "$from/last.pt" "$from/curve.jsonl" "$from/best.safetensors" "$state/"
    cat "$from/window.json" >> "$state/windows.jsonl"
    stamp=$(date -u +%Y%m%dT%H%M)
    cp --no-preserve=mode "$from/train.log" "$state/logs/$stamp-train.log"
    [ ! -f "$from/report.json" ] || cp --no-preserve=mode "$from/report.json" "$state/logs/$stamp-report.json"
    tail -1 "$state/windows.jsonl"
    ;;
check)
    out=${OUT:-$kit/out-check}
    mkdir -p "$out"
    log="$out/check.log"
    machine > "$log"
    if [ "$device" != cpu ]; then
        "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$kit"/whl/*.whl >> "$log" 2>&1 \
            || echo "== PyAV did not install: the tests and bench that need it fail below" >> "$log"
        export PYTHONPATH=$PYTHONPATH:/tmp/site
    fi
    step() {  # name, seconds, command...: one step of the check, logged, never fatal to the others
        local name=$1 limit=$2; shift 2
        echo "== $name" >> "$log"
        timeout -k 10 "$limit" "$@" 2>>"$log" || echo "== $name failed or timed out (exit $?)" >> "$log"
    }
    step tests 150 "$python" -m pytest -q -p no:cacheprovider tests/kernels/test_fast_paths.py tests/kernels/test_triton_tiles.py >> "$log"
    for precision in ${EVAL_PRECISIONS:-fp16 fp32}; do
        step "reference Set5 x2 $precision" 60 "$python" -m stream eval --dataset "$kit/eval/Set5" --scale 2 \
            --weights "$kit/eval/reference.params" ${UNITS:+--units $UNITS} --device "$device" \
            --precision "$precision" --json > "$out/reference_set5_x2_$precision.json"
    done
    live_clip=$(mktemp --suffix=.mp4)  # the live preview's GPU case: 640x480 -> 1280x960 within 40 ms
    step "live clip" 30 "$python" -c "from pathlib import Path; from stream.bench.synthetic import write_clip; \
write_clip(Path('$live_clip'), *map(int, '${LIVE_SIZE:-640x480}'.split('x')), 300, fps=30)"
    step "live ${LIVE_BUDGET:-40} ms" 90 "$python" -m stream live "$live_clip" --no-window --device "$device" \
        --frames "${LIVE_FRAMES:-150}" --latency-ms "${LIVE_BUDGET:-40}" ${UNITS:+--units $UNITS} >> "$log"
    if [ "$device" != cpu ]; then  # the CUDA paths side by side: nothing to compare on a CPU rehearsal
        step "probe" 120 "$python" -m benchmarks.gpu_probe --set5 "$kit/eval/Set5" --json "$out/gpu_probe.json" >> "$log"
    fi
    step "bench fp16" 120 "$python" -m stream bench --device "$device" --precision "${BENCH_PRECISION:-fp16}" \
        --size "${SIZE:-1280x720}" ${FRAMES:+--frames $FRAMES} ${UNITS:+--units $UNITS} --json > "$out/bench.json"
    step "train probe" 90 "$python" -m benchmarks.train_probe --device "$device" ${UNITS:+--units $UNITS} \
        ${TRAIN_PROBE:-} --json "$out/train_probe.json" >> "$log"
    cat "$log"
    ;;
*)
    echo "usage: benchmarks/gpu_window.sh prepare | train | collect DIR | check" >&2
    exit 2
    ;;
esac
