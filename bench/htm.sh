#!/usr/bin/env bash
# HTM speed: time per step of the temporal memory (2048 columns x 32 cells) in the two
# experiments of examples/htm/, single-threaded, and their results. Writes bench/htm_results.md.
#   bash bench/htm.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet
OUT="$ROOT/bench/work/htm"
mkdir -p "$OUT"
./target/release/engram htm examples/htm/sequences.toml --out "$OUT/sequences" --quiet
./target/release/engram htm examples/htm/stream.toml --out "$OUT/stream" --quiet
python3 - "$OUT" > bench/htm_results.md <<'PY'
import json, sys, os, subprocess, datetime
out = sys.argv[1]
seq = json.load(open(os.path.join(out, "sequences", "summary.json")))["results"]
st = json.load(open(os.path.join(out, "stream", "summary.json")))["results"]
git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# HTM benchmark\n")
print(f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by `bash bench/htm.sh` (git {git}, load average {os.getloadavg()[0]:.2f}).\n")
print("| experiment | time per step (µs) | result |")
print("|---|---|---|")
print(f"| high-order sequences, 20 000 elements (encode + TM + readout) | {seq['tm_step_us']:.0f} | "
      f"last-element accuracy {seq['accuracy_last_elements_before_switch']:.2f} before the swap at 10 000, "
      f"back at ≥ 0.95 by element {seq['first_window_at_0_95_after_switch']}, final {seq['accuracy_last_elements_final']:.2f} |")
m5 = [m for m in st["metrics"] if m["steps_ahead"] == 5][0]
print(f"| stream, {st['records']} records (encoders + SP + TM + classifier + likelihood) | {st['step_us']:.0f} | "
      f"5 steps ahead: NRMSE {m5['nrmse']:.3f} (shift baseline {m5['shift_baseline_nrmse']:.3f}), "
      f"MAPE {100*m5['mape']:.1f} % (shift {100*m5['shift_baseline_mape']:.1f} %) |")
PY
cat bench/htm_results.md
