#!/usr/bin/env bash
# Side-by-side benchmark: engram vs Brian2 2.9.0 C++ standalone (single-threaded), same run.
#
#   bash bench/run.sh              # full series (COBA/CUBA 4000 at 1 s and 10 s, COBA scaling)
#   bash bench/run.sh --quick      # COBA + CUBA, N = 4000, T = 1 s only
#   bash bench/run.sh --configs coba_4000_1s,cuba_4000_1s --repeats 5
#   bash bench/run.sh --list       # show the configuration names
#
# Every argument is passed to bench/compare.py (see `bench/.venv/bin/python bench/compare.py --help`).
# Creates bench/.venv (Brian2 + numpy<2.4) on the first call; later calls reuse it.
# Environment: PYTHON (interpreter used to create the venv, default python3),
#              SKIP_BUILD=1 (do not run cargo build).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
BASE_PYTHON="${PYTHON:-python3}"

venv_ok() {
    [[ -x "$PY" ]] && "$PY" -c 'import brian2, numpy' >/dev/null 2>&1
}

if ! venv_ok; then
    echo "== creating $VENV (brian2, numpy<2.4)" >&2
    if [[ ! -x "$PY" ]]; then
        "$BASE_PYTHON" -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --upgrade pip
    # Brian2 2.9.0 is the newest release for Python 3.11; it fails to import with numpy >= 2.4
    # (numpy.ndarray.ptp was removed), hence the pin.
    "$PY" -m pip install --quiet brian2 'numpy<2.4'
    if ! venv_ok; then
        echo "error: brian2 does not import in $VENV:" >&2
        "$PY" -c 'import brian2' >&2 || true
        exit 1
    fi
else
    echo "== using existing $VENV" >&2
fi
"$PY" -c 'import brian2, numpy, sys; print(f"== brian2 {brian2.__version__}, numpy {numpy.__version__}, python {sys.version.split()[0]}")' >&2

for cc in gcc g++ make; do
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "error: $cc not found; Brian2's cpp_standalone device and bench/rusage_wrap.c need it" >&2
        exit 1
    fi
done

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    echo "== cargo build --release" >&2
    if ! (cd "$ROOT" && cargo build --release); then
        echo "error: cargo build --release failed (SKIP_BUILD=1 benchmarks the existing target/release/engram)" >&2
        exit 1
    fi
fi
if [[ ! -x "$ROOT/target/release/engram" ]]; then
    echo "error: $ROOT/target/release/engram not found (cargo build --release failed?)" >&2
    exit 1
fi

cd "$ROOT"
exec "$PY" "$HERE/compare.py" --engram "$ROOT/target/release/engram" "$@"
