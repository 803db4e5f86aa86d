"""Medians and ratios of bench/bdh.sh's RESULT records: summarize.py RESULTS.jsonl COMMAND."""
import json
import os
import statistics
import sys
import time

REFERENCE = {  # the reference's quiet figures on this machine (shared/specs/bdh.md §8)
    ("anchor", "train", "torch"): "1,532",
    ("anchor", "generate 100", "torch, prefix re-run"): "104 (`generate()`)",
    ("anchor", "generate 100", "torch, recurrent"): "483 (recurrent PyTorch)",
    ("default", "train", "torch"): "28.9",
    ("default", "generate 100", "torch, prefix re-run"): "2.83 (`generate()`)",
    ("default", "generate 100", "torch, recurrent"): "7.45 (recurrent PyTorch, prompt included)",
}


def main():
    path, command = sys.argv[1], sys.argv[2]
    records = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for r in records:
        if r["what"].startswith("train, best"):
            continue
        by.setdefault((r["config"], r["what"], r["how"]), []).append(r["tokens_per_s_wall"])
    rows = sorted({(c, w) for c, w, _ in by})
    loads = [r["loadavg_1m"] for r in records]
    print("# BDH-GPU throughput: engram vs the PyTorch re-statement of the reference\n")
    print(f"`{command}`, {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(path)))}, {os.cpu_count()} cores, load average"
          f" {min(loads):.2f}–{max(loads):.2f}, one thread each side; tokens per wall second, median over"
          " passes (spread in brackets).\n")
    print("| config | measurement | engram | PyTorch (bdh_spec.py) | ratio | reference (spec §8) |")
    print("|---|---|---|---|---|---|")

    def cell(values):
        digits = 1 if max(values) < 100 else 0
        spread = f"{min(values):,.{digits}f}–{max(values):,.{digits}f}"
        return f"{statistics.median(values):,.{digits}f} ({spread})"

    for config, what in rows:
        engram = by.get((config, what, "Fused")) or by.get((config, what, "recurrent"))
        for how in ("torch", "torch, prefix re-run", "torch, recurrent"):
            torch_side = by.get((config, what, how))
            if not torch_side:
                continue
            ratio = f"{statistics.median(engram) / statistics.median(torch_side):.2f}×" if engram else ""
            label = what if how == "torch" else f"{what} ({how.split(', ')[1]})"
            print(f"| {config} | {label} | {cell(engram) if engram else ''} | {cell(torch_side)} "
                  f"| {ratio} | {REFERENCE.get((config, what, how), '')} |")


if __name__ == "__main__":
    main()
