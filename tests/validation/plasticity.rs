//! Plasticity in the run loop: single spike pairs give the pair-STDP weight changes of the
//! specification (`shared/specs/model-specs.md` §9.7: A+ = 0.01, A- = -0.0105, tau 20 ms;
//! +10 ms gives 0.01 e^-0.5, -10 ms gives -0.0105 e^-0.5), a synaptic delay shifts the pre
//! spike's arrival (per synapse where delays are drawn), 60 pairs at 20 Hz give the triplet-STDP changes of §9.8, a 20 Hz train
//! through Tsodyks-Markram synapses gives the efficacies of §9.9, and Poisson-driven
//! networks with plastic synapses learn the same weights and spikes at any thread count.

use engram::engine::{self, RunResult};
use engram::network::{Delays, Network};
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

/// Twenty presynaptic sources all spiking at 100 ms onto one LIF neuron forced to spike at
/// 105 ms, through pair-STDP synapses of 1 pA whose delays are drawn from 0.1-10 ms: each
/// synapse sees its own pre spike arrive `d - 1` steps after 100 ms, before the post spike
/// (potentiation by a_plus e^(-Δt/τ+)) or after it (depression by a_minus e^(-Δt/τ-)).
#[test]
fn per_synapse_delays_shift_each_synapse_s_pre_spike_arrival() {
    let n = 20;
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let times = vec![r#""100 ms""#; n].join(", ");
    let text = pair_model(100.0, 105.0, 1.0, 0.1)
        .replace("ids = [0]\ntimes = [\"100 ms\"]", &format!("ids = [{}]\ntimes = [{times}]", ids.join(", ")))
        .replace(r#"delay = "0.1 ms"
plasticity"#, r#"delay = { uniform = ["0.1 ms", "10 ms"] }
plasticity"#);
    let mut spec = parse(&text);
    spec.run.threads = 1;
    let mut net = Network::build(spec).expect("builds");
    let result = engine::run(&mut net, None);
    assert_eq!(group_times(&result, 0, 0.1), vec![105.0], "the kick makes the neuron spike at 105 ms");
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let w = net.plastic_weights(0).expect("a plastic projection");
    assert_eq!(w.len(), n);
    let (mut potentiated, mut depressed) = (0, 0);
    for (i, &(pre, _, w)) in w.iter().enumerate() {
        assert_eq!(pre as usize, i);
        let d = delays[proj.row(pre).start] as f64;
        let gap = 105.0 - (100.0 + (d - 1.0) * 0.1);
        let dw = if gap >= 0.0 { 0.01 * (-gap / 20.0).exp() } else { -0.0105 * (gap / 20.0).exp() };
        if gap >= 0.0 { potentiated += 1 } else { depressed += 1 }
        assert!((w * 1e3 - (1.0 + dw)).abs() < 1e-9, "synapse {i}, delay {d} steps: w = {} pA, expected {}", w * 1e3, 1.0 + dw);
    }
    let mut distinct: Vec<u16> = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    eprintln!("per-synapse delays: {} distinct of {n}, {potentiated} potentiated, {depressed} depressed", distinct.len());
    assert!(distinct.len() > 10 && potentiated > 3 && depressed > 3, "{delays:?}");
}

/// 400 LIF neurons driven by 300 Poisson inputs, with recurrent excitation: `input` is the
/// plasticity line of the input projection (projection 0), `recurrent` the weight, delay and
/// plasticity lines of the recurrent one (projection 1).
fn poisson_net(seed: u64, input: &str, recurrent: &str) -> String {
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = {seed}

[[populations]]
name = "exc"
size = 400
model = "lif"
params = {{ c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }}
init = {{ v = {{ uniform = ["-60 mV", "-50 mV"] }} }}

[[sources]]
name = "noise"
kind = "poisson"
size = 300
rate = "15 Hz"

[[projections]]
pre = "noise"
post = "exc"
connect = {{ rule = "fixed_in_degree", k = 40 }}
synapse = {{ model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }}
weight = {{ uniform = ["1 nS", "4 nS"] }}
delay = "0.5 ms"
{input}

[[projections]]
pre = "exc"
post = "exc"
connect = {{ rule = "fixed_probability", p = 0.05 }}
synapse = {{ model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }}
{recurrent}

[monitors]
spikes = ["exc", "noise"]
"#
    )
}

/// Pair STDP on both projections: all-to-all with additive bounds on the inputs, nearest
/// spikes with multiplicative bounds on the recurrent synapses.
fn plastic_net() -> String {
    let input = r#"plasticity = { rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.1 nS", a_minus = "-0.105 nS", w_max = "6 nS" }"#;
    let recurrent = r#"weight = "0.5 nS"
delay = "0.1 ms"
plasticity = { rule = "stdp", tau_plus = "16.8 ms", tau_minus = "33.7 ms", a_plus = "0.02 nS", a_minus = "-0.01 nS", w_max = "2 nS", bounds = "multiplicative", interaction = "nearest" }"#;
    poisson_net(21, input, recurrent)
}

#[test]
fn plastic_weights_and_spikes_do_not_depend_on_the_thread_count() {
    let (one, w_one) = run_weights(&plastic_net(), 1, 0);
    let (_, recurrent_one) = run_weights(&plastic_net(), 1, 1);
    let spikes = one.spikes[0].steps.len();
    eprintln!("plastic network: {spikes} spikes in 300 ms, {} noise synapses, {} recurrent", w_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    for threads in [2, 3] {
        let (r, w) = run_weights(&plastic_net(), threads, 0);
        let (_, recurrent) = run_weights(&plastic_net(), threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("input weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("recurrent weights, {threads} threads"));
    }
}

#[test]
fn plastic_weights_with_per_synapse_delays_do_not_depend_on_the_thread_count() {
    let text = plastic_net()
        .replace(r#"delay = "0.5 ms""#, r#"delay = { uniform = ["0.1 ms", "3 ms"] }"#)
        .replace(r#"delay = "0.1 ms""#, r#"delay = { uniform = ["0.1 ms", "2 ms"] }"#);
    let (one, input_one) = run_weights(&text, 1, 0);
    let (_, recurrent_one) = run_weights(&text, 1, 1);
    let spikes = one.spikes[0].steps.len();
    eprintln!("per-synapse delays: {spikes} spikes in 300 ms, {} input synapses, {} recurrent", input_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = input_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > input_one.len() / 2, "most input weights change ({changed} of {})", input_one.len());
    assert!(recurrent_one.iter().any(|&w| w != 500.0), "recurrent weights change");
    for threads in [2, 3] {
        let (r, input) = run_weights(&text, threads, 0);
        let (_, recurrent) = run_weights(&text, threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&input, &input_one, &format!("input weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("recurrent weights, {threads} threads"));
    }
}

/// `n` pre/post pairs at `rate_hz` with t_post - t_pre = `dt_ms` through one triplet-STDP
/// synapse (the spec's visual-cortex parameters in pA, no bounds) of initial weight `w0` pA;
/// each post spike is forced by a 30 mV kick sent one step before.
fn triplet_pairs_model(n: usize, rate_hz: f64, dt_ms: f64, w0: f64) -> String {
    let period = 1000.0 / rate_hz;
    let t_pre: Vec<f64> = (0..n).map(|k| 100.0 + k as f64 * period).collect();
    let list = |times: &mut dyn Iterator<Item = f64>| times.map(|t| format!("\"{t:.1} ms\"")).collect::<Vec<_>>().join(", ");
    let pre_times = list(&mut t_pre.iter().copied());
    let kick_times = list(&mut t_pre.iter().map(|t| t + dt_ms - 0.1));
    let duration = t_pre[n - 1] + 200.0;
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "{duration} ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [{ids}]
times = [{pre_times}]

[[sources]]
name = "kick"
kind = "spike_times"
ids = [{ids}]
times = [{kick_times}]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {{ model = "exp_current", tau = "5 ms" }}
weight = "{w0} pA"
delay = "0.1 ms"
plasticity = {{ rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "5e-10 pA", a3_plus = "6.2e-3 pA", a2_minus = "7e-3 pA", a3_minus = "2.3e-4 pA" }}

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
        ids = vec!["0"; n].join(", "),
    )
}

#[test]
fn sixty_triplet_pairs_at_20_hz_reproduce_the_spec_table() {
    for (dt_ms, w0, want) in [(10.0, 0.0, 0.2469620), (-10.0, 1.0, -0.3516221)] {
        let (r, w) = run_weights(&triplet_pairs_model(60, 20.0, dt_ms, w0), 1, 0);
        let post = group_times(&r, 0, 0.1);
        assert_eq!(post.len(), 60, "Δt = {dt_ms} ms: every kick makes the neuron spike");
        assert!((post[0] - (100.0 + dt_ms)).abs() < 1e-9 && (post[59] - (100.0 + 59.0 * 50.0 + dt_ms)).abs() < 1e-9, "{post:?}");
        let dw = w[0] - w0;
        assert!((dw - want).abs() <= 1e-6 * want.abs(), "Δt = {dt_ms} ms: Δw = {dw} vs {want}");
    }
}

/// A neuron at rest at 0 mV, far below threshold, receiving a 20 Hz train (20 spikes from
/// 10 ms) through a 1 mV delta synapse with Tsodyks-Markram plasticity `stp`; its voltage
/// is recorded every step.
fn tsodyks_model(stp: &str, delay: &str) -> String {
    let times: Vec<String> = (0..20).map(|k| format!("\"{} ms\"", 10 + 50 * k)).collect();
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "1020 ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "0 mV", v_th = "50 mV", v_reset = "0 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [{ids}]
times = [{times}]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "1 mV"
delay = "{delay}"
plasticity = {stp}

[monitors]
state = [{{ population = "post", variables = ["v"], neurons = [0], every = "0.1 ms" }}]
"#,
        ids = vec!["0"; 20].join(", "),
        times = times.join(", "),
    )
}

/// The voltage jumps (mV) of the neuron of [`tsodyks_model`]: with e_l = 0 a step takes v to
/// (v + jump) e^(-dt/tau_m), so each step's jump is v_next e^(dt/tau_m) - v.
fn voltage_jumps(text: &str) -> Vec<f64> {
    let r = run_spec(parse(text));
    let v = &r.states[0].values[0];
    let growth = (0.1f64 / 10.0).exp();
    v.windows(2).map(|p| p[1] * growth - p[0]).filter(|&jump| jump.abs() > 1e-3).collect()
}

#[test]
fn tsodyks_markram_synapses_transmit_the_spec_efficacies() {
    let depressing = r#"{ rule = "tsodyks_markram", u = 0.5, tau_rec = "800 ms", tau_fac = "0 ms" }"#;
    let facilitating = r#"{ rule = "tsodyks_markram", u = 0.03, tau_rec = "130 ms", tau_fac = "530 ms" }"#;
    let tables = [
        (depressing, [0.5, 0.265147, 0.154835, 0.103020, 0.078683, 0.057126]),
        (facilitating, [0.03, 0.055327, 0.075736, 0.091777, 0.104279, 0.157973]),
    ];
    for (stp, table) in tables {
        for delay in ["0.1 ms", "2.5 ms"] {
            let jumps = voltage_jumps(&tsodyks_model(stp, delay));
            assert_eq!(jumps.len(), 20, "{stp}, delay {delay}: one jump per spike: {jumps:?}");
            for (&spike, want) in [1, 2, 3, 4, 5, 20].iter().zip(table) {
                let got = jumps[spike - 1];
                // The table is printed to 6 decimals.
                assert!((got - want).abs() <= 1e-6, "{stp}, delay {delay}, spike {spike}: u x = {got} vs {want}");
            }
        }
    }
}

/// Triplet STDP on the input synapses; the recurrent ones (heterogeneous delays) take the
/// plasticity line `stp` (empty: static).
fn triplet_stp_net(stp: &str) -> String {
    let input = r#"plasticity = { rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "0.05 nS", a3_plus = "0.05 nS", a2_minus = "0.07 nS", a3_minus = "0.002 nS", w_max = "6 nS" }"#;
    let recurrent = format!("weight = \"1.5 nS\"\ndelay = {{ uniform = [\"0.1 ms\", \"3 ms\"] }}\n{stp}");
    poisson_net(5, input, &recurrent)
}

#[test]
fn triplet_and_short_term_plasticity_do_not_depend_on_the_thread_count() {
    let stp = r#"plasticity = { rule = "tsodyks_markram", u = 0.5, tau_rec = "800 ms" }"#;
    let text = triplet_stp_net(stp);
    let (one, w_one) = run_weights(&text, 1, 0);
    let spikes = one.spikes[0].steps.len();
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    let (static_recurrent, _) = run_weights(&triplet_stp_net(""), 1, 0);
    let static_spikes = static_recurrent.spikes[0].steps.len();
    eprintln!("triplet + STP network: {spikes} spikes in 300 ms ({static_spikes} with static recurrent synapses)");
    assert!(spikes < static_spikes, "depressing recurrent synapses must lower the activity: {spikes} vs {static_spikes}");
    for threads in [2, 3] {
        let (r, w) = run_weights(&text, threads, 0);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("triplet weights, {threads} threads"));
    }
}
