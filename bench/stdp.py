#!/usr/bin/env python3
"""COBA (4000 neurons, 1 s) with pair STDP on every excitatory synapse, in Brian2 C++ standalone
and in engram, in the same run; and the cost of STDP in engram (the same network without it).

    bash bench/stdp.sh            # creates bench/.venv (Brian2) if needed, then runs this

STDP: tau+ = tau- = 20 ms, A+ = 0.06 nS, A- = -0.063 nS, w_max = 12 nS, additive bounds,
all-to-all (Brian2: the same in units of the 10 nS leak conductance). Prints and writes
bench/stdp_results.md: loop times (median of --repeats), the ratio Brian2 / engram, firing
rates and the mean final excitatory weight in both.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

import numpy as np

import compare
from compare import HERE, ROOT, WORK, log, median

STDP = ('plasticity = { rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", '
        'a_plus = "0.06 nS", a_minus = "-0.063 nS", w_max = "12 nS" }')


def engram_models():
    """bench/work/models/coba_4000_1s.toml and its copy with STDP on the excitatory projections."""
    plain = os.path.join(WORK, "models", "coba_4000_1s.toml")
    compare.make_model_file(os.path.join(ROOT, "examples", "coba.toml"), plain, 4000, 0.02, 1.0)
    lines, out, in_exc = open(plain).read().split("\n"), [], False
    for ln in lines:
        if ln.strip() == "[[projections]]":
            in_exc = False
        if re.match(r'^\s*pre\s*=\s*"exc"', ln):
            in_exc = True
        out.append(ln)
        if in_exc and re.match(r"^\s*delay\s*=", ln):
            out.append(STDP)
    stdp = os.path.join(WORK, "models", "coba_4000_1s_stdp.toml")
    with open(stdp, "w") as f:
        f.write("# The same with pair STDP on the excitatory projections (bench/stdp.py).\n" + "\n".join(out))
    assert sum(1 for ln in out if ln.startswith("plasticity")) == 2, "STDP not added to both excitatory projections"
    return plain, stdp


def run_engram(engram, model, repeats, tag):
    runs = []
    out = os.path.join(WORK, "out", tag)
    for _ in range(repeats):
        subprocess.run([engram, "run", model, "--threads", "1", "--out", out, "--quiet"], check=True, cwd=ROOT)
        with open(os.path.join(out, "summary.json")) as f:
            runs.append(json.load(f))
    s = runs[-1]
    pops = {p["name"]: p for p in s["populations"]}
    rec = {"cpu_s": median(r["cpu_s"] for r in runs), "wall_s": median(r["wall_s"] for r in runs),
           "rate_e": pops["exc"]["rate_hz"], "rate_i": pops["inh"]["rate_hz"]}
    state = np.load(os.path.join(out, "state.npz"))
    weights = [state[k] for k in state.files if k.startswith("weights_") and not k.endswith(("_pre", "_post"))]
    if weights:
        w = np.concatenate(weights) / 10e-9  # in units of the leak conductance, as in Brian2
        rec.update(mean_w=float(w.mean()), sd_w=float(w.std()), at_zero=float(np.mean(w == 0)),
                   at_max=float(np.mean(w >= 1.2 - 1e-12)))
    return rec


def run_brian2(repeats):
    compare.WRAPPER = compare.build_wrapper()
    workdir = os.path.join(WORK, "brian2", "coba_4000_1s_stdp")
    cmd = [sys.executable, os.path.join(HERE, "brian2_run.py"), "--model", "coba", "--N", "4000", "--p", "0.02",
           "--duration", "1.0", "--seed", "1", "--repeats", str(repeats), "--workdir", workdir,
           "--wrapper", compare.WRAPPER, "--stdp"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"brian2 failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engram", default=os.path.join(ROOT, "target", "release", "engram"))
    args = ap.parse_args()
    plain, stdp = engram_models()
    log("engram: COBA without and with STDP")
    e_plain = run_engram(args.engram, plain, args.repeats, "coba_plain")
    e_stdp = run_engram(args.engram, stdp, args.repeats, "coba_stdp")
    log("brian2 cpp_standalone: COBA with STDP (build + runs)")
    b = run_brian2(args.repeats)
    bs = b["stats"]
    rows = [
        "| run | loop s (CPU) | rate E / I (Hz) | mean final w (g_L) | sd | at 0 | at w_max |",
        "|---|---|---|---|---|---|---|",
        f"| Brian2 2.9 cpp_standalone, STDP | {b['sim_loop_s']:.3f} | {bs['rate_exc_hz']:.2f} / {bs['rate_inh_hz']:.2f} | "
        f"{b['stdp']['mean_w']:.4f} | {b['stdp']['sd_w']:.4f} | {b['stdp']['at_zero']:.3f} | {b['stdp']['at_max']:.3f} |",
        f"| engram 1 thread, STDP | {e_stdp['cpu_s']:.3f} | {e_stdp['rate_e']:.2f} / {e_stdp['rate_i']:.2f} | "
        f"{e_stdp['mean_w']:.4f} | {e_stdp['sd_w']:.4f} | {e_stdp['at_zero']:.3f} | {e_stdp['at_max']:.3f} |",
        f"| engram 1 thread, no plasticity | {e_plain['cpu_s']:.3f} | {e_plain['rate_e']:.2f} / {e_plain['rate_i']:.2f} | 0.6 (fixed) | | | |",
    ]
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    text = "\n".join([
        "# COBA with pair STDP: engram vs Brian2",
        "",
        f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by `bash bench/stdp.sh` (git {git}; "
        f"median of {args.repeats} runs; load average {os.getloadavg()[0]:.2f}).",
        "",
        *rows,
        "",
        f"- Brian2 / engram loop time with STDP: **{b['sim_loop_s'] / e_stdp['cpu_s']:.2f}x**.",
        f"- Cost of STDP in engram: {e_stdp['cpu_s'] / e_plain['cpu_s']:.2f}x the same network without plasticity.",
        "- The networks are chaotic, so spikes differ between simulators; rates and the weight",
        "  distribution are what to compare.",
        "",
    ])
    print(text)
    with open(os.path.join(HERE, "stdp_results.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
