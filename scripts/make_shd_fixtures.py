#!/usr/bin/env python3
"""Write the two small SHD-layout HDF5 fixtures read by crates/engram-train/tests/shd/.

Made with h5py 3.16.0 (HDF5 2.0.0) and numpy 2.4.6, in a throwaway venv:

    python3 -m venv /tmp/h5venv && /tmp/h5venv/bin/pip install h5py numpy
    /tmp/h5venv/bin/python scripts/make_shd_fixtures.py crates/engram-train/tests/fixtures

The layout is that of the Spiking Heidelberg Digits files (shd_train.h5, shd_test.h5):
`spikes/times` and `spikes/units` are 1-D datasets of variable-length arrays (one per sample),
`labels` one integer per sample, and `extra/` holds speaker, keys and meta_info. Both files use
h5py's defaults (superblock v0, v1 object headers, symbol-table groups, vlen data in global heap
collections):

- shd_h5py_f32.h5: float32 times, contiguous storage (as SHD's own files are written).
- shd_h5py_f16_gzip.h5: float16 times, every dataset chunked and gzip-compressed.

The content is a formula the Rust test recomputes (`expected_samples` there): sample i has
COUNTS[i] spikes; spike j is at time (j + 1) / 64 + i / 256 seconds (exact in float16) on
unit (37 j + 101 i) mod 700; its label is 3 i mod 20. Sample 1 has no spikes.
"""

import sys
from pathlib import Path

import h5py
import numpy as np

COUNTS = [3, 0, 7, 1, 12]
CHANNELS = 700


def samples():
    times, units, labels = [], [], []
    for i, n in enumerate(COUNTS):
        j = np.arange(n)
        times.append((j + 1) / 64 + i / 256)
        units.append((37 * j + 101 * i) % CHANNELS)
        labels.append(3 * i % 20)
    return times, units, labels


def write(path, time_dtype, **storage):
    times, units, labels = samples()
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        t = spikes.create_dataset(
            "times", (len(times),), dtype=h5py.vlen_dtype(time_dtype), **storage
        )
        u = spikes.create_dataset(
            "units", (len(units),), dtype=h5py.vlen_dtype(np.uint16), **storage
        )
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i] = ti.astype(time_dtype)
            u[i] = ui.astype(np.uint16)
        f.create_dataset("labels", data=np.array(labels, dtype=np.uint16), **storage)
        extra = f.create_group("extra")
        extra.create_dataset("speaker", data=np.arange(len(labels), dtype=np.uint16))
        extra.create_dataset("keys", data=["zero", "one", "two"], dtype=h5py.string_dtype())
        meta = extra.create_group("meta_info")
        meta.create_dataset("gender", data=["female", "male"], dtype=h5py.string_dtype())


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    write(out / "shd_h5py_f32.h5", np.float32)
    write(out / "shd_h5py_f16_gzip.h5", np.float16, chunks=(2,), compression="gzip")


if __name__ == "__main__":
    main()
