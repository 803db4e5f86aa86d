"""Markdown report of bench/train.sh: engram vs snnTorch vs SpikingJelly training throughput.

Usage: python summarize.py RESULTS.jsonl [--out REPORT.md] [--command CMD] [--date DATE]
                           [--stat-start "cpu ..."] [--stat-end "cpu ..."]
RESULTS.jsonl holds one record per benchmark process (the JSON of its `RESULT` line) and, for a
library that could not run, {"lib": ..., "unavailable": "why"}. Per (library, threads, train|infer)
the per-repeat samples/s of every process are pooled: the table shows their median [min-max].
The --stat-* arguments are the first line of /proc/stat at the start and the end of the run
(for the CPU steal share). Uses only the standard library.
"""
import argparse
import collections
import json
import os
import statistics

NAMES = {"engram": "engram", "snntorch": "snnTorch", "sj_m": "SpikingJelly (multi-step)"}
ORDER = ["engram", "snntorch", "sj_m"]
TARGET = {"snntorch": 3.0, "sj_m": 2.0}  # issue 3: single-threaded training samples/s (CPU)


def load(path):
    recs, missing = [], collections.OrderedDict()
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if "unavailable" in r:
            missing.setdefault(r["lib"], r["unavailable"])
        elif "lib" in r and "what" in r:
            recs.append(r)
    return recs, missing


def agg(rs, key):
    vals = [v for r in rs for v in r.get(key) or []]
    if not vals:
        vals = [r["median_" + key.split("_")[-1]] for r in rs if ("median_" + key.split("_")[-1]) in r]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fmt(a):
    if a is None:
        return "–"
    med, lo, hi, n = a
    return f"**{med:.0f}** [{lo:.0f}–{hi:.0f}]" if n > 1 else f"**{med:.0f}**"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def steal_share(start, end):
    try:
        a = [int(x) for x in start.split()[1:]]
        b = [int(x) for x in end.split()[1:]]
    except (AttributeError, ValueError):
        return None
    d = [y - x for x, y in zip(a, b)]
    total = sum(d[:8])  # user nice system idle iowait irq softirq steal
    return d[7] / total if total > 0 and len(d) > 7 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    ap.add_argument("--out")
    ap.add_argument("--command", default="bash bench/train.sh")
    ap.add_argument("--date", default="")
    ap.add_argument("--stat-start")
    ap.add_argument("--stat-end")
    a = ap.parse_args()

    recs, missing = load(a.jsonl)
    groups = collections.defaultdict(list)
    for r in recs:
        groups[(r["lib"], int(r["threads"]), r["what"])].append(r)
    libs = [l for l in ORDER if any(k[0] == l for k in groups)] + sorted(
        {k[0] for k in groups} - set(ORDER))
    threads = sorted({k[1] for k in groups})
    med = {}  # (lib, threads, what, cpu|wall) -> median samples/s
    for k, rs in groups.items():
        for m in ("cpu", "wall"):
            x = agg(rs, "samples_per_s_" + m)
            if x:
                med[k + (m,)] = x[0]

    out = []
    w = out.append
    w("# Training throughput: engram vs snnTorch vs SpikingJelly")
    w("")
    w(f"Command: `{a.command}`" + (f", {a.date}" if a.date else ""))
    w("")
    r0 = recs[0] if recs else {}
    w(f"Workload: 784 → {r0.get('hidden', 1000)} LIF (β 0.95, subtractive reset) → 10 LIF, "
      f"T = {r0.get('T', 25)}, batch {r0.get('batch', 128)}, Adam 5e-4, cross-entropy on output spike counts, "
      "rate-coded real MNIST (a fresh Bernoulli draw per step, counted in the step; the first 64 batches "
      "of the training set, cycled). Train step = encode + forward over T + loss + BPTT + Adam; "
      "infer step = encode + forward + argmax.")
    w("")
    loads = [r["loadavg_1m"] for r in recs if isinstance(r.get("loadavg_1m"), (int, float))]
    st = steal_share(a.stat_start, a.stat_end)
    mach = f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs"
    if loads:
        mach += (f"; 1-minute load average during the runs {statistics.median(loads):.1f} "
                 f"[{min(loads):.1f}–{max(loads):.1f}]")
    if st is not None:
        mach += f"; CPU steal {100 * st:.0f} % of the CPU time over the run"
    w(mach + ".")
    w("")
    if loads and max(loads) > (os.cpu_count() or 1):
        w(f"**The machine was oversubscribed** (load above its {os.cpu_count()} CPUs): other jobs took cores "
          "during the runs, so every number is lower than on a free machine, and the multi-threaded ones "
          "are unreliable (likely PyTorch's OpenMP threads waiting for a descheduled partner at each parallel "
          "region: its 2-thread inference varied up to 10× between runs here). Compare the libraries within "
          "this run, not with other runs.")
        w("")
    w("samples/s: median [min–max] over every timed repeat of every process (libraries interleaved "
      "pass by pass). **CPU** = samples per second of process CPU time (all threads): with one thread, "
      "the speed of one free core, the primary metric on a shared machine. **wall** = samples per second "
      "of wall-clock time, which is what matters with 2 threads (there CPU time adds both threads). "
      "Peak RSS: the process's `ru_maxrss` (for PyTorch libraries about 550–600 MiB of that is `import torch`).")
    w("")
    w("| library | version | threads | train CPU | train wall | infer CPU | infer wall | peak RSS train / infer (MiB) |")
    w("|---|---|---|---|---|---|---|---|")
    for lib in libs:
        for th in threads:
            tr, inf = groups.get((lib, th, "train"), []), groups.get((lib, th, "infer"), [])
            if not tr and not inf:
                continue
            ver = (tr or inf)[0].get("version", "")
            rss = lambda rs: f"{max(r['peak_rss_mib'] for r in rs):.0f}" if rs else "–"
            w(f"| {NAMES.get(lib, lib)} | {ver} | {th} | {fmt(agg(tr, 'samples_per_s_cpu') if tr else None)} "
              f"| {fmt(agg(tr, 'samples_per_s_wall') if tr else None)} "
              f"| {fmt(agg(inf, 'samples_per_s_cpu') if inf else None)} "
              f"| {fmt(agg(inf, 'samples_per_s_wall') if inf else None)} | {rss(tr)} / {rss(inf)} |")
    for lib, why in missing.items():
        w(f"| {NAMES.get(lib, lib)} | not available: {why} | | | | | | |")
    w("")

    if "engram" in libs:
        w("Ratios engram / other (of the medians above):")
        w("")
        w("| threads | vs | train CPU | train wall | infer CPU | infer wall |")
        w("|---|---|---|---|---|---|")
        for th in threads:
            for other in ("snntorch", "sj_m"):
                if other not in libs:
                    continue
                cells = []
                for what in ("train", "infer"):
                    for m in ("cpu", "wall"):
                        e, o = med.get(("engram", th, what, m)), med.get((other, th, what, m))
                        cells.append(f"{e / o:.2f}×" if e and o else "–")
                w(f"| {th} | {NAMES[other]} | " + " | ".join(cells) + " |")
        w("")
        checks = []
        for other, want in TARGET.items():
            e, o = med.get(("engram", 1, "train", "cpu")), med.get((other, 1, "train", "cpu"))
            if e and o:
                got = e / o
                checks.append(f"{want:.0f}× {NAMES[other]}: {got:.2f}× ({'met' if got >= want else 'NOT met'})")
        if checks:
            w("Issue 3 target, single-threaded training samples/s (CPU): " + "; ".join(checks) + ".")
            w("")
        s1, s2 = med.get(("engram", 1, "train", "wall")), med.get(("engram", 2, "train", "wall"))
        i1, i2 = med.get(("engram", 1, "infer", "wall")), med.get(("engram", 2, "infer", "wall"))
        if s1 and s2:
            line = f"engram scaling 1 → 2 threads (wall): train {s2 / s1:.2f}×"
            if i1 and i2:
                line += f", infer {i2 / i1:.2f}×"
            w(line + " (on a shared 2-vCPU machine the second thread competes with everything else).")
            w("")
    text = "\n".join(out)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
