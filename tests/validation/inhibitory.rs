//! Inhibitory STDP (Vogels et al. 2011) in the run loop: a single pre/post pair changes the
//! inhibitory strength by the closed form on conductance and current synapses, per-synapse
//! delays shift each synapse's pre spike, neurons driven by Poisson excitation settle at the
//! target rate through their plastic inhibition, and an E/I network learns the same weights
//! and spikes at any thread count.

use engram::engine::{self, RunResult};
use engram::network::{Delays, Network};
use engram_validation::*;

/// The rule of the pair tests: tau 20 ms, 5 Hz target (alpha = 0.2), eta 0.01 in `unit`.
fn rule(unit: &str) -> String {
    format!(r#"plasticity = {{ rule = "inhibitory_stdp", tau = "20 ms", eta = "0.01 {unit}", target_rate = "5 Hz", w_max = "1000 {unit}" }}"#)
}

/// Presynaptic sources spiking at `t_pre`, a LIF neuron forced to spike at `t_post` (a 30 mV
/// kick sent one step before) and plastic inhibitory synapses pre -> post: `synapse` and
/// `weight` lines, delay `delay` (a TOML value), plasticity `plasticity`.
fn pair_model(pre: &str, t_post: f64, synapse: &str, weight: &str, delay: &str, plasticity: &str) -> String {
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "200 ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
{pre}

[[sources]]
name = "kick"
kind = "spike_times"
ids = [0]
times = ["{kick} ms"]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {synapse}
weight = "{weight}"
delay = {delay}
{plasticity}

[[projections]]
pre = "kick"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "30 mV"
delay = "0.1 ms"

[monitors]
spikes = ["post"]
"#,
        kick = t_post - 0.1
    )
}

const CURRENT: &str = r#"{ model = "exp_current", tau = "5 ms" }"#;
const CONDUCTANCE: &str = r#"{ model = "exp_cond", tau = "10 ms", e_rev = "-80 mV" }"#;

/// Runs a model at `threads` threads; returns the run and the plastic weights of projection
/// `projection` in pA (currents) or nS (conductances), in (pre, post) order.
fn run_weights(text: &str, threads: usize, projection: usize) -> (RunResult, Vec<f64>, Network) {
    let mut spec = parse(text);
    spec.run.threads = threads;
    let mut net = Network::build(spec).expect("builds");
    let result = engine::run(&mut net, None);
    let w = net.plastic_weights(projection).expect("a plastic projection").into_iter().map(|s| s.2 * 1e3).collect();
    (result, w, net)
}

#[test]
fn a_pre_post_pair_changes_the_inhibitory_strength_by_the_closed_form() {
    // Pre at 100 ms meets y = 0 (-eta alpha), post at 110 ms meets x = e^(-1/2) (+eta x).
    let pre = "ids = [0]\ntimes = [\"100 ms\"]";
    let want = 0.01 * ((-0.5f64).exp() - 0.2);
    let (r, w, _) = run_weights(&pair_model(pre, 110.0, CONDUCTANCE, "1 nS", r#""0.1 ms""#, &rule("nS")), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![110.0], "the kick makes the neuron spike at 110 ms");
    assert!((w[0] - (1.0 + want)).abs() < 1e-9, "conductance: g = {} nS, expected {}", w[0], 1.0 + want);
    // A current synapse stores -g: the same change makes the weight more negative.
    let (r, w, _) = run_weights(&pair_model(pre, 110.0, CURRENT, "-1 pA", r#""0.1 ms""#, &rule("pA")), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![110.0]);
    assert!((w[0] - -(1.0 + want)).abs() < 1e-9, "current: w = {} pA, expected {}", w[0], -(1.0 + want));
    // Post first (x = 0), pre 10 ms later: eta (e^(-1/2) - alpha), the same symmetric window.
    let late = "ids = [0]\ntimes = [\"120 ms\"]";
    let (_, w, _) = run_weights(&pair_model(late, 110.0, CONDUCTANCE, "1 nS", r#""0.1 ms""#, &rule("nS")), 1, 0);
    assert!((w[0] - (1.0 + want)).abs() < 1e-9, "post-pre: g = {} nS", w[0]);
}

/// Twenty sources spiking at 100 ms onto a neuron forced to spike at 105 ms, with delays
/// drawn from 0.1-10 ms: a spike reaches its synapse `d - 1` steps after 100 ms, before the
/// post spike (y = 0, then +eta e^(-Δt/tau)) or after it (eta (e^(-Δt/tau) - alpha)).
#[test]
fn per_synapse_delays_shift_each_synapse_s_pre_spike_arrival() {
    let n = 20;
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let pre = format!("ids = [{}]\ntimes = [{}]", ids.join(", "), vec![r#""100 ms""#; n].join(", "));
    let text = pair_model(&pre, 105.0, CONDUCTANCE, "1 nS", r#"{ uniform = ["0.1 ms", "10 ms"] }"#, &rule("nS"));
    let (r, w, net) = run_weights(&text, 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![105.0]);
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let (mut before, mut after) = (0, 0);
    for (i, &g) in w.iter().enumerate() {
        let d = delays[proj.row(i as u32).start] as f64;
        let gap = 105.0 - (100.0 + (d - 1.0) * 0.1);
        let dg = if gap >= 0.0 { 0.01 * ((-gap / 20.0).exp() - 0.2) } else { 0.01 * ((gap / 20.0).exp() - 0.2) };
        if gap >= 0.0 { before += 1 } else { after += 1 }
        assert!((g - (1.0 + dg)).abs() < 1e-9, "synapse {i}, delay {d} steps: g = {g} nS, expected {}", 1.0 + dg);
    }
    assert!(before > 3 && after > 3, "{delays:?}");
}

/// `n` LIF neurons (Vogels et al.'s: 200 pF, 10 nS leak, rest and reset -60 mV, threshold
/// -50 mV, 5 ms refractory), each receiving 100 of 400 Poisson excitatory inputs at 10 Hz
/// (1 nS, 5 ms, 0 mV) and `k_inh` of 400 Poisson inhibitory inputs at 10 Hz whose synapses
/// (10 ms, -80 mV) start at `w0` and follow inhibitory STDP toward 5 Hz with rate `eta`.
fn driven_neurons(n: usize, k_inh: usize, w0: &str, eta: &str, duration: &str, delay: &str) -> String {
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "{duration}"
seed = 7

[[populations]]
name = "post"
size = {n}
model = "lif"
params = {{ c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "5 ms" }}
init = {{ v = {{ uniform = ["-60 mV", "-50 mV"] }} }}

[[sources]]
name = "exc"
kind = "poisson"
size = 400
rate = "10 Hz"

[[sources]]
name = "inh"
kind = "poisson"
size = 400
rate = "10 Hz"

[[projections]]
pre = "exc"
post = "post"
connect = {{ rule = "fixed_in_degree", k = 100 }}
synapse = {{ model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }}
weight = "1 nS"
delay = "0.1 ms"

[[projections]]
pre = "inh"
post = "post"
connect = {{ rule = "fixed_in_degree", k = {k_inh} }}
synapse = {{ model = "exp_cond", tau = "10 ms", e_rev = "-80 mV" }}
weight = "{w0}"
delay = {delay}
plasticity = {{ rule = "inhibitory_stdp", tau = "20 ms", eta = "{eta}", target_rate = "5 Hz", w_max = "20 nS" }}

[monitors]
spikes = ["post"]
"#
    )
}

/// Mean rate (Hz) of `n` neurons over [from, to) ms.
fn rate_hz(r: &RunResult, n: usize, from: f64, to: f64) -> f64 {
    let count = group_times(r, 0, 0.1).iter().filter(|&&t| t >= from && t < to).count();
    count as f64 / n as f64 / ((to - from) / 1000.0)
}

/// Forty neurons that fire at about 50 Hz without inhibition (over 20 Hz in the first 0.2 s,
/// while the inhibition grows) settle at the 5 Hz target within
/// 10 s. The rule's fixed point is rho0 for uncorrelated pre and post spikes; an inhibitory
/// spike makes its target a little less likely to fire for a while after it, which lowers
/// the potentiating term and leaves the rate slightly above rho0, the more so the stronger
/// each synapse. With 300 weak synapses per neuron the settled rate is within 5 % of the
/// target; with 100 synapses three times as strong it sits measurably higher.
#[test]
fn poisson_driven_neurons_settle_at_the_target_rate() {
    let n = 40;
    let settled = |k_inh: usize| {
        let (r, w, _) = run_weights(&driven_neurons(n, k_inh, "0 nS", "0.05 nS", "30 s", r#""0.1 ms""#), 1, 1);
        let (start, end) = (rate_hz(&r, n, 0.0, 200.0), rate_hz(&r, n, 10_000.0, 30_000.0));
        let mean_g = w.iter().sum::<f64>() / w.len() as f64;
        eprintln!("inhibitory STDP, 5 Hz target, {k_inh} inputs: {start:.1} Hz in the first 0.2 s, {end:.2} Hz over 10-30 s; mean g {mean_g:.3} nS");
        assert!(start > 20.0, "without inhibition the neurons fire far above the target: {start} Hz");
        end
    };
    let weak = settled(300);
    assert!((weak - 5.0).abs() < 0.25, "settled rate {weak} Hz, target 5 Hz");
    let strong = settled(100);
    assert!(strong > weak && strong < 6.0, "100 stronger synapses: {strong} Hz, 300 weaker: {weak} Hz");
}

#[test]
fn plastic_inhibition_does_not_depend_on_the_thread_count() {
    let text = driven_neurons(30, 100, "0.5 nS", "0.05 nS", "400 ms", r#"{ uniform = ["0.1 ms", "3 ms"] }"#);
    let (one, w_one, _) = run_weights(&text, 1, 1);
    let spikes = one.spikes[0].steps.len();
    assert!(spikes > 100, "the neurons must fire: {spikes}");
    assert!(w_one.iter().filter(|&&w| w != 0.5).count() > w_one.len() / 2, "most weights change");
    for threads in [2, 3] {
        let (r, w, _) = run_weights(&text, threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        let differing = w.iter().zip(&w_one).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "{differing} of {} weights differ with {threads} threads", w.len());
    }
}
