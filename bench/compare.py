"""Side-by-side benchmark of engram against Brian2 2.9.0 C++ standalone, in the same run.

Normally started by bench/run.sh (which creates the venv and builds engram):

  bash bench/run.sh                       # everything (see --list)
  bash bench/run.sh --quick               # coba_4000_1s and cuba_4000_1s
  bash bench/run.sh --configs scaling --repeats 5
  bench/.venv/bin/python bench/compare.py --configs cuba_4000_1s --skip brian2   # engram only

For every configuration:
  Brian2   bench/brian2_run.py in a fresh process: cpp_standalone, openmp_threads = 0, built once
           (bench/work/brian2/<config>), then the binary is run --repeats times. Loop time =
           Brian2's own timer (device._last_run_time), which is std::clock() CPU time when OpenMP
           is off. The whole binary's wall time and peak RSS are recorded too.
  engram   target/release/engram run MODEL --threads K --seed S --out DIR --quiet, --repeats
           times for each K in --threads (default 1,2). Loop time = summary.json `wall_s` (wall
           clock of the simulation loop only). The process's wall time and peak RSS (setup and
           output writing included) are recorded too.
Timings are medians over the repeats. The model files for engram are generated into
bench/work/models/ from examples/coba.toml / examples/cuba.toml (sizes 0.8 N / 0.2 N, p,
duration; the [monitors] table is cut down to the spike monitor, which Brian2 has too).

Outputs: a markdown report on stdout and in bench/results.md, one JSON line per configuration
in bench/results.jsonl (both rewritten after every configuration, so an interrupted run keeps
what it finished; --append keeps earlier lines of results.jsonl).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
WRAPPER = None  # bench/work/rusage_wrap, compiled from bench/rusage_wrap.c in main()

# name -> (model, N, p, T seconds)
CONFIGS = {
    "coba_4000_1s": ("coba", 4000, 0.02, 1.0),
    "cuba_4000_1s": ("cuba", 4000, 0.02, 1.0),
    "coba_4000_10s": ("coba", 4000, 0.02, 10.0),
    "cuba_4000_10s": ("cuba", 4000, 0.02, 10.0),
    # COBA scaling with the in-degree fixed at 80: p = 80 / N (N = 4000 is coba_4000_1s)
    "coba_16000_1s": ("coba", 16000, 80 / 16000, 1.0),
    "coba_64000_1s": ("coba", 64000, 80 / 64000, 1.0),
    "coba_256000_1s": ("coba", 256000, 80 / 256000, 1.0),
}
GROUPS = {
    "quick": ["coba_4000_1s", "cuba_4000_1s"],
    "n4000": ["coba_4000_1s", "cuba_4000_1s", "coba_4000_10s", "cuba_4000_10s"],
    "scaling": ["coba_4000_1s", "coba_16000_1s", "coba_64000_1s", "coba_256000_1s"],
    "all": list(CONFIGS),
}
# Reference bands at N = 4000, T = 1 s: the range of 44 single runs of Brian2 / BrainPy / NEST
# (shared/anchors/sim-anchors.md, section 4): rate E, rate I (Hz), mean ISI CV.
BANDS = {
    ("coba", 4000, 1.0): {"rate_e": (18.5, 23.6), "rate_i": (20.2, 22.4), "cv": (1.50, 1.63)},
    ("cuba", 4000, 1.0): {"rate_e": (5.08, 6.25), "rate_i": (5.50, 5.78), "cv": (0.50, 0.55)},
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return float(statistics.median(xs)) if xs else None


# ---------------------------------------------------------------- engram model files

def make_model_file(template_path, dest, N, p, T):
    """Copy an engram model file, setting the population sizes (exc 0.8 N, inh the rest), the
    connection probability of every projection, the duration, and keeping only the spike monitor."""
    Ne = int(round(0.8 * N))
    sizes = {"exc": Ne, "inh": N - Ne}
    with open(template_path) as f:
        text = f.read()
    # split into blocks at table headers; block 0 is the header comment
    blocks, cur = [], []
    for line in text.splitlines():
        if re.match(r"^\s*\[", line) and cur:
            blocks.append(cur)
            cur = []
        cur.append(line)
    blocks.append(cur)
    out, n_pop, spikes_line = [], 0, None
    for b in blocks:
        head = b[0].strip()
        if head == "[run]":
            b = [re.sub(r'^(\s*duration\s*=\s*).*$', rf'\g<1>"{T:g} s"', ln) for ln in b]
        elif head == "[[populations]]":
            name = next((m.group(1) for ln in b if (m := re.match(r'^\s*name\s*=\s*"([^"]+)"', ln))), None)
            size = sizes.get(name, Ne if n_pop == 0 else N - Ne)
            b = [re.sub(r"^(\s*size\s*=\s*)\d+\s*$", rf"\g<1>{size}", ln) for ln in b]
            n_pop += 1
        elif head == "[[projections]]":
            b = [re.sub(r"(\bp\s*=\s*)[0-9.eE+-]+", rf"\g<1>{p!r}", ln) if "fixed_probability" in ln else ln
                 for ln in b]
        elif head == "[monitors]":
            spikes_line = next((ln for ln in b if re.match(r"^\s*spikes\s*=", ln)), None)
            continue  # rebuilt below with the spike monitor only
        out.extend(b)
    while out and not out[-1].strip():
        out.pop()
    out += ["", "[monitors]", spikes_line or 'spikes = ["exc", "inh"]', ""]
    new = "\n".join(out)
    header = (f"# Generated by bench/compare.py from {os.path.relpath(template_path, ROOT)}: "
              f"N = {N} ({Ne} exc / {N - Ne} inh), p = {p!r}, duration {T:g} s, spike monitor only.\n")
    new = header + new
    # verify what we wrote
    spec = tomllib.loads(new)
    pops = spec["populations"]
    assert sum(int(x["size"]) for x in pops) == N, "population sizes do not add up to N"
    for pr in spec.get("projections", []):
        c = pr.get("connect", {})
        if c.get("rule") == "fixed_probability":
            assert abs(float(c["p"]) - p) < 1e-15, f"p not substituted in {pr.get('name')}"
    assert set(spec.get("monitors", {})) <= {"spikes"}, "monitors other than spikes left in"
    assert spec["run"]["duration"] == f"{T:g} s", "duration not substituted"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        f.write(new)
    return dest


# ---------------------------------------------------------------- running things

def build_wrapper():
    """Compile bench/rusage_wrap.c into bench/work/rusage_wrap (once; again when the source changes)."""
    src = os.path.join(HERE, "rusage_wrap.c")
    exe = os.path.join(WORK, "rusage_wrap")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cc = os.environ.get("CC", "gcc")
        r = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"error: cannot compile {src} with {cc}:\n{r.stderr}")
    return exe


def run_measured(cmd, log_path, timeout=None, env=None):
    """Run cmd through the rusage wrapper, stdout+stderr to log_path.
    Returns (exit code, rusage dict with wall_s / maxrss_mib / user_s / sys_s, or None)."""
    ru_path = log_path + ".rusage.json"
    if os.path.exists(ru_path):
        os.remove(ru_path)
    with open(log_path, "w") as lf:
        proc = subprocess.Popen([WRAPPER, ru_path] + list(cmd), stdout=lf, stderr=subprocess.STDOUT,
                                env=env, cwd=ROOT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            return 124, None
    ru = None
    if os.path.exists(ru_path):
        with open(ru_path) as f:
            ru = json.load(f)
    return rc, ru


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def run_brian2(name, model, N, p, T, args):
    workdir = os.path.join(WORK, "brian2", name)
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(WORK, "logs", f"{name}_brian2.log")
    cmd = [sys.executable, os.path.join(HERE, "brian2_run.py"), "--model", model, "--N", str(N),
           "--p", repr(p), "--duration", repr(T), "--seed", str(args.seed),
           "--repeats", str(args.repeats), "--workdir", workdir, "--wrapper", WRAPPER]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log(f"[{name}] brian2 cpp_standalone: build + {args.repeats} runs  (log: {os.path.relpath(log_path, ROOT)})")
    t0 = time.perf_counter()
    rc, _ = run_measured(cmd, log_path, timeout=args.timeout, env=env)
    wall = time.perf_counter() - t0
    rec = None
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("RESULT "):
                rec = json.loads(line[len("RESULT "):])
    if rc != 0 or rec is None:
        msg = f"brian2 failed (exit {rc}{', timed out' if rc == 124 else ''}); log tail:\n{tail(log_path)}"
        log(f"[{name}] {msg}")
        return {"error": msg}
    rec["driver_wall_s"] = wall
    log(f"[{name}] brian2: build {rec['build_s']:.1f} s, loop {rec['sim_loop_s']:.3f} s (CPU), "
        f"binary {rec['binary_wall_s']:.3f} s wall, {rec['spikes']} spikes, "
        f"E {rec['stats']['rate_exc_hz']:.2f} Hz / I {rec['stats']['rate_inh_hz']:.2f} Hz")
    return rec


def engram_stats(summary):
    pops = {p["name"]: p for p in summary.get("populations", [])}
    e, i = pops.get("exc"), pops.get("inh")
    if e is None or i is None:  # fall back to order
        plist = summary.get("populations", [])
        e, i = (plist + [None, None])[:2]
    cvs = [(p.get("cv_isi"), p.get("neurons_in_cv") or 0) for p in (e, i) if p]
    cvs = [(c, n) for c, n in cvs if c is not None and not (isinstance(c, float) and math.isnan(c)) and n > 0]
    cv_all = sum(c * n for c, n in cvs) / sum(n for _, n in cvs) if cvs else None
    return {
        "rate_exc_hz": e.get("rate_hz") if e else None,
        "rate_inh_hz": i.get("rate_hz") if i else None,
        "cv_exc": e.get("cv_isi") if e else None,
        "cv_inh": i.get("cv_isi") if i else None,
        "cv_isi_mean_all": cv_all,  # weighted by neurons_in_cv, comparable to Brian2's mean over neurons
        "cv_n_neurons": sum(n for _, n in cvs) if cvs else None,
        "spikes": sum(int(p.get("spikes", 0)) for p in summary.get("populations", [])),
    }


def run_engram(name, model_file, threads, args):
    outdir = os.path.join(WORK, "out", f"{name}_t{threads}")
    runs = []
    for r in range(args.repeats):
        shutil.rmtree(outdir, ignore_errors=True)
        log_path = os.path.join(WORK, "logs", f"{name}_engram_t{threads}_r{r + 1}.log")
        cmd = [args.engram, "run", model_file, "--threads", str(threads), "--seed", str(args.seed),
               "--out", outdir, "--quiet"]
        la = os.getloadavg()[0]
        rc, ru = run_measured(cmd, log_path, timeout=args.timeout)
        sp = os.path.join(outdir, "summary.json")
        if rc != 0 or ru is None or not os.path.exists(sp):
            msg = (f"engram --threads {threads} failed (exit {rc}{', timed out' if rc == 124 else ''}); "
                   f"command: {' '.join(cmd)}; output tail:\n{tail(log_path)}")
            log(f"[{name}] {msg}")
            return {"error": msg, "runs": runs}
        with open(sp) as f:
            s = json.load(f)
        d = {k: s.get(k) for k in ("wall_s", "cpu_s", "setup_s", "synaptic_events", "events_per_s", "synapses",
                                   "bytes_per_synapse", "steps", "threads", "engram_version")}
        d.update(process_wall_s=ru["wall_s"], process_cpu_s=ru["user_s"] + ru["sys_s"],
                 peak_rss_mib=ru["maxrss_mib"], loadavg=la)
        d["stats"] = engram_stats(s)
        d["spikes"] = d["stats"]["spikes"]
        runs.append(d)
        log(f"  engram t{threads} run {r + 1}/{args.repeats}: loop {d['wall_s']:.3f} s, setup {d['setup_s']:.3f} s, "
            f"process {d['process_wall_s']:.3f} s, {d['spikes']} spikes")
    rec = {"threads": threads, "model_file": os.path.relpath(model_file, ROOT), "runs": runs,
           "wall_s": median(x["wall_s"] for x in runs),
           "cpu_s": median(x["cpu_s"] for x in runs),
           "setup_s": median(x["setup_s"] for x in runs),
           "process_wall_s": median(x["process_wall_s"] for x in runs),
           "process_cpu_s": median(x["process_cpu_s"] for x in runs),
           "events_per_s": median(x["events_per_s"] for x in runs),
           "peak_rss_mib": max(x["peak_rss_mib"] for x in runs),
           "synapses": runs[-1]["synapses"], "bytes_per_synapse": runs[-1]["bytes_per_synapse"],
           "synaptic_events": runs[-1]["synaptic_events"], "spikes": runs[-1]["spikes"],
           "spikes_per_run": [x["spikes"] for x in runs], "stats": runs[-1]["stats"]}
    st = rec["stats"]
    log(f"[{name}] engram {threads} thread(s): loop {rec['wall_s']:.3f} s, {rec['events_per_s']:.3g} events/s, "
        f"E {fmt(st['rate_exc_hz'], '.2f')} Hz / I {fmt(st['rate_inh_hz'], '.2f')} Hz, CV {fmt(st['cv_isi_mean_all'], '.3f')}")
    return rec


# ---------------------------------------------------------------- report

def fmt(x, spec=".3g", none="–"):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return none
    return format(x, spec)


def label(rec):
    T = rec["T_s"]
    return f"{rec['model'].upper()} N={rec['N']:,} T={T:g} s p={rec['p']:.4g}"


def ratio(a, b):
    return a / b if a and b else None


def check_notes(rec):
    """Statistics that look off: engram outside the reference band, or far from Brian2."""
    notes = []
    key = (rec["model"], rec["N"], rec["T_s"])
    b2 = rec.get("brian2") or {}
    b2s = b2.get("stats") if "error" not in b2 else None
    for th, e in sorted((rec.get("engram") or {}).items()):
        if "error" in e:
            notes.append(f"engram {th} thread(s) FAILED: {e['error'].splitlines()[0]}")
            continue
        st = e["stats"]
        vals = {"rate_e": st["rate_exc_hz"], "rate_i": st["rate_inh_hz"], "cv": st["cv_isi_mean_all"]}
        if key in BANDS:
            for k, (lo, hi) in BANDS[key].items():
                v = vals[k]
                if v is None or not (lo <= v <= hi):
                    notes.append(f"engram {th}T {k} = {fmt(v, '.3f')} outside the reference range [{lo}, {hi}]")
        elif b2s:
            ref = {"rate_e": b2s["rate_exc_hz"], "rate_i": b2s["rate_inh_hz"], "cv": b2s["cv_isi_mean_all"]}
            for k in vals:
                if vals[k] is None or ref[k] is None:
                    continue
                if abs(vals[k] - ref[k]) > 0.15 * abs(ref[k]):
                    notes.append(f"engram {th}T {k} = {vals[k]:.3f} differs from Brian2's {ref[k]:.3f} by more than 15 %")
        if len(set(e["spikes_per_run"])) > 1:
            notes.append(f"engram {th}T spike counts differ between repeats with the same seed: {e['spikes_per_run']}")
    ths = [e for e in (rec.get("engram") or {}).values() if "error" not in e]
    if len(ths) > 1 and len({e["spikes"] for e in ths}) > 1:
        notes.append("engram spike counts depend on the thread count: "
                     + ", ".join(f"{e['threads']}T {e['spikes']}" for e in ths))
    if b2s is not None and len({x["spikes"] for x in b2.get("runs", [])}) > 1:
        notes.append("brian2 spike counts differ between repeats")
    return notes


def table_head(head):
    """The header and separator lines of a Markdown table."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def parts(rec):
    """A record's Brian2 result, whether Brian2 ran, and its engram results by thread count."""
    b2 = rec.get("brian2") or {}
    return b2, "error" not in b2 and "sim_loop_s" in b2, rec.get("engram") or {}


def render(records, meta):
    L = []
    L.append("# engram vs Brian2 C++ standalone")
    L.append("")
    L.append(f"Generated {meta['date']} by `{meta['command']}`.")
    L.append("")
    L.append(f"- Machine: {meta['cpu']}, {meta['ncpu']} CPUs; load average at start {meta['loadavg_start']:.2f}, "
             f"at end {meta['loadavg_end']:.2f}.")
    L.append(f"- engram {meta['engram_version']} (git {meta['git']}), `{meta['engram']}` (sha256 {meta['engram_binary']}); "
             f"Brian2 {meta['brian2_version']} cpp_standalone, openmp_threads = 0, gcc {meta['gcc']}.")
    L.append(f"- Seed {meta['seed']}; every timing is the median of {meta['repeats']} runs (same seed, so the same spikes).")
    L.append("- **Loop s**: simulation loop only. Brian2: its own run-loop timer, which is **CPU** time "
             "(`std::clock`) of its single thread; engram: summary.json `cpu_s` (CPU time of the process "
             "during the loop) / `wall_s` (wall time). Ratio = Brian2 loop / engram loop (> 1: engram faster): "
             "at 1 thread CPU time against CPU time, like for like (this machine is a VM whose host takes "
             "cycles away at random, which inflates wall times more than CPU times); with more threads "
             "Brian2's CPU time against engram's wall time.")
    L.append("- events/s = synaptic events / loop s (Brian2: exact sum of out-degrees over spikes; "
             "engram: `synaptic_events`).")
    L.append("- Peak RSS (`ru_maxrss`, through the small C wrapper bench/rusage_wrap.c): Brian2 = the standalone "
             "binary (compiler and Python excluded); engram = the whole `engram run` process, 1 thread.")
    L.append("- Both simulators record all spikes (Brian2 SpikeMonitor, engram `[monitors] spikes`); "
             "engram's 0.1 ms delay = Brian2's zero delay (see examples/coba.toml).")
    if meta.get("note"):
        L.append(f"- {meta['note']}")
    L.append("")
    ths = meta["threads"]
    head = ["config", "Brian2 loop s (CPU)"]
    for t in ths:
        if t == 1:
            head += ["engram 1T loop s (CPU / wall)", "ratio B2/e1T (CPU)"]
        else:
            head += [f"engram {t}T loop s (wall)", f"ratio B2/e{t}T"]
    head += ["events/s Brian2"] + [f"events/s engram {t}T" for t in ths]
    head += ["rate E/I Brian2 (Hz)", f"rate E/I engram {ths[0]}T (Hz)", "engram B/synapse",
             "Brian2 peak RSS MiB", "engram peak RSS MiB"]
    L += table_head(head)
    for rec in records:
        b2, b2ok, eng = parts(rec)
        row = [label(rec)]
        row.append(fmt(b2.get("sim_loop_s"), ".3f") + (" (reused)" if b2.get("reused") else "") if b2ok
                   else ("FAILED" if "error" in b2 else "skipped"))
        for t in ths:
            e = eng.get(str(t))
            eok = e is not None and "error" not in e
            loop = e["cpu_s"] if eok and t == 1 else (e["wall_s"] if eok else None)
            if t == 1:
                row.append(f"{fmt(e['cpu_s'], '.3f')} / {fmt(e['wall_s'], '.3f')}" if eok else ("FAILED" if e else "skipped"))
            else:
                row.append(fmt(e["wall_s"], ".3f") if eok else ("FAILED" if e else "skipped"))
            row.append(fmt(ratio(b2.get("sim_loop_s"), loop), ".2f") if (eok and b2ok) else "–")
        row.append(fmt(b2.get("events_per_s"), ".3g") if b2ok else "–")
        for t in ths:
            e = eng.get(str(t))
            row.append(fmt(e["events_per_s"], ".3g") if e and "error" not in e else "–")
        row.append(f"{b2['stats']['rate_exc_hz']:.2f} / {b2['stats']['rate_inh_hz']:.2f}" if b2ok else "–")
        e = eng.get(str(ths[0]))
        if e and "error" not in e:
            row.append(f"{fmt(e['stats']['rate_exc_hz'], '.2f')} / {fmt(e['stats']['rate_inh_hz'], '.2f')}")
            row.append(fmt(e["bytes_per_synapse"], ".2f"))
        else:
            row += ["–", "–"]
        row.append(fmt(b2.get("peak_rss_mib"), ".1f") if b2ok else "–")
        row.append(fmt(e["peak_rss_mib"], ".1f") if e and "error" not in e else "–")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Details. CV = mean ISI CV over neurons with >= 3 spikes in [0, T) (engram's per-population CVs "
             "combined, weighted by `neurons_in_cv`). Brian2 build = code generation + make (short when "
             "bench/work/brian2 already holds the compiled project). Binary wall / process wall / process CPU "
             "cover the whole process (connectivity, initialisation, loop, writing spikes); process CPU is "
             "the least sensitive to other jobs.")
    L.append("")
    head = ["config", "synapses Brian2 / engram", "spikes Brian2 / " + " / ".join(f"engram {t}T" for t in ths),
            "CV Brian2 / engram", "Brian2 build s", "Brian2 binary wall s", "process CPU s Brian2 / engram 1T",
            "engram setup s",
            "engram process wall s " + " / ".join(f"{t}T" for t in ths), "load avg"]
    L += table_head(head)
    for rec in records:
        b2, b2ok, eng = parts(rec)
        es = [eng.get(str(t)) for t in ths]
        es = [e if e and "error" not in e else None for e in es]
        e1 = es[0]
        row = [label(rec)]
        row.append(f"{fmt(b2.get('n_synapses'), ',') if b2ok else '–'} / {fmt(e1['synapses'], ',') if e1 else '–'}")
        row.append(" / ".join([fmt(b2.get("spikes"), ",") if b2ok else "–"] + [fmt(e["spikes"], ",") if e else "–" for e in es]))
        row.append(f"{fmt(b2['stats']['cv_isi_mean_all'], '.3f') if b2ok else '–'} / "
                   f"{fmt(e1['stats']['cv_isi_mean_all'], '.3f') if e1 else '–'}")
        row.append(fmt(b2.get("build_s"), ".1f") if b2ok and not b2.get("reused") else ("(reused)" if b2ok else "–"))
        row.append(fmt(b2.get("binary_wall_s"), ".3f") if b2ok else "–")
        row.append(f"{fmt(b2.get('binary_cpu_s'), '.3f') if b2ok else '–'} / {fmt(e1['process_cpu_s'], '.3f') if e1 else '–'}")
        row.append(fmt(e1["setup_s"], ".3f") if e1 else "–")
        row.append(" / ".join(fmt(e["process_wall_s"], ".3f") if e else "–" for e in es))
        row.append(f"{rec['loadavg'][0]:.2f}–{rec['loadavg'][1]:.2f}")
        L.append("| " + " | ".join(row) + " |")
    notes = [(label(r), n) for r in records for n in check_notes(r)]
    errors = [(label(r), who, e["error"]) for r in records
              for who, e in [("brian2", r.get("brian2") or {})] + [(f"engram {k}T", v) for k, v in (r.get("engram") or {}).items()]
              if "error" in e]
    L.append("")
    L.append("Checks (engram at N = 4000, T = 1 s against the range of 44 reference runs of Brian2/BrainPy/NEST; "
             "elsewhere against this run's Brian2, 15 % tolerance):")
    L.append("")
    if notes:
        L += [f"- {lab}: {n}" for lab, n in notes]
    else:
        L.append("- all statistics within range.")
    if errors:
        L.append("")
        L.append("Errors:")
        L.append("")
        for lab, who, err in errors:
            L.append(f"- {lab}, {who}:")
            L.append("")
            L.append("```")
            L += err.rstrip().splitlines()
            L.append("```")
    peak_load = max([meta["loadavg_start"]] + [x for r in records for x in r["loadavg"]])
    if peak_load > (meta["ncpu"] or 1) + 1:
        L.append("")
        L.append(f"Warning: the 1-minute load average reached {peak_load:.1f} on {meta['ncpu']} CPUs; other jobs "
                 "were competing for the CPUs, so timings (2-thread ones especially) are inflated.")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
    except Exception:
        return ""


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only coba_4000_1s and cuba_4000_1s")
    ap.add_argument("--configs", default=None,
                    help="comma-separated configuration names or groups (" + ", ".join(GROUPS) + "); default all")
    ap.add_argument("--list", action="store_true", help="list the configurations and exit")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing (median reported)")
    ap.add_argument("--threads", default="1,2", help="engram thread counts (comma-separated)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engram", default=os.path.join(ROOT, "target", "release", "engram"))
    ap.add_argument("--skip", choices=["brian2", "engram"], action="append", default=[],
                    help="leave one simulator out (for debugging)")
    ap.add_argument("--reuse-brian2", metavar="JSONL", default=None,
                    help="take Brian2 results from an earlier results.jsonl where the configuration, seed and "
                         "repeats match, instead of re-running Brian2 (marked 'reused' in the table)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per process (Brian2 driver / engram run)")
    ap.add_argument("--out-md", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--out-jsonl", default=os.path.join(HERE, "results.jsonl"))
    ap.add_argument("--append", action="store_true", help="append to --out-jsonl instead of rewriting it")
    ap.add_argument("--note", default=None, help="a line added to the report header")
    ap.add_argument("--report-only", metavar="JSONL", default=None,
                    help="run nothing: print the report of an earlier results.jsonl")
    args = ap.parse_args()

    if args.report_only:
        with open(args.report_only) as f:
            records = [json.loads(line) for line in f if line.strip()]
        if not records or "meta" not in records[-1]:
            sys.exit(f"error: no records with report metadata in {args.report_only}")
        print(render(records, records[-1]["meta"]))
        return 0

    if args.list:
        for n, (m, N, p, T) in CONFIGS.items():
            print(f"{n:16s} {m.upper()} N={N} p={p:g} T={T:g} s")
        for g, ns in GROUPS.items():
            print(f"group {g}: {','.join(ns)}")
        return 0
    if args.quick:
        names = GROUPS["quick"]
    elif args.configs:
        names = []
        for tok in args.configs.split(","):
            tok = tok.strip()
            if not tok:
                continue
            if tok in GROUPS:
                names += GROUPS[tok]
            elif tok in CONFIGS:
                names.append(tok)
            else:
                ap.error(f"unknown configuration {tok!r} (use --list)")
        names = list(dict.fromkeys(names))
    else:
        names = GROUPS["all"]
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    if "engram" not in args.skip and not os.access(args.engram, os.X_OK):
        ap.error(f"engram binary not found: {args.engram} (run cargo build --release)")
    for d in ("models", "logs", "out", "brian2"):
        os.makedirs(os.path.join(WORK, d), exist_ok=True)
    global WRAPPER
    WRAPPER = build_wrapper()

    reuse = {}
    if args.reuse_brian2:
        with open(args.reuse_brian2) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    b = r.get("brian2") or {}
                    if "sim_loop_s" in b and "error" not in b:
                        reuse[(r["config"], r["seed"], r["repeats"])] = b

    try:
        import brian2  # noqa: F401
        b2v = brian2.__version__
    except Exception:
        b2v = "(not importable)"
    git = sh(["git", "rev-parse", "--short", "HEAD"]) or "?"
    if sh(["git", "status", "--porcelain", "--untracked-files=no", "--", "crates", "Cargo.toml", "Cargo.lock"]):
        git += " + uncommitted changes"
    try:
        import hashlib
        with open(args.engram, "rb") as f:
            bin_id = hashlib.sha256(f.read()).hexdigest()[:12]
        bin_id += ", built " + datetime.datetime.fromtimestamp(os.path.getmtime(args.engram)).strftime("%Y-%m-%d %H:%M")
    except OSError:
        bin_id = "?"
    meta = dict(engram_binary=bin_id, date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                command=" ".join(["bench/run.sh"] + [a for i, a in enumerate(sys.argv[1:])
                                             if a != "--engram" and not (i > 0 and sys.argv[i] == "--engram")]),
                cpu=cpu_name(), ncpu=os.cpu_count(), loadavg_start=os.getloadavg()[0], loadavg_end=None,
                engram=os.path.relpath(args.engram, ROOT), engram_version=sh([args.engram, "--version"]).replace("engram ", "") or "?",
                git=git, brian2_version=b2v, gcc=(sh(["gcc", "-dumpfullversion"]) or "?"),
                seed=args.seed, repeats=args.repeats, threads=threads, note=args.note)
    log(f"== configurations: {', '.join(names)}; repeats {args.repeats}; engram threads {threads}; "
        f"load average {meta['loadavg_start']:.2f}")

    if not args.append and os.path.exists(args.out_jsonl):
        os.remove(args.out_jsonl)
    records = []
    t_all = time.perf_counter()
    for name in names:
        model, N, p, T = CONFIGS[name]
        la0 = os.getloadavg()[0]
        rec = dict(engram_binary=meta["engram_binary"], config=name, model=model, N=N, p=p, T_s=T, seed=args.seed, repeats=args.repeats,
                   date=datetime.datetime.now().isoformat(timespec="seconds"), engram_git=git)
        log(f"== {name}: {model.upper()} N={N} p={p:g} T={T:g} s")
        # Brian2
        if "brian2" in args.skip:
            rec["brian2"] = None
        elif (name, args.seed, args.repeats) in reuse:
            rec["brian2"] = dict(reuse[(name, args.seed, args.repeats)], reused=True)
            log(f"[{name}] brian2: reusing {args.reuse_brian2}")
        else:
            rec["brian2"] = run_brian2(name, model, N, p, T, args)
        # engram
        if "engram" in args.skip:
            rec["engram"] = {}
        else:
            template = os.path.join(ROOT, "examples", f"{model}.toml")
            model_file = make_model_file(template, os.path.join(WORK, "models", f"{name}.toml"), N, p, T)
            rec["engram"] = {}
            for t in threads:
                rec["engram"][str(t)] = run_engram(name, model_file, t, args)
        rec["loadavg"] = [la0, os.getloadavg()[0]]
        meta["loadavg_end"] = rec["loadavg"][1]
        rec["meta"] = dict(meta)
        records.append(rec)
        with open(args.out_jsonl, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        meta["loadavg_end"] = os.getloadavg()[0]
        with open(args.out_md, "w") as f:
            f.write(render(records, meta))
    meta["loadavg_end"] = os.getloadavg()[0]
    report = render(records, meta)
    with open(args.out_md, "w") as f:
        f.write(report)
    print(report)
    log(f"== done in {time.perf_counter() - t_all:.0f} s; wrote {os.path.relpath(args.out_md, ROOT)} "
        f"and {os.path.relpath(args.out_jsonl, ROOT)}")
    failed = any("error" in (r.get("brian2") or {}) or any("error" in e for e in (r.get("engram") or {}).values())
                 for r in records)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
