//! STDP in the run loop: single spike pairs give the weight changes of the specification
//! (`shared/specs/model-specs.md` §9.7: A+ = 0.01, A- = -0.0105, tau 20 ms; +10 ms gives
//! 0.01 e^-0.5, -10 ms gives -0.0105 e^-0.5), a synaptic delay shifts the pre spike's
//! arrival, and a Poisson-driven network with plastic synapses learns the same weights
//! and spikes at any thread count.

use engram::engine::{self, RunResult};
use engram::network::Network;
use engram_validation::*;

/// A presynaptic source spiking at `t_pre`, a postsynaptic LIF neuron forced to spike at
/// `t_post` (a 30 mV kick sent one step before), and one plastic synapse pre -> post of
/// initial weight `w0` (pA) and delay `delay`.
fn pair_model(t_pre: f64, t_post: f64, w0: f64, delay: f64) -> String {
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
ids = [0]
times = ["{t_pre} ms"]

[[sources]]
name = "kick"
kind = "spike_times"
ids = [0]
times = ["{kick} ms"]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {{ model = "exp_current", tau = "5 ms" }}
weight = "{w0} pA"
delay = "{delay} ms"
plasticity = {{ rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.01 pA", a_minus = "-0.0105 pA", w_max = "1000 pA" }}

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

/// Runs a model; returns the run and the plastic weights of projection `projection` in the
/// model's unit times 1000 (pA for currents, pS for conductances), in (pre, post) order.
fn run_weights(text: &str, threads: usize, projection: usize) -> (RunResult, Vec<f64>) {
    let mut spec = parse(text);
    spec.run.threads = threads;
    let mut net = Network::build(spec).expect("builds");
    let result = engine::run(&mut net, None);
    let synapses = net.plastic_weights(projection).expect("a plastic projection");
    (result, synapses.into_iter().map(|s| s.2 * 1e3).collect())
}

fn assert_same_weights(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: synapse counts differ");
    let differing = a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
    assert_eq!(differing, 0, "{what}: {differing} of {} weights differ", a.len());
}

#[test]
fn a_pre_post_pair_potentiates_by_the_spec_value() {
    let (r, w) = run_weights(&pair_model(100.0, 110.0, 0.0, 0.1), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![110.0], "the kick makes the neuron spike at 110 ms");
    assert!((w[0] - 0.006065307).abs() < 1e-9, "dw = {}", w[0]);
}

#[test]
fn a_post_pre_pair_depresses_by_the_spec_value() {
    let (r, w) = run_weights(&pair_model(110.0, 100.0, 1.0, 0.1), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![100.0]);
    assert!((w[0] - (1.0 - 0.006368572)).abs() < 1e-9, "w = {}", w[0]);
}

#[test]
fn the_delay_shifts_the_pre_spike_arrival() {
    // One step of delay is Brian2's zero delay; a 1 ms delay reaches the synapse 0.9 ms later.
    let (_, w) = run_weights(&pair_model(100.0, 110.0, 0.0, 1.0), 1, 0);
    let expected = 0.01 * (-9.1f64 / 20.0).exp();
    assert!((w[0] - expected).abs() < 1e-9, "dw = {} vs {expected}", w[0]);
}

const PLASTIC_NET: &str = r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = 21

[[populations]]
name = "exc"
size = 400
model = "lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }
init = { v = { uniform = ["-60 mV", "-50 mV"] } }

[[sources]]
name = "noise"
kind = "poisson"
size = 300
rate = "15 Hz"

[[projections]]
pre = "noise"
post = "exc"
connect = { rule = "fixed_in_degree", k = 40 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = { uniform = ["1 nS", "4 nS"] }
delay = "0.5 ms"
plasticity = { rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.1 nS", a_minus = "-0.105 nS", w_max = "6 nS" }

[[projections]]
pre = "exc"
post = "exc"
connect = { rule = "fixed_probability", p = 0.05 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = "0.5 nS"
delay = "0.1 ms"
plasticity = { rule = "stdp", tau_plus = "16.8 ms", tau_minus = "33.7 ms", a_plus = "0.02 nS", a_minus = "-0.01 nS", w_max = "2 nS", bounds = "multiplicative", interaction = "nearest" }

[monitors]
spikes = ["exc", "noise"]
"#;

#[test]
fn plastic_weights_and_spikes_do_not_depend_on_the_thread_count() {
    let (one, w_one) = run_weights(PLASTIC_NET, 1, 0);
    let (_, recurrent_one) = run_weights(PLASTIC_NET, 1, 1);
    let spikes = one.spikes[0].steps.len();
    eprintln!("plastic network: {spikes} spikes in 300 ms, {} noise synapses, {} recurrent", w_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    for threads in [2, 3] {
        let (r, w) = run_weights(PLASTIC_NET, threads, 0);
        let (_, recurrent) = run_weights(PLASTIC_NET, threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("input weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("recurrent weights, {threads} threads"));
    }
}
