#!/usr/bin/env bash
# COBA with pair STDP in Brian2 C++ standalone and engram, and the cost of STDP in engram.
# Uses the same bench/.venv as bench/run.sh (created there on first use). Writes bench/stdp_results.md.
#   bash bench/stdp.sh [--repeats N]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
if ! [[ -x "$HERE/.venv/bin/python" ]] || ! "$HERE/.venv/bin/python" -c 'import brian2' >/dev/null 2>&1; then
    bash "$HERE/run.sh" --list >/dev/null
fi
(cd "$ROOT" && cargo build --release --quiet)
cd "$HERE"
exec "$HERE/.venv/bin/python" "$HERE/stdp.py" "$@"
