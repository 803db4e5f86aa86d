#!/usr/bin/env bash
# Side-by-side BDH-GPU throughput (issue 6): engram and the PyTorch re-statement of the reference
# (bench/bdh/bench_torch.py over shared/anchors/bdh/bdh_spec.py), one thread each, alternating
# pass by pass. engram's training figure is `engram bdh train --threads 1` on the Shakespeare
# corpus (median tokens/s of the steps after the first, from metrics.csv); its generation figures
# come from the `step_bench` example (random weights). Writes bench/bdh_results.jsonl (one RESULT
# record per line) and bench/bdh_results.md (medians and ratios, also printed).
#
#   bash bench/bdh.sh [--repeats N] [--steps K] [--default] [--no-build]
#
#   --repeats N   interleaved passes (default 3); each runs both sides once per configuration,
#                 rotating which goes first
#   --steps K     timed training steps per process (default 8; 3 for the default config)
#   --default     also the default 25.3M configuration (a few minutes per pass: the PyTorch
#                 side trains at about 30 tokens/s and re-runs the prefix at about 3)
#   --no-build    (or SKIP_BUILD=1) use the existing target/release/engram and step_bench
#
# Needs the corpus (bash scripts/bdh_corpus.sh), the venv bench/.venv-snn with torch
# (bench/train.sh creates it; this script installs torch==2.15.0 into it if it is missing) and
# ../shared/anchors/bdh beside the repository.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv-snn"
PY="$VENV/bin/python"
SPEC="$ROOT/../shared/anchors/bdh"
STEP_BENCH="$ROOT/target/release/examples/step_bench"
ENGRAM="$ROOT/target/release/engram"
CORPUS="$ROOT/data/shakespeare/corpus.txt"
WORK="$HERE/work/bdh"
JSONL="$HERE/bdh_results.jsonl"
REPORT="$HERE/bdh_results.md"

REPEATS=3 STEPS=8 CONFIGS="anchor" BUILD=1
[[ "${SKIP_BUILD:-}" == 1 ]] && BUILD=0
CMD="bash bench/bdh.sh $*"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeats) REPEATS="$2"; shift 2 ;;
        --steps) STEPS="$2"; shift 2 ;;
        --default) CONFIGS="anchor default"; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! [[ -f "$SPEC/bdh_spec.py" ]]; then
    echo "$SPEC/bdh_spec.py not found: ../shared must be beside the repository" >&2
    exit 1
fi
if ! [[ -f "$CORPUS" ]]; then
    echo "$CORPUS not found: run  bash scripts/bdh_corpus.sh  first" >&2
    exit 1
fi
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "== creating $VENV with torch 2.15.0 (about 3 GB to download)" >&2
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install -q -U pip
    "$PY" -m pip install -q torch==2.15.0
fi
if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin engram \
        && cargo build --release --quiet -p engram-bdh --example step_bench)
fi
for binary in "$ENGRAM" "$STEP_BENCH"; do
    [[ -x "$binary" ]] || { echo "$binary not built" >&2; exit 1; }
done

# Training files: the anchor recipe (examples/bdh/small.toml) and the default model at batch 1,
# for the steps asked plus one (the first step, which allocates, is left out of the median).
mkdir -p "$WORK"
training_file() { # config steps
    local file="$WORK/$1.toml"
    sed -e "s|^steps = .*|steps = $(($2 + 1))|" -e 's|^eval_every = .*|eval_every = 100000|' \
        -e 's|^eval_batches = .*|eval_batches = 1|' -e 's|^final_eval_batches = .*|final_eval_batches = 1|' \
        -e 's|^checkpoint_every = .*|checkpoint_every = 100000|' -e "s|^corpus = .*|corpus = \"$CORPUS\"|" \
        "$ROOT/examples/bdh/small.toml" >"$file"
    if [[ "$1" == default ]]; then
        sed -i -e 's|^n_layer = .*|n_layer = 6|' -e 's|^n_embd = .*|n_embd = 256|' \
            -e 's|^mult = .*|mult = 128|' -e 's|^batch = .*|batch = 1|' "$file"
    fi
    echo "$file"
}
engram_training() { # config steps -> one RESULT line
    "$ENGRAM" bdh train "$(training_file "$1" "$2")" --threads 1 --out "$WORK/out-$1" --force --quiet
    python3 - "$WORK/out-$1/metrics.csv" <<'PY'
import csv, json, os, statistics, sys
rates = [float(r["tokens_per_s"]) for r in csv.DictReader(open(sys.argv[1]))][1:]
print("RESULT " + json.dumps({"what": "train", "how": "Fused",
      "tokens_per_s_wall": round(statistics.median(rates), 1),
      "loadavg_1m": os.getloadavg()[0]}))
PY
}

: >"$JSONL"
run() { # pass config side
    local pass="$1" config="$2" side="$3" steps="$STEPS" out
    [[ "$config" == default && "$STEPS" == 8 ]] && steps=3
    if [[ "$side" == engram ]]; then
        local flag=(); [[ "$config" == default ]] && flag=(--default)
        out="$(engram_training "$config" "$steps"
            "$STEP_BENCH" --steps 1 "${flag[@]}" | grep -v '"what": "train')"
    else
        local gen=(--generate 100 1000); [[ "$config" == default ]] && gen=(--generate 100)
        out="$("$PY" "$HERE/bdh/bench_torch.py" --spec-dir "$SPEC" --config "$config" \
            --steps "$steps" "${gen[@]}")"
    fi
    grep '^RESULT ' <<<"$out" | sed -e 's/^RESULT {/{"pass": '"$pass"', "config": "'"$config"'", /' >>"$JSONL"
    echo "pass $pass, $config, $side: done" >&2
}
for ((pass = 1; pass <= REPEATS; pass++)); do
    for config in $CONFIGS; do
        if ((pass % 2)); then run "$pass" "$config" engram; run "$pass" "$config" torch
        else run "$pass" "$config" torch; run "$pass" "$config" engram; fi
    done
done
python3 "$HERE/bdh/summarize.py" "$JSONL" "$CMD" | tee "$REPORT"
