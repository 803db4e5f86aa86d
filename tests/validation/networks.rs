//! Network validation: COBA and CUBA statistics against the Brian2 reference
//! (`shared/anchors/sim-anchors.md` §4), and thread-count invariance of spike trains.

use engram::engine::{self, RunResult};
use engram::network::Network;
use engram_validation::*;

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// Reference statistic: Brian2 cpp_standalone, 5 seeds, T = 1 s, mean and sd over runs.
struct Reference {
    name: &'static str,
    mean: f64,
    sd: f64,
}

/// Tolerance on a 5-seed mean of engram against the 5-seed reference mean.
///
/// Both means are averages of 5 independent runs. If engram is correct, its runs have the
/// same seed-to-seed spread as the reference (sd_ref), so each mean has a standard error of
/// sd_ref / sqrt(5), and their difference a standard error of
/// sqrt(sd_ref^2/5 + sd_ref^2/5) = sd_ref * sqrt(2/5). We allow three standard errors:
/// |mean_engram - mean_ref| <= 3 sd_ref sqrt(2/5), a false-alarm probability of about
/// 0.3 % per statistic under a normal approximation.
fn tolerance(r: &Reference) -> f64 {
    3.0 * r.sd * (2.0f64 / 5.0).sqrt()
}

struct SeedStats {
    rate_e: f64,
    rate_i: f64,
    cv: f64,
}

/// Runs an example model (3200 E, 800 I) for each seed, with threads = 1.
fn seed_stats(file: &str) -> Vec<SeedStats> {
    SEEDS
        .iter()
        .map(|&seed| {
            let mut spec = load_example(file);
            spec.run.seed = seed;
            spec.run.threads = 1;
            spec.monitors.states.clear();
            let (dt, duration) = (spec.run.dt, spec.run.duration);
            assert_eq!(duration, 1000.0, "{file}: the reference statistics are for T = 1 s");
            assert_eq!(
                (spec.populations[0].size, spec.populations[1].size),
                (3200, 800),
                "{file}: populations 0 and 1 are E and I"
            );
            let r = run_spec(spec);
            let e = pooled_stats(&r, &[(0, 3200)], dt, duration);
            let i = pooled_stats(&r, &[(1, 800)], dt, duration);
            // "CV ISI mean (all)": neurons of both populations with >= 3 spikes.
            let all = pooled_stats(&r, &[(0, 3200), (1, 800)], dt, duration);
            let s = SeedStats { rate_e: e.rate_hz, rate_i: i.rate_hz, cv: all.cv_isi.expect("neurons with >= 3 spikes") };
            eprintln!(
                "{file} seed {seed}: rate E {:.3} Hz, rate I {:.3} Hz, CV {:.4} ({} neurons in CV)",
                s.rate_e, s.rate_i, s.cv, all.neurons_in_cv
            );
            s
        })
        .collect()
}

fn check(file: &str, refs: [Reference; 3]) {
    let stats = seed_stats(file);
    let columns: [Vec<f64>; 3] = [
        stats.iter().map(|s| s.rate_e).collect(),
        stats.iter().map(|s| s.rate_i).collect(),
        stats.iter().map(|s| s.cv).collect(),
    ];
    let mut failures = Vec::new();
    for (r, values) in refs.iter().zip(&columns) {
        let (mean, sd) = mean_sd(values);
        let tol = tolerance(r);
        let line = format!(
            "{file} {}: engram {mean:.4} (sd {sd:.4}) vs reference {} +- {} -> |diff| {:.4}, tolerance {tol:.4}",
            r.name,
            r.mean,
            r.sd,
            (mean - r.mean).abs()
        );
        eprintln!("{line}");
        if (mean - r.mean).abs() > tol {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "statistics outside the reference band:\n{}", failures.join("\n"));
}

#[test]
fn coba_statistics_match_brian2_over_5_seeds() {
    check(
        "coba.toml",
        [
            Reference { name: "rate E (Hz)", mean: 21.1, sd: 1.7 },
            Reference { name: "rate I (Hz)", mean: 21.4, sd: 0.57 },
            Reference { name: "CV ISI mean (all)", mean: 1.57, sd: 0.04 },
        ],
    );
}

#[test]
fn cuba_statistics_match_brian2_over_5_seeds() {
    check(
        "cuba.toml",
        [
            Reference { name: "rate E (Hz)", mean: 5.58, sd: 0.28 },
            Reference { name: "rate I (Hz)", mean: 5.62, sd: 0.054 },
            Reference { name: "CV ISI mean (all)", mean: 0.517, sd: 0.0085 },
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Thread-count invariance
// ---------------------------------------------------------------------------------------

fn assert_identical(name: &str, a: &RunResult, b: &RunResult, threads: usize) {
    assert_eq!(a.spikes.len(), b.spikes.len());
    for (g, (x, y)) in a.spikes.iter().zip(&b.spikes).enumerate() {
        assert_eq!(x.steps.len(), y.steps.len(), "{name}, group {g}: spike count differs with {threads} threads");
        assert!(x.steps == y.steps && x.ids == y.ids, "{name}, group {g}: spike trains differ with {threads} threads");
    }
    assert_eq!(a.synaptic_events, b.synaptic_events, "{name}: synaptic events differ with {threads} threads");
}

#[test]
fn coba_spikes_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let mut spec = load_example("coba.toml");
        spec.run.seed = 3;
        spec.run.threads = threads;
        // 200 ms (onset transient and sustained activity) keeps the test fast: with the
        // spin barrier, runs with more threads than free cores are slow.
        spec.run.duration = 200.0;
        spec.monitors.states.clear();
        run_spec(spec)
    };
    let one = run(1);
    let total: usize = one.spikes.iter().map(|s| s.steps.len()).sum();
    eprintln!("COBA seed 3, 200 ms, 1 thread: {total} spikes");
    assert!(total > 5_000, "COBA should be active");
    for threads in [2, 3] {
        assert_identical("COBA", &one, &run(threads), threads);
    }
}

/// Poisson-driven network with mixed synapse models, per-synapse random delays and weights,
/// and two neuron models, so that every kind of cross-shard traffic is exercised.
const POISSON_NET: &str = r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = 11
threads = 1

[[populations]]
name = "exc"
size = 800
model = "lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }
init = { v = { uniform = ["-60 mV", "-50 mV"] } }

[[populations]]
name = "inh"
size = 203
model = "adex"
params = { c_m = "200 pF", g_l = "10 nS", e_l = "-60 mV", v_t = "-50 mV", delta_t = "2 mV", tau_w = "100 ms", a = "1 nS", b = "0.02 nA", v_reset = "-60 mV", v_peak = "0 mV", t_ref = "1 ms" }
init = { v = { uniform = ["-60 mV", "-52 mV"] } }

[[sources]]
name = "noise"
kind = "poisson"
size = 501
rate = "10 Hz"

[[projections]]
pre = "noise"
post = "exc"
connect = { rule = "fixed_in_degree", k = 20 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = { uniform = ["1 nS", "3 nS"] }
delay = { uniform = ["0.1 ms", "2 ms"] }

[[projections]]
pre = "noise"
post = "inh"
connect = { rule = "fixed_in_degree", k = 20 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = "2 nS"
delay = "0.5 ms"

[[projections]]
pre = "exc"
post = "exc"
connect = { rule = "fixed_probability", p = 0.05 }
synapse = { model = "exp_current", tau = "5 ms" }
weight = { uniform = ["5 pA", "25 pA"] }
delay = { uniform = ["0.5 ms", "3 ms"] }

[[projections]]
pre = "exc"
post = "inh"
connect = { rule = "fixed_probability", p = 0.05 }
synapse = { model = "alpha_current", tau = "2 ms" }
weight = "20 pA"
delay = "1 ms"

[[projections]]
pre = "inh"
post = "exc"
connect = { rule = "fixed_probability", p = 0.1 }
synapse = { model = "exp_cond", tau = "10 ms", e_rev = "-80 mV" }
weight = "5 nS"
delay = { uniform = ["0.2 ms", "1.5 ms"] }

[[projections]]
pre = "inh"
post = "inh"
connect = { rule = "fixed_probability", p = 0.1 }
synapse = "delta"
weight = "-0.5 mV"
delay = "0.3 ms"

[monitors]
spikes = ["exc", "inh", "noise"]
"#;

#[test]
fn poisson_network_spikes_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let mut spec = parse(POISSON_NET);
        spec.run.threads = threads;
        run_spec(spec)
    };
    let one = run(1);
    let counts: Vec<usize> = one.spikes.iter().map(|s| s.steps.len()).collect();
    eprintln!("Poisson network, 1 thread: spikes per group (exc, inh, noise) {counts:?}");
    // The network must be active for the comparison to mean anything.
    assert!(counts[0] > 200 && counts[1] > 100, "populations too quiet: {counts:?}");
    // 501 sources at 10 Hz for 0.3 s: 1503 expected; 6 sd is about 230.
    assert!(counts[2].abs_diff(1503) < 230, "Poisson source count {}", counts[2]);
    for threads in [2, 3] {
        assert_identical("Poisson network", &one, &run(threads), threads);
    }
}

// ---------------------------------------------------------------------------------------
// Fused kernels against the reference kernels
// ---------------------------------------------------------------------------------------

/// LIF populations covering each fused case: two channels mixing conductance and current
/// input with exact integration and an injected current on some neurons, one current
/// channel (exact), and one conductance channel (Euler).
const FUSABLE_NET: &str = r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = 5
threads = 1

[[populations]]
name = "mixed"
size = 300
model = "lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }
init = { v = { uniform = ["-60 mV", "-50 mV"] } }

[[populations]]
name = "current"
size = 200
model = "lif"
params = { c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV", t_ref = "0.5 ms", i_e = "300 pA" }

[[populations]]
name = "euler"
size = 150
model = "lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "5 ms", integration = "euler" }

[[sources]]
name = "noise"
kind = "poisson"
size = 400
rate = "20 Hz"

[[projections]]
pre = "noise"
post = "mixed"
connect = { rule = "fixed_in_degree", k = 40 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = { uniform = ["1 nS", "4 nS"] }
delay = { uniform = ["0.1 ms", "2 ms"] }

[[projections]]
pre = "mixed"
post = "mixed"
connect = { rule = "fixed_probability", p = 0.05 }
synapse = { model = "exp_current", tau = "3 ms" }
weight = { normal = ["-20 pA", "10 pA"] }
delay = "1 ms"

[[projections]]
pre = "mixed"
post = "current"
connect = { rule = "fixed_in_degree", k = 30 }
synapse = { model = "exp_current", tau = "5 ms" }
weight = "15 pA"
delay = { uniform = ["0.5 ms", "3 ms"] }

[[projections]]
pre = "noise"
post = "euler"
connect = { rule = "fixed_in_degree", k = 60 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = "3 nS"
delay = "0.1 ms"

[[currents]]
target = "mixed"
neurons = [0, 1, 2, 3, 4, 5, 6, 7]
amplitude = "0.2 nA"
start = "50 ms"
stop = "150 ms"

[monitors]
spikes = ["mixed", "current", "euler"]
state = [
  { population = "mixed", variables = ["v"], neurons = [0, 1, 100, 299], every = "0.1 ms" },
  { population = "current", variables = ["v"], neurons = [0, 199], every = "0.1 ms" },
  { population = "euler", variables = ["v"], neurons = [3], every = "0.1 ms" },
]
"#;

/// Runs a spec with the fused or the reference kernels; returns the run and the kernel
/// used for each population.
fn run_kernels(spec: engram::spec::NetworkSpec, reference: bool) -> (RunResult, Vec<&'static str>) {
    let mut net = Network::build(spec).expect("network builds");
    net.reference_kernels = reference;
    let kernels = net.shards[0].populations.iter().map(|p| engine::kernel(p, reference)).collect();
    (engine::run(&mut net, None), kernels)
}

fn assert_fused_matches_reference(name: &str, spec: engram::spec::NetworkSpec) {
    let (fused, kernels) = run_kernels(spec.clone(), false);
    assert!(kernels.iter().all(|&k| k == "fused_lif_exp"), "{name}: the fused kernel should apply to every population: {kernels:?}");
    let (reference, kernels) = run_kernels(spec, true);
    assert!(kernels.iter().all(|&k| k == "reference"), "{name}: {kernels:?}");
    let counts: Vec<usize> = fused.spikes.iter().map(|s| s.steps.len()).collect();
    eprintln!("{name}: spikes per group {counts:?}");
    assert!(counts.iter().take(3).all(|&c| c > 100), "{name}: populations too quiet to compare: {counts:?}");
    for (g, (x, y)) in fused.spikes.iter().zip(&reference.spikes).enumerate() {
        assert!(x.steps == y.steps && x.ids == y.ids, "{name}, group {g}: fused and reference spike trains differ");
    }
    for (x, y) in fused.states.iter().zip(&reference.states) {
        for (vx, vy) in x.values.iter().zip(&y.values) {
            let first = vx.iter().zip(vy).position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(first.is_none(), "{name}, {}: state differs from sample {first:?}", x.population);
        }
    }
}

#[test]
fn fused_kernels_match_the_reference_bit_for_bit() {
    assert_fused_matches_reference("fusable network", parse(FUSABLE_NET));
    for file in ["coba.toml", "cuba.toml"] {
        let mut spec = load_example(file);
        spec.run.duration = 200.0;
        assert_fused_matches_reference(file, spec);
    }
}
