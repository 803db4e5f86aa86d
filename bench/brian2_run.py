"""Brian2 cpp_standalone COBA / CUBA run for one configuration (called by compare.py).

Adapted from shared/anchors/sim/brian2_bench.py (cpp_standalone target only).

  python brian2_run.py --model coba --N 4000 --p 0.02 --duration 1 --repeats 3 --workdir DIR \
      --wrapper bench/work/rusage_wrap

Builds the standalone project once (code generation + make, "build_s"), then runs the binary
--repeats times through the rusage wrapper (bench/rusage_wrap.c). Per run:
  sim_loop_s        Brian2's own run-loop time (device._last_run_time, from
                    results/last_run_info.txt). With openmp_threads = 0 Brian2 measures it with
                    std::clock(), i.e. CPU time of the single thread.
  binary_wall_s     wall time of the whole binary (connectivity generation, initialisation,
                    run loop, writing the spike monitor)
  binary_maxrss_mib peak RSS of the binary (the compiler and this Python driver excluded)
Spikes and statistics come from the SpikeMonitor (all neurons) of the last run.
Prints one line "RESULT {json}" on stdout.

Models (Brette et al. 2007, as in the Brian2/BrainPy/NEST benchmark scripts):
  coba: dv/dt = (ge*(Ee-v) + gi*(Ei-v) + (El-v) + I)/taum, taum 20 ms, El = Vr = -60 mV,
        Vt = -50 mV, refractory 5 ms, Ee = 0 mV, Ei = -80 mV, ge/gi in units of gL = 10 nS,
        taue 5 ms, taui 10 ms, we 0.6 (6 nS), wi 6.7 (67 nS), I = 20 mV, euler,
        v0 ~ N(-55 mV, 5 mV).
  cuba: Brian2's examples/CUBA.py: El = -49 mV, Vt = -50 mV, Vr = -60 mV, taum 20 ms,
        ge += 1.62 mV, gi += -9 mV, taue 5 ms, taui 10 ms, refractory 5 ms, exact,
        v0 ~ U(Vr, Vt).
Both: first 80 % excitatory, Bernoulli p from each presynaptic neuron to all N (autapses
allowed), no synaptic delay, dt = 0.1 ms.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simstats import emit, events, spike_stats  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--model", choices=["coba", "cuba"], required=True)
ap.add_argument("--N", type=int, default=4000)
ap.add_argument("--p", type=float, default=0.02)
ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
ap.add_argument("--dt", type=float, default=0.1, help="ms")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--workdir", required=True, help="the standalone project directory")
ap.add_argument("--wrapper", required=True, help="the compiled bench/rusage_wrap.c")
ap.add_argument("--out", default=None, help="also append the JSON record here")
ap.add_argument("--stdp", action="store_true",
                help="COBA only: pair STDP on the excitatory synapses (tau 20 ms, A+ = 0.006, "
                     "A- = -0.0063, w_max = 1.2, in units of the leak conductance, as in bench/stdp.py)")
args = ap.parse_args()

os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np  # noqa: E402
import brian2  # noqa: E402
from brian2 import (NeuronGroup, Synapses, SpikeMonitor, Network, defaultclock, prefs,  # noqa: E402
                    set_device, device, seed, ms, mV, second)

N = args.N
Ne = int(round(0.8 * N))
p = args.p
workdir = os.path.abspath(args.workdir)
os.makedirs(workdir, exist_ok=True)

set_device("cpp_standalone", directory=workdir, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0
rus_json = os.path.join(workdir, "rusage.json")
prefs.devices.cpp_standalone.run_cmd_unix = [os.path.abspath(args.wrapper), rus_json, "./main"]

defaultclock.dt = args.dt * ms
seed(args.seed)
taum, taue, taui = 20 * ms, 5 * ms, 10 * ms

if args.model == "coba":
    ns = dict(taum=taum, taue=taue, taui=taui, Vt=-50 * mV, Vr=-60 * mV, El=-60 * mV,
              Ee=0 * mV, Ei=-80 * mV, I=20 * mV, we=0.6, wi=6.7)
    eqs = """
    dv/dt  = (ge*(Ee-v) + gi*(Ei-v) + (El-v) + I)/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    P = NeuronGroup(N, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                    method="euler", namespace=ns)
    P.v = "-55*mV + 5*mV*randn()"
else:
    ns = dict(taum=taum, taue=taue, taui=taui, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV,
              we=(60 * 0.27 / 10) * mV, wi=(-20 * 4.5 / 10) * mV)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(N, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                    method="exact", namespace=ns)
    P.v = "Vr + rand() * (Vt - Vr)"

if args.stdp:
    if args.model != "coba":
        sys.exit("--stdp needs --model coba")
    ns.update(taupre=20 * ms, taupost=20 * ms, Ap=0.006, Am=-0.0063, wmax=1.2)
    Ce = Synapses(P[:Ne], P, model="""w : 1
                  dapre/dt = -apre/taupre : 1 (event-driven)
                  dapost/dt = -apost/taupost : 1 (event-driven)""",
                  on_pre="""ge += w
                  w = clip(w + Am*apost, 0, wmax)
                  apre += 1""",
                  on_post="""w = clip(w + Ap*apre, 0, wmax)
                  apost += 1""", namespace=ns)
else:
    Ce = Synapses(P[:Ne], P, on_pre="ge += we", namespace=ns)
Ci = Synapses(P[Ne:], P, on_pre="gi += wi", namespace=ns)
Ce.connect(p=p)
Ci.connect(p=p)
if args.stdp:
    Ce.w = "we"
mon = SpikeMonitor(P)
net = Network(P, Ce, Ci, mon)

rec = dict(simulator="brian2", version=brian2.__version__, target="cpp_standalone",
           model=args.model, N=N, Ne=Ne, p=p, duration_s=args.duration, dt_ms=args.dt,
           seed=args.seed, repeats=args.repeats, workdir=workdir,
           loadavg_start=os.getloadavg()[0])

net.run(args.duration * second)
t0 = time.perf_counter()
device.build(directory=workdir, compile=True, run=False, with_output=False)
rec["build_s"] = time.perf_counter() - t0  # code generation + make

runs = []
for r in range(args.repeats):
    device.run(directory=workdir, with_output=False)
    with open(rus_json) as f:
        ru = json.load(f)
    i_spk = np.asarray(mon.i[:])
    t_spk = np.asarray(mon.t[:] / second)
    pre_e = np.asarray(Ce.i[:])
    pre_i = np.asarray(Ci.i[:]) + Ne
    outdeg = np.bincount(np.concatenate([pre_e, pre_i]), minlength=N)
    nsyn = int(len(pre_e) + len(pre_i))
    d = dict(sim_loop_s=float(device._last_run_time), binary_wall_s=ru["wall_s"],
             binary_cpu_s=ru["user_s"] + ru["sys_s"], binary_maxrss_mib=ru["maxrss_mib"],
             loadavg=os.getloadavg()[0], n_synapses=nsyn, spikes=int(len(i_spk)),
             events_exact=events(i_spk, outdeg))
    if r == args.repeats - 1:
        rec["stats"] = spike_stats(i_spk, t_spk, N, Ne, args.duration, 0.0)
        if args.stdp:
            w_final = np.asarray(Ce.w[:])
            rec["stdp"] = dict(mean_w=float(w_final.mean()), sd_w=float(w_final.std()),
                               at_zero=float(np.mean(w_final == 0)), at_max=float(np.mean(w_final >= 1.2)))
    d["events_per_s"] = d["events_exact"] / d["sim_loop_s"]
    runs.append(d)
    print(f"  brian2 run {r + 1}/{args.repeats}: loop {d['sim_loop_s']:.3f} s (CPU), "
          f"binary {d['binary_wall_s']:.3f} s wall, {d['spikes']} spikes", file=sys.stderr, flush=True)

rec["runs"] = runs
med = lambda k: float(np.median([x[k] for x in runs]))  # noqa: E731
rec["sim_loop_s"] = med("sim_loop_s")
rec["binary_wall_s"] = med("binary_wall_s")
rec["binary_cpu_s"] = med("binary_cpu_s")
rec["peak_rss_mib"] = max(x["binary_maxrss_mib"] for x in runs)
rec["n_synapses"] = runs[-1]["n_synapses"]
rec["spikes"] = runs[-1]["spikes"]
rec["events_exact"] = runs[-1]["events_exact"]
rec["events_per_s"] = med("events_per_s")
rec["loadavg_end"] = os.getloadavg()[0]
emit(rec, args.out)
