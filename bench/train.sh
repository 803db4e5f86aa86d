#!/usr/bin/env bash
# Side-by-side training / inference throughput (issue 3): engram vs snnTorch vs SpikingJelly
# (multi-step), the same 784-1000-10 LIF network (T = 25, batch 128, Adam 5e-4, rate-coded MNIST),
# with 1 and 2 threads. Writes bench/train_results.jsonl (one RESULT record per process) and
# bench/train_results.md (the report, also printed).
#
#   bash bench/train.sh [--repeats N] [--batches N] [--infer-batches N] [--warmup N] [--inner N]
#                       [--libs "snntorch sj_m engram"] [--threads "1 2"] [--no-build]
#
#   --repeats N        interleaved passes (default 3). Each pass runs every library once per
#                      (threads, train|infer), rotating which library goes first, so slow phases of
#                      the shared machine hit every library alike.
#   --batches N        timed training batches per process (default 10)
#   --infer-batches N  timed inference batches per process (default 3 x --batches)
#   --warmup N         untimed batches per process (default 2)
#   --inner N          timed repeats inside each process (default 1)
#   --no-build         (or SKIP_BUILD=1) use the existing target/release/engram
#
# First run: creates the venv bench/.venv-snn (pip install torch==2.15.0 snntorch spikingjelly
# psutil). The PyPI torch wheel is built for CUDA and pulls about 3 GB of nvidia-*/triton wheels
# even for CPU use (the venv is about 6 GB); a CPU-only wheel is not on PyPI.
# Needs MNIST in data/mnist: bash scripts/fetch_data.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv-snn"
PY="$VENV/bin/python"
ENGRAM="$ROOT/target/release/engram"
CONFIG="$HERE/train/mnist_bench.toml"
JSONL="$HERE/train_results.jsonl"
REPORT="$HERE/train_results.md"

REPEATS=3 BATCHES=10 IBATCHES="" WARMUP=2 INNER=1
LIBS="snntorch sj_m engram" THREADS="1 2" BUILD=1
[[ "${SKIP_BUILD:-}" == 1 ]] && BUILD=0
CMD="bash bench/train.sh $*"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeats) REPEATS="$2"; shift 2 ;;
        --batches) BATCHES="$2"; shift 2 ;;
        --infer-batches) IBATCHES="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --inner) INNER="$2"; shift 2 ;;
        --libs) LIBS="${2//,/ }"; shift 2 ;;
        --threads) THREADS="${2//,/ }"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
IBATCHES="${IBATCHES:-$((3 * BATCHES))}"
read -r -a LIBA <<<"$LIBS"
for l in "${LIBA[@]}"; do
    case "$l" in snntorch|sj_m|engram) ;; *) echo "unknown library: $l (snntorch, sj_m, engram)" >&2; exit 2 ;; esac
done

if ! [[ -d "$ROOT/data/mnist" ]] || ! ls "$ROOT"/data/mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
    echo "MNIST not found in data/mnist: run  bash scripts/fetch_data.sh  first" >&2
    exit 1
fi

need_py=0
for l in "${LIBA[@]}"; do [[ "$l" != engram ]] && need_py=1; done
if [[ $need_py == 1 ]] && ! "$PY" -c 'import torch, snntorch, spikingjelly' >/dev/null 2>&1; then
    echo "== creating $VENV (torch 2.15.0 + snntorch + spikingjelly: about 3 GB to download)" >&2
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install -q -U pip
    "$PY" -m pip install -q torch==2.15.0
    "$PY" -m pip install -q snntorch spikingjelly psutil
fi
SUMPY="$PY"; [[ -x "$SUMPY" ]] || SUMPY=python3

ENGRAM_MISSING=""
if [[ " ${LIBA[*]} " == *" engram "* ]]; then
    if [[ $BUILD == 1 ]]; then
        (cd "$ROOT" && cargo build --release --quiet --bin engram) \
            || echo "warning: cargo build failed; using the existing binary if there is one" >&2
    fi
    if ! [[ -x "$ENGRAM" ]]; then ENGRAM_MISSING="target/release/engram not built"
    elif ! [[ -f "$CONFIG" ]]; then ENGRAM_MISSING="bench/train/mnist_bench.toml missing"
    elif ! "$ENGRAM" bench-train --help >/dev/null 2>&1; then ENGRAM_MISSING="no bench-train command in target/release/engram"
    fi
fi

: >"$JSONL"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
STAT0="$(head -1 /proc/stat)"
DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
if [[ -n "$ENGRAM_MISSING" ]]; then
    echo "engram: not available ($ENGRAM_MISSING)" >&2
    printf '{"lib": "engram", "unavailable": "%s"}\n' "$ENGRAM_MISSING" >>"$JSONL"
fi

# one benchmark process; appends its RESULT record to the jsonl
run_one() {  # lib what threads
    local lib="$1" what="$2" th="$3" nb="$BATCHES" line why
    [[ "$what" == infer ]] && nb="$IBATCHES"
    if [[ "$lib" == engram ]]; then
        [[ -n "$ENGRAM_MISSING" ]] && return 0
        (cd "$ROOT" && timeout 900 "$ENGRAM" bench-train "$CONFIG" --what "$what" --batches "$nb" \
            --repeats "$INNER" --warmup "$WARMUP" --threads "$th") >"$LOG" 2>&1 || true
    else
        timeout 900 "$PY" -W ignore "$HERE/train/bench_snn.py" --lib "$lib" --what "$what" \
            --threads "$th" --batches "$nb" --repeats "$INNER" --warmup "$WARMUP" >"$LOG" 2>&1 || true
    fi
    line="$(grep -m1 '^RESULT ' "$LOG" || true)"
    if [[ -n "$line" ]]; then
        echo "${line#RESULT }" >>"$JSONL"
        printf '  %-9s %-5s threads=%s  %s\n' "$lib" "$what" "$th" \
            "$(echo "${line#RESULT }" | "$SUMPY" -c 'import json,sys; r=json.load(sys.stdin); g=lambda k: r.get(k, float("nan")); print("samples/s cpu %.0f wall %.0f, peak RSS %.0f MiB" % (g("median_cpu"), g("median_wall"), g("peak_rss_mib")))')"
    else
        why="$(tail -n 1 "$LOG" | tr -d '"\\' | cut -c1-200)"
        echo "  $lib $what threads=$th: FAILED: $why" >&2
        printf '{"lib": "%s", "unavailable": "%s %s threads=%s failed: %s"}\n' "$lib" "$lib" "$what" "$th" "$why" >>"$JSONL"
    fi
}

summarize() {
    "$SUMPY" "$HERE/train/summarize.py" "$JSONL" --out "$REPORT" --command "$CMD" --date "$DATE" \
        --stat-start "$STAT0" --stat-end "$(head -1 /proc/stat)"
}

n=${#LIBA[@]}
for ((pass = 0; pass < REPEATS; pass++)); do
    echo "== pass $((pass + 1))/$REPEATS" >&2
    for th in $THREADS; do
        for what in train infer; do
            for ((k = 0; k < n; k++)); do
                run_one "${LIBA[$(((k + pass) % n))]}" "$what" "$th"
            done
        done
    done
    summarize >/dev/null   # the report survives an interrupted run
done
summarize
